r"""Training a CycleGAN: unpaired translation between two image domains.

Two generators, :math:`G: X \to Y` and :math:`F: Y \to X`, and two discriminators,
:math:`D_Y` (real :math:`y` against :math:`G(x)`) and :math:`D_X` (real :math:`x` against
:math:`F(y)`), learn from a set of :math:`x`\ s and a set of :math:`y`\ s with no pairing
between them (Zhu et al., 2017). The adversarial terms alone would let :math:`G` map every
:math:`x` to any convincing :math:`y`; the cycle-consistency term asks that translating there
and back returns the input, so the translation must keep what identifies the input:

.. math::
    \mathcal L(G, F) &= \mathcal L_{adv}(G, D_Y) + \mathcal L_{adv}(F, D_X)
        + \lambda_{cyc}\big(\lVert F(G(x)) - x\rVert_1 + \lVert G(F(y)) - y\rVert_1\big)
        + \lambda_{id}\big(\lVert G(y) - y\rVert_1 + \lVert F(x) - x\rVert_1\big)

The adversarial loss is the least-squares GAN loss (Mao et al., 2017) the CycleGAN paper
trains with: a discriminator scores each image, :math:`\mathcal L_{adv}(G, D_Y) =
\mathbb E_x[(D_Y(G(x)) - 1)^2]` for the generator and
:math:`\tfrac12\big(\mathbb E_y[(D_Y(y) - 1)^2] + \mathbb E_x[D_Y(G(x))^2]\big)` for the
discriminator (the paper's halving). The identity term (weight :math:`\lambda_{id} =
\lambda_{cyc}/2` in the paper's code) asks each generator to leave an image that is already in
its target domain alone, which keeps colours and overall intensity. Every
:math:`\lVert\cdot\rVert_1` here is the mean absolute difference per pixel over the batch, as
in the paper's code (``L1Loss``). The paper's pool of 50 past fakes for the discriminators and
its learning-rate decay are left out.

:func:`cycle_losses` computes the generators' objective and its terms from the formula;
:func:`discriminator_losses` the two least-squares discriminator losses; :func:`train_cyclegan`
alternates one update of both generators (one Adam) and one of both discriminators (another).

Notes: N7 (CycleGAN: adversarial, cycle-consistency and identity terms), N1 (alternating
generator and discriminator updates).
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.optim import Adam
from deepnotes.tasks.gan import _batches

__all__ = ["CycleGANResult", "cycle_losses", "discriminator_losses", "lsgan_discriminator_loss",
           "lsgan_generator_loss", "train_cyclegan"]

Net = Callable[[Tensor], Tensor]


def lsgan_generator_loss(fake_scores: Tensor) -> Tensor:
    r"""The least-squares generator loss :math:`\mathbb E[(D(G(x)) - 1)^2]`: push the scores
    of translated images to the "real" target 1.

    Example:
        >>> lsgan_generator_loss(torch.tensor([0.0, 1.0, 3.0]))  # (1 + 0 + 4) / 3
        tensor(1.6667)

    Notes: N7.
    """
    return ((fake_scores - 1) ** 2).mean()


def lsgan_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""The least-squares discriminator loss
    :math:`\tfrac12\big(\mathbb E[(D(y) - 1)^2] + \mathbb E[D(G(x))^2]\big)`: real images to
    1, translated ones to 0.

    Example:
        >>> lsgan_discriminator_loss(torch.tensor([1.0, 0.0]), torch.tensor([2.0]))
        tensor(2.2500)

    Notes: N7.
    """
    return 0.5 * (((real_scores - 1) ** 2).mean() + (fake_scores ** 2).mean())


def _l1(a: Tensor, b: Tensor) -> Tensor:
    # ‖a − b‖₁ as a mean per pixel over the batch
    return (a - b).abs().mean()


