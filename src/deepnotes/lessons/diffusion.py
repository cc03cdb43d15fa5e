r"""A denoising diffusion model on Fashion-MNIST: a generator that turns pure noise into
clothes one small denoising step at a time (beyond the notes).

Claim: a generator in the sense of N9 (noise in, a distribution of images out) need not map
noise to an image in one pass. DDPM (Ho et al., 2020) fixes a forward process that buries an
image in Gaussian noise over :math:`T = 1000` steps, :math:`x_t = \sqrt{\bar\alpha_t}\, x_0 +
\sqrt{1 - \bar\alpha_t}\, \varepsilon`, and trains one network, a small U-Net
:math:`\varepsilon_\theta(x_t, t)`, only to tell which noise was added: a regression with a
mean squared error, no discriminator, no bound to balance. Running the process backwards from
:math:`x_T \sim \mathcal N(0, I)` with the network's guesses draws new images. Trained on a
CPU for the per-method budget of the dcgan lesson (240 s), the network finds most of the noise
(its test loss falls far below 1, the score of the guess :math:`\hat\varepsilon = 0`); its
samples are scored like the GANs' and the VAE's, by FID next to the real-vs-real floor at the
same n and by the classifier's confidence and class spread. DDPMs are trained for hundreds of
thousands of updates; this one gets about a thousand, so read the FID as a start, not as
DDPM's quality. Sampling is the price of the method: one network call per image and step, so
the lesson samples with 50 strided DDIM steps instead of 1000 and reports the time it took.

Figures: the forward process on test images (:math:`x_t` for growing :math:`t`), the reverse
process of one sampling run, the training loss, samples next to real test images.

Data: Fashion-MNIST training images scaled to :math:`[-1, 1]` (quick: 1,000); the test images
score the network's loss (1,000 of them) and the samples (FID against ``samples`` of them).

Notes: N9 (the network's output is a distribution; noise in, many right outputs). DDPM, its
U-Net and DDIM sampling go beyond the notes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from deepnotes.data import load
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots, tile_images
from deepnotes.functional.diffusion import alphas_bar, linear_betas, q_sample
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics.generative import classifier_scores
from deepnotes.models import create
from deepnotes.tasks.diffusion import draw_ddpm, evaluate_ddpm, train_ddpm
from deepnotes.tasks.image_features import feature_classifier, fid_images, image_probs, real_floor
from deepnotes.train.checkpoint import save_model

NAME = "diffusion"
SUMMARY = ("Beyond the notes: a denoising diffusion model (DDPM, ε-prediction U-Net) on "
           "Fashion-MNIST, noise in, clothes out; its samples' FID next to the real floor (N9)")
CONCEPTS = ("N9",)

SAMPLERS = ("ddim", "ddpm")
LOSS_IMAGES = 1000  # test images that score the network's loss


@dataclass
class Config(LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = {
        "train_images": 1000, "channels": (8, 16), "time_dim": 32, "groups": 4,
        "seconds": None, "updates": 40, "batch_size": 32, "warmup": 10, "log_every": 5,
        "samples": 200, "sample_steps": 10, "classifier_epochs": 1, "classifier_images": 2000}

    train_images: int | None = None  # training images (None: all 60,000), scaled to [-1, 1]
    channels: tuple[int, ...] = (16, 32)  # U-Net widths at 28×28 and at 14×14, 7×7 (narrow:
    #   on a CPU budget updates are scarce; (32, 64) costs 2.8x as much per update)
    time_dim: int = 64  # width of the time embedding after its MLP
    groups: int = 8  # group norm groups (a divisor of both widths)
    T: int = 1000  # diffusion steps (DDPM's linear betas, 1e-4 to 0.02)
    seconds: float | None = 240.0  # training wall time, as one dcgan method (None: updates)
    updates: int = 100_000  # Adam updates, at most (the budget when seconds is None)
    batch_size: int = 64  # images per update
    lr: float = 1e-3  # Adam's learning rate after the warm-up
    warmup: int = 100  # updates of linear learning-rate warm-up
    ema_decay: float = 0.999  # EMA of the weights, the copy that samples (0: the raw weights)
    log_every: int = 25  # updates per point of the loss curve
    samples: int = 2000  # images drawn and scored (FID against as many test images)
    sample_steps: int = 50  # sampling steps, strided over the T training steps
    sampler: str = "ddim"  # ddim (deterministic, eta = 0) | ddpm (ancestral, respaced betas)
    sample_batch: int = 500  # images per sampling pass
    classifier_epochs: int = 5  # epochs of the FID classifier (lenet-modern)
    classifier_images: int | None = None  # N: train it on N, in the run folder; None: cached
    device: str = "cpu"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def _classifier(cfg: Config, out_dir: Path) -> Any:
    if cfg.classifier_images is None:  # the shared, cached classifier
        return feature_classifier(epochs=cfg.classifier_epochs, progress=cfg.progress,
                                  device="cpu")
    # a small one of this run's own (quick mode): never a stale cache
    return feature_classifier(out_dir / "fid-classifier.safetensors",
                              epochs=cfg.classifier_epochs, limit=cfg.classifier_images,
                              progress=cfg.progress, device="cpu")


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if cfg.sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {cfg.sampler!r}")
    if not 1 <= cfg.sample_steps <= cfg.T:
        raise ConfigError(f"sample_steps must lie in [1, T={cfg.T}], got {cfg.sample_steps}")
    test = load("fashion-mnist", split="test")
    n = cfg.samples
    if not 2 <= n <= len(test):
        raise ConfigError(f"samples must lie in [2, {len(test)}] (the test images they are "
                          f"compared with), got {n}")
    train = load("fashion-mnist", split="train", limit=cfg.train_images)
    # DDPM's data range: [0, 1] → [-1, 1]
    x_train = train.x.reshape(-1, 1, 28, 28).float() * 2 - 1  # (N, 1, 28, 28)
    test01 = test.x.reshape(-1, 1, 28, 28).float()  # [0, 1], for the classifier
    x_test = test01[:LOSS_IMAGES] * 2 - 1

    net = create("ddpm-unet", channels=cfg.channels, time_dim=cfg.time_dim, groups=cfg.groups)
    betas = linear_betas(cfg.T)
    untrained = evaluate_ddpm(net, x_test, betas=betas, seed=cfg.seed)
    fit = train_ddpm(net, x_train, updates=cfg.updates, max_seconds=cfg.seconds,
                     batch_size=cfg.batch_size, lr=cfg.lr, betas=betas, seed=cfg.seed,
                     ema_decay=cfg.ema_decay, warmup=cfg.warmup, log_every=cfg.log_every,
                     device=_device(cfg.device), progress=cfg.progress)
    model = fit.ema if fit.ema is not None else net  # the copy that samples
    test_loss = evaluate_ddpm(model, x_test, betas=betas, seed=cfg.seed)
    raw_test_loss = evaluate_ddpm(net, x_test, betas=betas, seed=cfg.seed)

    # one sampling run: x_T ~ N(0, I) → x_0; the first images' path kept for a figure
    path: list[tuple[int, Tensor]] = []
    start = time.perf_counter()
    samples = draw_ddpm(model, n, betas=betas, seed=cfg.seed + 1, batch_size=cfg.sample_batch,
                        steps=cfg.sample_steps, method=cfg.sampler,
                        callback=lambda t, x: path.append((t, x[:6].float().cpu().clone())))
    sample_seconds = time.perf_counter() - start

    # FID and classifier scores on our Fashion-MNIST classifier (N5)
    clf = _classifier(cfg, out_dir)
    real = test01[:n]
    fid = fid_images(clf, samples, real)
    floor = real_floor(clf, n=n, seed=cfg.seed)
    scores = classifier_scores(image_probs(clf, samples))
    real_scores = classifier_scores(image_probs(clf, real))

    losses = [row["loss"] for row in fit.history]
    metrics: dict[str, float] = {
        "train_loss_first": losses[0], "train_loss_last": losses[-1],
        "untrained_test_loss": untrained, "test_loss": test_loss,
        "raw_weights_test_loss": raw_test_loss,
        "updates": float(fit.updates), "train_seconds": fit.seconds,
        "seconds_per_update": fit.seconds / fit.updates,
        "sample_seconds": sample_seconds, "sample_steps": float(cfg.sample_steps),
        "sample_seconds_per_step": sample_seconds / cfg.sample_steps,
        "fid": fid, "fid_floor": floor, "fid_samples": float(n),
        "parameters": float(sum(p.numel() for p in net.parameters())),
        "T": float(cfg.T), "threads": float(torch.get_num_threads())}
    for key in ("confidence", "class_spread", "inception_score"):
        metrics[f"sample_{key}"] = scores[key]
        metrics[f"real_{key}"] = real_scores[key]

    figures = [_samples_figure(samples, real, fid, floor, cfg, out_dir),
               _forward_figure(test01, betas, cfg, out_dir),
               _reverse_figure(path, cfg, out_dir),
               _loss_figure(fit.history, test_loss, cfg, out_dir)]
    table = [{"images": name, **{k: round(v, 4) for k, v in s.items()}}
             for name, s in ((f"DDPM samples ({cfg.sampler}, {cfg.sample_steps} steps)", scores),
                             ("real test images", real_scores))]
    return LessonResult(
        NAME, metrics, figures, fit.history,
        claim=(f"a U-Net trained for {fit.updates} updates ({fit.seconds:.0f} s) to find the "
               f"noise in noisy images (test loss {test_loss:.3f}; the guess 0 scores 1) turns "
               f"noise into clothes in {cfg.sample_steps} {cfg.sampler} steps: FID "
               f"{fid:.2f} against a real-vs-real floor of {floor:.2f} at n = {n}"),
        tables={"classifier_scores": table},
        checkpoint=save_model(model, out_dir))


def _show(ax: Any, images: Tensor, ncol: int, title: str = "", pad: int = 2) -> None:
    """Images ``(N, 1, H, W)`` in [0, 1], ``ncol`` per row, on ``ax``."""
    ax.imshow(tile_images(images, nrow=ncol, pad=pad), cmap="gray", vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _samples_figure(samples: Tensor, real: Tensor, fid: float, floor: float, cfg: Config,
                    out_dir: Path) -> str:
    fig, axes = subplots(1, 2, figsize=(10, 5.4))
    _show(axes[0], samples[:100], 10,
          f"DDPM samples: x_T ~ N(0, I), {cfg.sample_steps} {cfg.sampler} steps")
    _show(axes[1], real[:100], 10, "real test images")
    fig.suptitle(f"FID on {cfg.samples} samples {fid:.2f} (real-vs-real floor {floor:.2f})")
    return save_figure(fig, out_dir / "diffusion_samples.png")


def _forward_figure(images01: Tensor, betas: Tensor, cfg: Config, out_dir: Path) -> str:
    ab = alphas_bar(betas)
    steps = sorted({round(f * cfg.T) for f in (0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)})
    x0 = images01[:4] * 2 - 1  # (4, 1, 28, 28) in [-1, 1]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(cfg.seed))
    fig, axes = subplots(len(x0), len(steps), figsize=(1.3 * len(steps), 1.45 * len(x0)),
                         squeeze=False)
    for j, t in enumerate(steps):
        # x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, one ε per image for every t
        x_t = q_sample(x0, t, noise, ab)  # (4, 1, 28, 28)
        signal = 1.0 if t == 0 else float(ab[t - 1])
        for i in range(len(x0)):
            _show(axes[i][j], ((x_t[i:i + 1] + 1) / 2).clamp(0, 1), 1,
                  f"t = {t}\nᾱ_t = {signal:.3g}" if i == 0 else "", pad=0)
    fig.suptitle("Forward process q(x_t | x_0): x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε "
                 "(shown clipped to [−1, 1])")
    return save_figure(fig, out_dir / "diffusion_forward.png")


def _reverse_figure(path: list[tuple[int, Tensor]], cfg: Config, out_dir: Path) -> str:
    # about eight snapshots evenly through the run, x_T first and x_0 last
    keep = sorted({round(k * (len(path) - 1) / 7) for k in range(8)})
    shots = [path[k] for k in keep]
    rows = len(shots[0][1])
    fig, axes = subplots(rows, len(shots), figsize=(1.3 * len(shots), 1.45 * rows),
                         squeeze=False)
    for j, (t, x) in enumerate(shots):
        for i in range(rows):
            _show(axes[i][j], ((x[i:i + 1] + 1) / 2).clamp(0, 1), 1,
                  f"t = {t}" if i == 0 else "", pad=0)
    fig.suptitle(f"Reverse process: {cfg.sampler} from x_T ~ N(0, I) to x_0 in "
                 f"{cfg.sample_steps} steps")
    return save_figure(fig, out_dir / "diffusion_reverse.png")


def _loss_figure(history: list[dict[str, float]], test_loss: float, cfg: Config,
                 out_dir: Path) -> str:
    fig, ax = subplots(figsize=(7, 4))
    ax.plot([r["update"] for r in history], [r["loss"] for r in history],
            label=f"training loss (mean of {cfg.log_every} updates)")
    ax.axhline(test_loss, color="C1", ls="--",
               label=f"test loss of the sampling weights: {test_loss:.4f}")
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label="the guess ε̂ = 0")
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("mean of (ε − ε̂)² per pixel")
    ax.legend(fontsize=8)
    ax.set_title(f"DDPM loss (Adam lr {cfg.lr:g}, batch {cfg.batch_size}, T = {cfg.T})",
                 fontsize=10)
    return save_figure(fig, out_dir / "diffusion_loss.png")
