r"""Training a GAN: alternate discriminator (critic) and generator updates.

One generator update follows ``n_critic`` discriminator updates (N1: fix G and train D to
label real 1 and generated 0, then fix D and train G to fool it). The methods differ in the
loss and in how the discriminator is kept in check:

=========  ==========================================  ===============================
method     losses                                      constraint, optimiser (defaults)
=========  ==========================================  ===============================
gan        :math:`L_D = -V`, non-saturating :math:`L_G`  Adam 2e-4, β = (0.5, 0.999)
minimax    :math:`L_D = -V`, :math:`L_G = E\log(1-D)`    as gan
wgan       critic :math:`E f(G(z)) - E f(x)`            clip weights to ±0.01, RMSProp 5e-5,
                                                        5 critic steps
wgan-gp    critic loss + 10·GP                          Adam 1e-4, β = (0, 0.9), 5 steps
sngan      as gan                                       spectral norm in D, Adam 2e-4
=========  ==========================================  ===============================

(the defaults of the DCGAN, WGAN, WGAN-GP and SNGAN papers). A conditional pair reads labels:
the generator draws them uniformly, and with ``wrong_label_weight > 0`` (GAN losses only) the
discriminator also learns to reject real images paired with a wrong label (N6).

:func:`gan_step` is one generator update with its critic updates; :func:`train_gan` loops it
with logging, a progress bar and a callback (sample grids, FID) every ``eval_every`` updates.

Notes: N1, N2, N3, N4, N6.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import gan as G
from deepnotes.functional.losses import binary_cross_entropy_with_logits as bce_logits
from deepnotes.models.gan import sample_noise
from deepnotes.nn import BatchNorm1d, BatchNorm2d
from deepnotes.optim import Adam, RMSprop

__all__ = ["METHODS", "GANResult", "GANState", "fit_discriminator", "gan_step", "make_state",
           "train_gan"]

#: method -> (lr_g, lr_d, betas or None for RMSProp, n_critic)
METHODS: dict[str, tuple[float, float, tuple[float, float] | None, int]] = {
    "gan": (2e-4, 2e-4, (0.5, 0.999), 1),
    "minimax": (2e-4, 2e-4, (0.5, 0.999), 1),
    "wgan": (5e-5, 5e-5, None, 5),
    "wgan-gp": (1e-4, 1e-4, (0.0, 0.9), 5),
    "sngan": (2e-4, 2e-4, (0.5, 0.999), 1),
}


@dataclass
class GANState:
    """The two networks, their optimisers and the settings :func:`gan_step` needs."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    method: str
    n_critic: int
    latent_dim: int
    num_classes: int = 0
    clip: float = 0.01
    gp_weight: float = 10.0
    wrong_label_weight: float = 0.0
    rng: torch.Generator = field(default_factory=torch.Generator)
    #: draws the wrong labels only, so adding the negatives changes no other random draw
    aux_rng: torch.Generator = field(default_factory=torch.Generator)


@dataclass
class GANResult:
    """What :func:`train_gan` returns: ``history`` rows every ``log_every`` updates (means
    since the last row), and the callback's rows."""

    history: list[dict[str, float]]
    evaluations: list[dict[str, Any]]
    seconds: float
    updates: int