def cycle_losses(G: Net, F: Net, D_x: Net, D_y: Net, x: Tensor, y: Tensor, *,
                 lambda_cycle: float = 10.0, lambda_identity: float = 5.0) -> dict[str, Tensor]:
    r"""The generators' objective on one batch of each domain, with its terms.

    .. math::
        \mathcal L = \underbrace{\mathbb E[(D_Y(G(x)) - 1)^2]}_{\texttt{adv\_g}}
            + \underbrace{\mathbb E[(D_X(F(y)) - 1)^2]}_{\texttt{adv\_f}}
            + \lambda_{cyc}\underbrace{\big(\lVert F(G(x)) - x\rVert_1
                + \lVert G(F(y)) - y\rVert_1\big)}_{\texttt{cycle}}
            + \lambda_{id}\underbrace{\big(\lVert G(y) - y\rVert_1
                + \lVert F(x) - x\rVert_1\big)}_{\texttt{identity}}

    (:math:`\lVert\cdot\rVert_1`: mean absolute difference per pixel; ``lambda_identity = 0``
    skips the two identity passes).

    Args:
        G: :math:`X \to Y`; F: :math:`Y \to X`; D_x, D_y: one score per image of X, of Y.
        x: a batch of domain X, ``(N, ...)``; y: a batch of domain Y (its own size, unpaired).
        lambda_cycle: :math:`\lambda_{cyc}`. Default 10 (the paper).
        lambda_identity: :math:`\lambda_{id}`. Default 5 (the paper's code: half of 10).

    Returns:
        ``total`` (the objective, to backpropagate), ``adv_g``, ``adv_f``, ``cycle``,
        ``identity`` (the unweighted sums) and the translations ``fake_y`` = G(x) and
        ``fake_x`` = F(y) for the discriminators' update.

    Example:
        >>> ident = lambda t: t
        >>> out = cycle_losses(ident, ident, lambda t: t.flatten(1).mean(1),
        ...                    lambda t: t.flatten(1).mean(1), torch.ones(2, 3), torch.ones(1, 3))
        >>> float(out["total"]), float(out["cycle"])  # D says 1 (real) and F∘G = identity
        (0.0, 0.0)

    Notes: N7.
    """
    if lambda_cycle < 0 or lambda_identity < 0:
        raise ConfigError(f"lambda_cycle and lambda_identity must be >= 0, got {lambda_cycle} "
                          f"and {lambda_identity}")
    if x.shape[1:] != y.shape[1:]:
        raise ShapeError(f"the two domains need images of one shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    fake_y = G(x)  # G(x): X → Y
    fake_x = F(y)  # F(y): Y → X
    # adversarial (least squares): D_Y(G(x)) → 1, D_X(F(y)) → 1
    adv_g = lsgan_generator_loss(D_y(fake_y))
    adv_f = lsgan_generator_loss(D_x(fake_x))
    # cycle consistency: ‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁
    cycle = _l1(F(fake_y), x) + _l1(G(fake_x), y)
    total = adv_g + adv_f + lambda_cycle * cycle
    identity = torch.zeros((), dtype=x.dtype, device=x.device)
    if lambda_identity:
        # identity: ‖G(y) − y‖₁ + ‖F(x) − x‖₁
        identity = _l1(G(y), y) + _l1(F(x), x)
        total = total + lambda_identity * identity
    return {"total": total, "adv_g": adv_g, "adv_f": adv_f, "cycle": cycle,
            "identity": identity, "fake_y": fake_y, "fake_x": fake_x}


def discriminator_losses(D_x: Net, D_y: Net, x: Tensor, y: Tensor, fake_x: Tensor,
                         fake_y: Tensor) -> dict[str, Tensor]:
    r"""Both discriminators' least-squares losses; the translations are detached.

    .. math::
        L_{D_Y} = \tfrac12\big(\mathbb E[(D_Y(y) - 1)^2] + \mathbb E[D_Y(G(x))^2]\big),\qquad
        L_{D_X} = \tfrac12\big(\mathbb E[(D_X(x) - 1)^2] + \mathbb E[D_X(F(y))^2]\big)

    Returns ``d_x``, ``d_y`` and their sum ``total``.

    Notes: N7.
    """
    d_y = lsgan_discriminator_loss(D_y(y), D_y(fake_y.detach()))
    d_x = lsgan_discriminator_loss(D_x(x), D_x(fake_x.detach()))
    return {"total": d_x + d_y, "d_x": d_x, "d_y": d_y}


@dataclass
class CycleGANResult:
    """What :func:`train_cyclegan` returns: ``history`` rows every ``log_every`` updates
    (means since the last row), the training time and the number of updates."""

    history: list[dict[str, float]]
    seconds: float
    updates: int


def train_cyclegan(G: nn.Module, F: nn.Module, D_x: nn.Module, D_y: nn.Module, xs: Tensor,
                   ys: Tensor, *, updates: int = 1000, batch_size: int = 32, lr: float = 2e-4,
                   betas: tuple[float, float] = (0.5, 0.999), lambda_cycle: float = 10.0,
                   lambda_identity: float = 5.0, seed: int = 0, log_every: int = 50,
                   progress: bool | None = None, device: str | torch.device = "cpu"
                   ) -> CycleGANResult:
    r"""Train a CycleGAN on the unpaired sets ``xs`` (domain X) and ``ys`` (domain Y).

    Each update draws a batch of each domain (two independent shuffles from ``seed``), takes
    one Adam step of both generators on :func:`cycle_losses`, then one Adam step of both
    discriminators on :func:`discriminator_losses` against the translations just made (the
    paper's order). The batches come from the run's own generators, so the same ``seed`` and
    the same initial weights give the same history.

    Args:
        G, F: generators :math:`X \to Y` and :math:`Y \to X`.
        D_x, D_y: discriminators of X and Y (one score per image; per-sample, no batch norm
            needed: the least-squares loss scores each image alone).
        xs, ys: ``(N_x, ...)`` and ``(N_y, ...)`` images, in the generators' range.
        updates: generator (and discriminator) updates.
        batch_size: images of each domain per update.
        lr, betas: Adam's, for all four networks. Default 2e-4, (0.5, 0.999) (the paper).
        lambda_cycle, lambda_identity: weights of the cycle and identity terms.
        seed: seeds the batch order. log_every: updates per history row.
        progress: a progress bar (None: only on a terminal). device: where to train.

    Returns:
        :class:`CycleGANResult`; history columns ``update``, ``seconds``, ``g_loss`` (the
        total), ``adv_g``, ``adv_f``, ``cycle``, ``identity``, ``d_x``, ``d_y``.

    Notes: N7, N1.
    """
    for name, value, ok, rule in (("updates", updates, updates >= 1, ">= 1"),
                                  ("log_every", log_every, log_every >= 1, ">= 1"),
                                  ("batch_size", batch_size, batch_size >= 1, ">= 1"),
                                  ("lr", lr, lr > 0, "> 0")):
        if not ok:
            raise ConfigError(f"train_cyclegan: {name} must be {rule}, got {value!r}")
    if not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"train_cyclegan: betas must lie in [0, 1), got {betas}")
    if xs.shape[1:] != ys.shape[1:]:
        raise ShapeError(f"the two domains need images of one shape, got {tuple(xs.shape)} "
                         f"and {tuple(ys.shape)}")
    device = torch.device(device)
    for net in (G, F, D_x, D_y):
        net.to(device).train()
    opt_g = Adam(itertools.chain(G.parameters(), F.parameters()), lr=lr, betas=betas)
    opt_d = Adam(itertools.chain(D_x.parameters(), D_y.parameters()), lr=lr, betas=betas)
    # unpaired: each domain has its own shuffle
    next_x = _batches(xs, None, batch_size, torch.Generator().manual_seed(seed + 1), device)
    next_y = _batches(ys, None, batch_size, torch.Generator().manual_seed(seed + 2), device)
    bar = None
    if sys.stderr.isatty() if progress is None else progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=updates, desc="cyclegan", unit="update", dynamic_ncols=True)
    history: list[dict[str, float]] = []
    sums: dict[str, float] = {}
    count, seconds = 0, 0.0
    for update in range(1, updates + 1):
        t0 = time.perf_counter()
        x, y = next_x()[0], next_y()[0]
        # fix the discriminators, train both generators
        g = cycle_losses(G, F, D_x, D_y, x, y, lambda_cycle=lambda_cycle,
                         lambda_identity=lambda_identity)
        opt_g.zero_grad(set_to_none=True)
        g["total"].backward()
        opt_g.step()
        # fix the generators, train both discriminators on the translations just made
        d = discriminator_losses(D_x, D_y, x, y, g["fake_x"], g["fake_y"])
        opt_d.zero_grad(set_to_none=True)
        d["total"].backward()
        opt_d.step()
        seconds += time.perf_counter() - t0
        row = {"g_loss": float(g["total"].detach()),
               **{k: float(g[k].detach()) for k in ("adv_g", "adv_f", "cycle", "identity")},
               "d_x": float(d["d_x"].detach()), "d_y": float(d["d_y"].detach())}
        if not all(math.isfinite(v) for v in row.values()):
            raise ConfigError(f"cyclegan: a loss became non-finite at update {update} ({row}); "
                              f"lower the learning rate")
        for k, v in row.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        if update % log_every == 0 or update == updates:
            history.append({"update": update, "seconds": seconds,
                            **{k: v / count for k, v in sums.items()}})
            if bar is not None:
                bar.set_postfix(cyc=f"{history[-1]['cycle']:.3f}",
                                d=f"{history[-1]['d_y']:.3f}")
            sums, count = {}, 0
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    for net in (G, F, D_x, D_y):
        net.eval()
    return CycleGANResult(history, seconds, updates)
