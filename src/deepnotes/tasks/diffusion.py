r"""Training a denoising diffusion model (DDPM) and drawing images from it.

:func:`train_ddpm` repeats DDPM's Algorithm 1 on minibatches: pick a step
:math:`t \sim U\{1..T\}` and noise :math:`\varepsilon` per image, and take an Adam step on
:math:`\lVert \varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 -
\bar\alpha_t}\, \varepsilon, t) \rVert^2` (:func:`deepnotes.functional.diffusion.ddpm_loss`),
for a number of updates or a wall-time budget, after a linear learning-rate warm-up and with
the gradient norm clipped at 1 (Ho et al.'s settings). It also keeps an exponential moving
average (EMA) of the weights, the copy DDPM samples from:

.. math::
    \theta_{\text{EMA}} \leftarrow d_n\, \theta_{\text{EMA}} + (1 - d_n)\, \theta,
    \qquad d_n = \min\Big(d, \frac{1 + n}{10 + n}\Big)

(the ramp :math:`d_n` lets a short run forget its random start; :math:`d = 0.9999` in the
paper, 0.999 here for runs of thousands of updates, not hundreds of thousands).

:func:`draw_ddpm` samples in batches and returns images in ``[0, 1]``. DDPM's ancestral
sampler needs all :math:`T = 1000` network calls per image, minutes per hundred images on a
CPU, so it runs on a strided subsequence of ``steps`` of the :math:`T` steps
(:func:`deepnotes.functional.diffusion.respace`): by default with the deterministic DDIM
update (:math:`\eta = 0`, Song et al., 2021), or, with ``method="ddpm"``, DDPM's ancestral
step on the respaced betas (:math:`\sigma_t^2 = \beta'_t`). Both keep the trained network as it
is and tell it the original steps :math:`\tau_i`.

Notes: N9 (noise in, a distribution of images out); DDPM itself is beyond the notes.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, NonFiniteLossError, ShapeError
from deepnotes.functional.clip import clip_grad_norm_
from deepnotes.functional.diffusion import alphas_bar, ddpm_loss, linear_betas, sample
from deepnotes.optim import Adam

__all__ = ["DDPMResult", "draw_ddpm", "ema_update", "evaluate_ddpm", "train_ddpm"]


@dataclass
class DDPMResult:
    """What :func:`train_ddpm` returns.

    Attributes:
        history: a row every ``log_every`` updates: ``update``, ``seconds`` (training time so
            far), ``loss`` (mean since the previous row), ``lr``.
        seconds: training wall time (the callback's time not counted).
        updates: Adam updates done.
        ema: the EMA copy of the model (eval mode), or ``None`` when ``ema_decay`` is 0.
        betas: the training schedule :math:`\\beta` ``(T,)``, float64.
    """

    history: list[dict[str, float]]
    seconds: float
    updates: int
    ema: nn.Module | None
    betas: Tensor


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    r"""One EMA step of every parameter and buffer: :math:`\theta_{\text{EMA}} \leftarrow d\,
    \theta_{\text{EMA}} + (1 - d)\, \theta` (integer buffers are copied).

    Example:
        >>> a, b = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
        >>> _ = torch.nn.init.zeros_(a.weight), torch.nn.init.ones_(b.weight)
        >>> ema_update(a, b, 0.9)  # 0.9 · 0 + 0.1 · 1
        >>> round(a.weight.item(), 6)
        0.1
    """
    if not 0.0 <= decay <= 1.0:
        raise ConfigError(f"ema_update: decay must lie in [0, 1], got {decay!r}")
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        # θ_EMA ← d θ_EMA + (1 − d) θ
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        if e.is_floating_point():
            e.mul_(decay).add_(b, alpha=1 - decay)
        else:
            e.copy_(b)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"train_ddpm: {name} must be an integer >= {low}, got {value!r}")


def train_ddpm(model: nn.Module, images: Tensor, *, updates: int = 1000,
               max_seconds: float | None = None, batch_size: int = 64, lr: float = 1e-3,
               T: int = 1000, betas: Tensor | None = None, seed: int = 0,
               ema_decay: float = 0.999, warmup: int = 100, grad_clip: float | None = 1.0,
               log_every: int = 50, device: str | torch.device = "cpu",
               progress: bool | None = None,
               callback: Callable[[int], None] | None = None) -> DDPMResult:
    r"""Train the noise predictor ``model`` (``model(x_t, t) -> ε̂``) on ``images`` with
    DDPM's loss, Adam (:class:`deepnotes.optim.Adam`) and an EMA of the weights.

    Args:
        model: :math:`\varepsilon_\theta`, e.g. ``create("ddpm-unet")``; trained in place.
        images: ``(N, C, H, W)`` with values in ``[-1, 1]`` (DDPM's data range).
        updates: Adam updates, at most. Default: 1000.
        max_seconds: stop once training has taken this long (equal-time comparisons);
            ``None``: run all ``updates``.
        batch_size: images per update (a fresh permutation each pass). Default: 64.
        lr: Adam's learning rate after the warm-up. Default: ``1e-3``.
        T: diffusion steps; the schedule is :func:`linear_betas` ``(T)`` unless ``betas``.
        betas: the schedule ``(T,)`` (then ``T`` is its length).
        seed: seeds the batch order and every :math:`(t, \varepsilon)` draw (the initial
            weights are the caller's: seed before building the model).
        ema_decay: :math:`d` of the weight average; 0 switches it off. Default: 0.999.
        warmup: updates of linear learning-rate warm-up from 0. Default: 100.
        grad_clip: clip the gradient norm at this value (``None``: no clipping). Default: 1.
        log_every: updates per ``history`` row. Default: 50.
        device: training device. progress: a progress bar (None: only on a terminal).
        callback: ``callback(update)`` after each logged row (not counted in ``seconds``).

    Returns:
        A :class:`DDPMResult`; ``model`` is left in eval mode.

    Example:
        >>> from deepnotes.models import create
        >>> _ = torch.manual_seed(0)
        >>> net = create("ddpm-unet", image_size=8, channels=(4, 8), time_dim=8, groups=2)
        >>> r = train_ddpm(net, torch.rand(32, 1, 8, 8) * 2 - 1, updates=4, batch_size=8,
        ...                T=50, log_every=2, warmup=0)
        >>> r.updates, len(r.history), r.betas.shape
        (4, 2, torch.Size([50]))

    Notes: N9; DDPM beyond the notes.
    """
    _check_int("updates", updates, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("warmup", warmup, 0)
    _check_int("log_every", log_every, 1)
    if max_seconds is not None and not max_seconds >= 0:
        raise ConfigError(f"train_ddpm: max_seconds must be >= 0 or None, got {max_seconds!r}")
    if not 0.0 <= ema_decay < 1.0:
        raise ConfigError(f"train_ddpm: ema_decay must lie in [0, 1) (0: no EMA), got "
                          f"{ema_decay!r}")
    if not lr > 0:
        raise ConfigError(f"train_ddpm: lr must be > 0, got {lr!r}")
    if images.dim() != 4 or len(images) < batch_size:
        raise ShapeError(f"train_ddpm expects images (N, C, H, W) with N >= batch_size "
                         f"({batch_size}), got {tuple(images.shape)}")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1 - 1e-3 or hi > 1 + 1e-3:
        raise ConfigError(f"train_ddpm expects images in [-1, 1], got [{lo:.3g}, {hi:.3g}]; "
                          f"rescale [0, 1] images with 2x − 1")
    betas = linear_betas(T) if betas is None else betas
    ab = alphas_bar(betas)
    device = torch.device(device)
    model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False) if ema_decay > 0 else None
    opt = Adam(model.parameters(), lr=lr)
    order_rng = torch.Generator().manual_seed(seed + 1)  # the batch order
    noise_rng = torch.Generator().manual_seed(seed)  # every t and ε
    perm: list[Tensor] = []
    bar = None
    if (sys.stderr.isatty() if progress is None else progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=updates, desc="ddpm", unit="update", dynamic_ncols=True)
    history: list[dict[str, float]] = []
    loss_sum, count, seconds, done = 0.0, 0, 0.0, 0
    for update in range(1, updates + 1):
        t0 = time.perf_counter()
        if not perm:
            p = torch.randperm(len(images), generator=order_rng)
            perm.extend(p[i:i + batch_size] for i in range(0, len(p) - batch_size + 1,
                                                           batch_size))
        x0 = images[perm.pop(0)].to(device)  # (B, C, H, W)
        # η_n = η · min(1, n / warmup)
        step_lr = lr * min(1.0, update / warmup) if warmup else lr
        for group in opt.param_groups:
            group["lr"] = step_lr
        loss = ddpm_loss(model, x0, ab, noise_rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        if ema is not None:
            # d_n = min(d, (1 + n)/(10 + n))
            ema_update(ema, model, min(ema_decay, (1 + update) / (10 + update)))
        value = float(loss.detach())
        seconds += time.perf_counter() - t0
        done = update
        if not math.isfinite(value):
            raise NonFiniteLossError(f"train_ddpm: the loss became {value} at update {update}; "
                                     f"lower lr (now {lr:g})")
        loss_sum, count = loss_sum + value, count + 1
        last = update == updates or (max_seconds is not None and seconds >= max_seconds)
        if update % log_every == 0 or last:
            history.append({"update": update, "seconds": seconds, "loss": loss_sum / count,
                            "lr": step_lr})
            loss_sum, count = 0.0, 0
            if bar is not None:
                bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
            if callback is not None:
                callback(update)
        if bar is not None:
            bar.update(1)
        if last:
            break
    if bar is not None:
        bar.close()
    model.eval()
    return DDPMResult(history, seconds, done, ema, betas)


@torch.no_grad()
def evaluate_ddpm(model: nn.Module, images: Tensor, T: int = 1000, betas: Tensor | None = None,
                  seed: int = 0, batch_size: int = 500) -> float:
    r"""DDPM's loss (mean squared error of the predicted noise) on ``images`` in ``[-1, 1]``,
    with :math:`(t, \varepsilon)` drawn from ``seed``: the same images, the same draws, so two
    models compare on equal terms. 1 is the score of the guess :math:`\hat\varepsilon = 0`.

    Notes: N9; DDPM beyond the notes.
    """
    betas = linear_betas(T) if betas is None else betas
    ab = alphas_bar(betas)
    gen = torch.Generator().manual_seed(seed)
    weight = next(model.parameters())
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for i in range(0, len(images), batch_size):
            x0 = images[i:i + batch_size].to(device=weight.device, dtype=weight.dtype)
            total += float(ddpm_loss(model, x0, ab, gen)) * len(x0)
    finally:
        model.train(was_training)
    return total / len(images)


@torch.no_grad()
def draw_ddpm(model: nn.Module, n: int, T: int = 1000, seed: int = 0, batch_size: int = 500,
              *, steps: int | None = 50, method: str = "ddim", eta: float = 0.0,
              clip: bool = True, betas: Tensor | None = None,
              shape: tuple[int, ...] | None = None,
              callback: Callable[[int, Tensor], None] | None = None) -> Tensor:
    r"""``n`` images from a trained noise predictor, in ``[0, 1]``.

    Every :math:`x_T` is drawn first (from ``seed``), so the batch size changes no DDIM
    sample; DDPM's ancestral noise is drawn batch after batch from the same generator.

    Args:
        model: :math:`\varepsilon_\theta` (e.g. :attr:`DDPMResult.ema`); sampled in eval mode
            on its own device.
        n: images. T: the training steps (schedule :func:`linear_betas` ``(T)`` unless
            ``betas``). seed: seeds :math:`x_T` and every draw. batch_size: images per pass.
        steps: sampling steps, a strided subsequence of the :math:`T` (``None``: all
            :math:`T`). Default: 50.
        method: ``"ddim"`` (deterministic for ``eta = 0``, the default) or ``"ddpm"``
            (ancestral with respaced betas, :math:`\sigma^2 = \beta'`). Strided DDIM trades
            spread for speed: with the exact denoiser of Gaussian data of spread 0.5, 10 steps
            give 0.36, 50 give 0.47, 1000 give 0.50 (``tests/functional/test_diffusion.py``).
        eta: DDIM's :math:`\eta`. clip: clip each guess :math:`\hat x_0` to ``[-1, 1]``.
        shape: one image's shape; default ``(in_channels, image_size, image_size)`` of the
            model's config (a ``ddpm-unet``).
        callback: ``callback(t, x_t)`` at every step of the *first* batch (the reverse
            process, for a figure); ``x_t`` in ``[-1, 1]``-scale, as sampled.

    Shape:
        - Output: ``(n, C, H, W)`` float32 on the CPU, values in ``[0, 1]``.

    Notes: N9; DDPM (and DDIM) beyond the notes.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"draw_ddpm: n must be a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"draw_ddpm: batch_size must be a positive integer, got {batch_size!r}")
    if shape is None:
        cfg = model.config
        shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
    weight = next(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, *shape, generator=gen)  # all the noise first, (n, C, H, W)
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, n, batch_size):
            x = sample(model, len(x_T[i:i + batch_size]), shape, T, gen, betas=betas,
                       steps=steps, method=method, eta=eta, clip_x0=1.0 if clip else None,
                       x_T=x_T[i:i + batch_size], callback=callback if i == 0 else None,
                       dtype=weight.dtype, device=weight.device)
            # [-1, 1] → [0, 1]
            out.append(((x.float().cpu() + 1) / 2).clamp(0, 1))
    finally:
        model.train(was_training)
    return torch.cat(out)