def make_state(generator: nn.Module, discriminator: nn.Module, *, method: str = "gan",
               lr_g: float | None = None, lr_d: float | None = None,
               betas: tuple[float, float] | None = None, n_critic: int | None = None,
               clip: float = 0.01, gp_weight: float = 10.0, wrong_label_weight: float = 0.0,
               seed: int = 0) -> GANState:
    """The optimisers and settings of ``method`` (see the module's table); any argument given
    replaces the method's default."""
    if method not in METHODS:
        raise ConfigError(f"GAN method must be one of {', '.join(METHODS)}, got {method!r}")
    for name, value, ok, rule in (
            ("n_critic", n_critic, n_critic is None or n_critic >= 1, ">= 1"),
            ("clip", clip, clip > 0, "> 0"), ("gp_weight", gp_weight, gp_weight >= 0, ">= 0"),
            ("wrong_label_weight", wrong_label_weight, wrong_label_weight >= 0, ">= 0")):
        if not ok:
            raise ConfigError(f"{name} must be {rule}, got {value!r}")
    if method in ("wgan-gp", "sngan") and any(
            isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, BatchNorm1d, BatchNorm2d))
            for m in discriminator.modules()):
        what = "gradient penalty" if method == "wgan-gp" else "Lipschitz bound"
        raise ConfigError(f"method {method} needs a discriminator without batch norm (it mixes "
                          f"the samples the {what} treats one by one): build it with "
                          f"norm='layer' or norm='none'")
    d_lr_g, d_lr_d, d_betas, d_n = METHODS[method]
    lr_g, lr_d = lr_g or d_lr_g, lr_d or d_lr_d
    n_critic = n_critic or d_n
    if method == "sngan" and not any("parametrizations" in n
                                     for n, _ in discriminator.named_modules()):
        raise ConfigError("method sngan needs a discriminator built with spectral_norm=True")
    if wrong_label_weight and method.startswith("wgan"):
        raise ConfigError("wrong_label_weight is for the GAN losses (gan, minimax, sngan)")
    if d_betas is None and betas is None:
        opt_g = RMSprop(generator.parameters(), lr=lr_g)
        opt_d = RMSprop(discriminator.parameters(), lr=lr_d)
    else:
        b = tuple(betas or d_betas)  # type: ignore[arg-type]
        opt_g = Adam(generator.parameters(), lr=lr_g, betas=b)
        opt_d = Adam(discriminator.parameters(), lr=lr_d, betas=b)
    gcfg = getattr(generator, "config", None)
    latent = getattr(gcfg, "latent_dim", None)
    if latent is None:
        raise ConfigError("the generator needs a config with latent_dim (build it with "
                          "deepnotes.models.create)")
    rng = torch.Generator().manual_seed(seed)
    aux = torch.Generator().manual_seed(seed + 2)
    classes = int(getattr(gcfg, "num_classes", 0))
    if wrong_label_weight and classes < 2:
        raise ConfigError(f"wrong_label_weight {wrong_label_weight} needs a conditional pair "
                          f"with at least 2 classes (num_classes = {classes})")
    return GANState(generator, discriminator, opt_g, opt_d, method, int(n_critic), int(latent),
                    classes, clip, gp_weight, wrong_label_weight, rng, aux)


def _labels(y: Tensor | None) -> tuple[Tensor, ...]:
    return () if y is None else (y,)


def gan_step(state: GANState, real_batches: Callable[[], tuple[Tensor, Tensor | None]]
             ) -> dict[str, float]:
    """``n_critic`` discriminator updates on fresh real batches, then one generator update.

    ``real_batches()`` returns ``(images, labels or None)`` on the models' device. Returns the
    last critic step's losses, its estimate (``js`` for the GAN losses, ``wasserstein`` for
    the critics), the mean scores on real and generated samples and the generator's gradient
    norm.
    """
    s = state
    gen, disc = s.generator, s.discriminator
    wgan = s.method.startswith("wgan")
    gen.train(), disc.train()
    out: dict[str, float] = {}
    for _ in range(s.n_critic):
        x, y = real_batches()
        if (y is None) != (s.num_classes == 0):
            raise ShapeError("a conditional GAN needs labels with its data, an unconditional "
                             "one none")
        n, device = x.shape[0], x.device
        z = sample_noise(n, s.latent_dim, s.rng, device)
        # a conditional critic's gradient penalty scores interpolates under one label: its
        # fakes take the real batch's labels; the GAN losses draw labels uniformly
        y_fake = (None if y is None else y if wgan else
                  torch.randint(0, s.num_classes, (n,), generator=s.rng).to(device))
        with torch.no_grad():
            fake = gen(z, *_labels(y_fake))
        # fix G, train D: real → 1, generated → 0 (or the critic's difference)
        real_s = disc(x, *_labels(y))
        fake_s = disc(fake, *_labels(y_fake))
        if wgan:
            loss_d = G.critic_loss(real_s, fake_s)
            if s.method == "wgan-gp":
                loss_d = loss_d + s.gp_weight * G.gradient_penalty(disc, x, fake, *_labels(y),
                                                                   generator=s.rng)
            estimate = ("wasserstein", G.wasserstein_estimate(real_s, fake_s))
        else:
            loss_d = G.discriminator_loss(real_s, fake_s)
            if s.wrong_label_weight and y is not None:
                # real images with a wrong label are negatives too (N6)
                shift = torch.randint(1, s.num_classes, (n,), generator=s.aux_rng).to(device)
                wrong = disc(x, (y + shift) % s.num_classes)
                loss_d = loss_d + s.wrong_label_weight * bce_logits(
                    wrong, torch.zeros_like(wrong))
            estimate = ("js", G.js_estimate(real_s, fake_s))
        s.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        s.opt_d.step()
        if s.method == "wgan":
            G.clip_weights_(disc, s.clip)
        out.update(d_loss=float(loss_d.detach()), real_score=float(real_s.detach().mean()),
                   fake_score=float(fake_s.detach().mean()))
        out[estimate[0]] = float(estimate[1].detach())
    # fix D, train G: make D call the samples real
    n = x.shape[0]
    z = sample_noise(n, s.latent_dim, s.rng, x.device)
    y_fake = (None if not s.num_classes else
              torch.randint(0, s.num_classes, (n,), generator=s.rng).to(x.device))
    fake_s = disc(gen(z, *_labels(y_fake)), *_labels(y_fake))
    if wgan:
        loss_g = -fake_s.mean()
    else:
        loss_g = G.generator_loss(fake_s, "minimax" if s.method == "minimax" else
                                  "non-saturating")
    s.opt_g.zero_grad(set_to_none=True)
    disc.zero_grad(set_to_none=True)
    loss_g.backward()
    grads = [p.grad.detach().flatten() for p in gen.parameters() if p.grad is not None]
    out["g_grad_norm"] = float(torch.cat(grads).norm()) if grads else 0.0
    s.opt_g.step()
    out["g_loss"] = float(loss_g.detach())
    return out


def _batches(x: Tensor, y: Tensor | None, batch_size: int, rng: torch.Generator,
             device: torch.device) -> Callable[[], tuple[Tensor, Tensor | None]]:
    """Endless minibatches of a fresh permutation each epoch."""
    if batch_size > len(x):
        raise ConfigError(f"batch_size {batch_size} is larger than the {len(x)} samples")
    order: list[Tensor] = []

    def next_batch() -> tuple[Tensor, Tensor | None]:
        if not order:
            perm = torch.randperm(len(x), generator=rng)
            order.extend(perm[i:i + batch_size] for i in range(0, len(x) - batch_size + 1,
                                                                 batch_size))
        idx = order.pop(0)
        return x[idx].to(device), (None if y is None else y[idx].to(device))

    return next_batch


def train_gan(generator: nn.Module, discriminator: nn.Module, data: Tensor,
              labels: Tensor | None = None, *, method: str = "gan", updates: int = 1000,
              batch_size: int = 64, lr_g: float | None = None, lr_d: float | None = None,
              betas: tuple[float, float] | None = None, n_critic: int | None = None,
              clip: float = 0.01, gp_weight: float = 10.0, wrong_label_weight: float = 0.0,
              seed: int = 0, device: str | torch.device = "cpu", log_every: int = 50,
              eval_every: int = 0, callback: Callable[[int], dict[str, Any] | None] | None = None,
              progress: bool | None = None, max_seconds: float | None = None) -> GANResult:
    """Train ``generator`` and ``discriminator`` on ``data`` (``(N, ...)``, with ``labels``
    ``(N,)`` for a conditional pair) for ``updates`` generator updates (or until
    ``max_seconds`` of training, for equal-time comparisons).

    ``callback(update)`` runs every ``eval_every`` updates and at the end (its time is not
    counted in ``seconds``); its dict is kept in ``evaluations``. A non-finite loss stops
    training with an error naming the update.
    """
    for name, value, ok, rule in (
            ("updates", updates, updates >= 1, ">= 1"),
            ("log_every", log_every, log_every >= 1, ">= 1"),
            ("eval_every", eval_every, eval_every >= 0, ">= 0 (0: only at the end)"),
            ("max_seconds", max_seconds, max_seconds is None or max_seconds >= 0,
             ">= 0 or None")):
        if not ok:
            raise ConfigError(f"train_gan: {name} must be {rule}, got {value!r}")
    if labels is not None and (labels.shape != (len(data),) or labels.is_floating_point()):
        raise ShapeError(f"labels must be class indices (N={len(data)},) of an integer type, "
                         f"got {labels.dtype} {tuple(labels.shape)}")
    state = make_state(generator, discriminator, method=method, lr_g=lr_g, lr_d=lr_d,
                       betas=betas, n_critic=n_critic, clip=clip, gp_weight=gp_weight,
                       wrong_label_weight=wrong_label_weight, seed=seed)
    device = torch.device(device)
    generator.to(device), discriminator.to(device)
    batches = _batches(data, labels, batch_size, torch.Generator().manual_seed(seed + 1), device)
    bar = None
    if (sys.stderr.isatty() if progress is None else progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=updates, desc=method, unit="update", dynamic_ncols=True)
    history: list[dict[str, float]] = []
    evaluations: list[dict[str, Any]] = []
    sums: dict[str, float] = {}
    count, seconds, done = 0, 0.0, 0
    for update in range(1, updates + 1):
        t0 = time.perf_counter()
        row = gan_step(state, batches)
        seconds += time.perf_counter() - t0
        done = update
        if not all(math.isfinite(v) for v in row.values()):
            raise ConfigError(f"{method}: a loss became non-finite at update {update} ({row}); "
                              f"lower the learning rates")
        for k, v in row.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        last = update == updates or (max_seconds is not None and seconds >= max_seconds)
        if update % log_every == 0 or last:
            history.append({"update": update, "seconds": seconds,
                            **{k: v / count for k, v in sums.items()}})
            if bar is not None:
                bar.set_postfix(d=f"{history[-1]['d_loss']:.3f}",
                                g=f"{history[-1]['g_loss']:.3f}")
            sums, count = {}, 0
        if bar is not None:
            bar.update(1)
        if callback is not None and ((eval_every and update % eval_every == 0) or last):
            got = callback(update)
            if got is not None:
                evaluations.append({"update": update, "seconds": seconds, **got})
        if last:
            break
    if bar is not None:
        bar.close()
    generator.eval(), discriminator.eval()
    return GANResult(history, evaluations, seconds, done)


def fit_discriminator(discriminator: nn.Module, real: Callable[[], Tensor],
                      fake: Callable[[], Tensor], *, method: str = "gan", steps: int = 500,
                      lr: float = 1e-3, gp_weight: float = 10.0, eval_batches: int = 8
                      ) -> dict[str, float]:
    """Train only the discriminator (or critic) between two fixed distributions and return
    what it then estimates on fresh batches: ``js`` (GAN loss, :func:`~deepnotes.functional.
    gan.js_estimate`) or ``wasserstein`` (``method="wgan-gp"``), with the mean scores.

    ``real()`` and ``fake()`` each return a fresh batch. This is the inner ``max_D`` of the
    game for a frozen generator: how far apart the discriminator finds the two distributions.

    Notes: N2, N3.
    """
    if method not in ("gan", "wgan-gp"):
        raise ConfigError(f"fit_discriminator method must be gan or wgan-gp, got {method!r}")
    opt = Adam(discriminator.parameters(), lr=lr,
               betas=(0.5, 0.999) if method == "gan" else (0.0, 0.9))
    discriminator.train()
    for _ in range(steps):
        x, x_fake = real(), fake()
        rs, fs = discriminator(x), discriminator(x_fake)
        if method == "gan":
            loss = G.discriminator_loss(rs, fs)
        else:
            loss = G.critic_loss(rs, fs) + gp_weight * G.gradient_penalty(discriminator, x,
                                                                          x_fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    discriminator.eval()
    with torch.no_grad():
        rs = torch.cat([discriminator(real()) for _ in range(eval_batches)])
        fs = torch.cat([discriminator(fake()) for _ in range(eval_batches)])
    est = (G.js_estimate(rs, fs) if method == "gan" else G.wasserstein_estimate(rs, fs))
    return {"js" if method == "gan" else "wasserstein": float(est),
            "real_score": float(rs.mean()), "fake_score": float(fs.mean())}
