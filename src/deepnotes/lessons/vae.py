r"""The variational auto-encoder on Fashion-MNIST: an auto-encoder whose code is a distribution,
and a generator that comes out of it (beyond the notes).

Claim: an auto-encoder (N8) becomes a generator (N9) when its encoder outputs a Gaussian
:math:`q(z|x)` and training maximises the ELBO, :math:`\mathbb E_q[\log p(x|z)] -
\mathrm{KL}(q(z|x) \,\|\, \mathcal N(0, I))`, with gradients through the sampled code
:math:`z = \mu + \sigma\varepsilon` (reparameterisation). The KL term pays for every nat the
code carries and pulls the codes onto the prior, so decoded noise :math:`z \sim \mathcal N(0,
I)` gives clothes of every class; the price is blur. The decoder's mean image averages over
what one code leaves uncertain, so the samples' FID (our Fashion-MNIST classifier's features)
stays far above the real-vs-real floor and the classifier is less sure of them than of real
images. With a 2-D code the whole model fits on a page: the test images' codes form class
regions and the decoded grid morphs smoothly between them, at a worse ELBO than a 16-D code.

Measured (full run: 50 epochs, latent-2 map 30; ``--threads 1`` on a 2-core machine shared
with other jobs, 681 s wall, 514 s CPU). Latent 16: test :math:`-\mathrm{ELBO}` 238.5 nats
per image = reconstruction 226.2 + KL 12.3; reconstruction MSE 0.0142 per pixel; 6 of the 16
code dimensions active (the KL term switches the other 10 off: their codes stay at the prior).
Its 10,000 samples: FID 9.45 against a real-vs-real floor of 0.059 at the same n; the
classifier's confidence 0.82 (real test images 0.92), class spread 2.254 (real 2.302, at most
log 10 = 2.303), Inception Score 5.79 (real 8.11). Latent 2: :math:`-\mathrm{ELBO}` 255.4 =
248.7 + 6.7, MSE 0.0248, FID 15.9, confidence 0.84, IS 5.81.

Data: Fashion-MNIST, 55,000 training images, 5,000 held out for validation (they choose the
epoch whose weights are kept, nothing else), 10,000 test images (quick: 1,000 / 200 / 500).
Pixel grey levels in [0, 1] are the Bernoulli decoder's soft targets, so the reconstruction
term cannot fall below the pixels' own entropy; the numbers compare with each other, not with
published likelihoods on binarised MNIST.

Notes: N8 (auto-encoder: a low-dimensional code and a reconstruction), N9 (the decoder
outputs a distribution; noise in, many right outputs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.data import holdout_split, load
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots, tile_images
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics.generative import classifier_scores
from deepnotes.models import create
from deepnotes.runtime import seed_everything
from deepnotes.tasks.image_features import feature_classifier, fid_images, image_probs, real_floor
from deepnotes.tasks.vae import evaluate_vae, fit_vae
from deepnotes.train.checkpoint import save_model

NAME = "vae"
SUMMARY = ("Beyond the notes: a variational auto-encoder on Fashion-MNIST (ELBO, "
           "reparameterisation), its samples' FID vs the real floor, a 2-D latent map (N8, N9)")
CONCEPTS = ("N8", "N9")

MAP_LATENT = 2  # code size of the second VAE, whose latent space is drawn as a map


@dataclass
class Config(LessonConfig):
    QUICK = {"train_images": 1200, "val_images": 200, "test_images": 500, "hidden": (128,),
             "epochs": 3, "map_epochs": 2, "fid_samples": 500, "classifier_epochs": 2,
             "classifier_images": 2000}

    train_images: int | None = None  # training images, validation included (None: all 60,000)
    val_images: int = 5_000  # held out from them: the best epoch's weights are kept
    test_images: int | None = None  # test images (None: all 10,000)
    latent_dim: int = 16  # code size of the main VAE
    hidden: tuple[int, ...] = (512, 256)  # encoder widths (the decoder mirrors them)
    epochs: int = 50  # passes over the training images (main VAE)
    map_epochs: int = 30  # passes for the latent-2 VAE (the 2-D map)
    batch_size: int = 128  # minibatch size
    lr: float = 1e-3  # Adam's peak learning rate, cosine-decayed to 0
    fid_samples: int = 10_000  # generated images scored, against as many test images
    classifier_epochs: int = 5  # training epochs of the FID feature classifier (lenet-modern)
    classifier_images: int | None = None  # N: train on N, in the run folder; None: 60k, cached
    device: str = "auto"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def _decode(model: nn.Module, z: Tensor) -> Tensor:
    """Bernoulli means σ(dec(z)) on the CPU, ``(N, 1, 28, 28)``."""
    weight = next(model.parameters())
    return torch.sigmoid(model.decode(z.to(device=weight.device, dtype=weight.dtype))).cpu()


@torch.no_grad()
def _means(model: nn.Module, images: Tensor) -> Tensor:
    """Posterior means μ(x) on the CPU, ``(N, d)``."""
    weight = next(model.parameters())
    model.eval()
    return model.encode(images.to(device=weight.device, dtype=weight.dtype))[0].cpu()


def _show(ax: Any, images: Tensor, ncol: int, title: str, pad: int = 2) -> None:
    """Images ``(N, 1, H, W)`` in [0, 1], ``ncol`` per row, on ``ax``."""
    ax.imshow(tile_images(images, nrow=ncol, pad=pad), cmap="gray", vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _train_one(cfg: Config, latent: int, epochs: int, train: Any, val: Any, test: Any
               ) -> dict[str, Any]:
    """Build, measure untrained, train and measure one VAE; draw its samples."""
    seed_everything(cfg.seed)  # both VAEs start from the same generator state
    model = create("vae", hidden=cfg.hidden, latent_dim=latent)
    untrained = evaluate_vae(model, test.x, _gen(cfg.seed))
    start = time.perf_counter()
    fit, best_epoch = fit_vae(model, train, val, epochs=epochs, lr=cfg.lr,
                              batch_size=cfg.batch_size, seed=cfg.seed, progress=cfg.progress,
                              device=cfg.device)
    seconds = time.perf_counter() - start
    model.eval()
    return {"model": model, "fit": fit, "best_epoch": best_epoch, "seconds": seconds,
            "untrained": untrained, "test": evaluate_vae(model, test.x, _gen(cfg.seed)),
            "samples": model.sample(cfg.fid_samples, _gen(cfg.seed)).cpu()}


def run(cfg: Config, out_dir: Path) -> LessonResult:
    full = load("fashion-mnist", split="train", limit=cfg.train_images)
    if not 0 < cfg.val_images < len(full):
        raise ConfigError(f"val_images must lie in (0, {len(full)}) (the training images), got "
                          f"{cfg.val_images}")
    train, val = holdout_split(full, val_fraction=cfg.val_images / len(full), seed=cfg.seed)
    test = load("fashion-mnist", split="test", limit=cfg.test_images)
    n = cfg.fid_samples
    if not 2 <= n <= len(test):
        raise ConfigError(f"fid_samples must lie in [2, {len(test)}] (the test images it is "
                          f"compared with), got {n}")
    runs = {"main": _train_one(cfg, cfg.latent_dim, cfg.epochs, train, val, test),
            "map": _train_one(cfg, MAP_LATENT, cfg.map_epochs, train, val, test)}

    # FID and classifier scores on our Fashion-MNIST classifier (N5)
    path = out_dir / "fid-classifier.safetensors" if cfg.classifier_images else None
    net = feature_classifier(path, epochs=cfg.classifier_epochs, limit=cfg.classifier_images,
                             progress=cfg.progress, device=cfg.device)
    real = test.x[:n]
    floor = real_floor(net, n=n, seed=cfg.seed)
    real_scores = classifier_scores(image_probs(net, real))
    for r in runs.values():
        r["fid"] = fid_images(net, r["samples"], real)
        r["scores"] = classifier_scores(image_probs(net, r["samples"]))

    main, small = runs["main"], runs["map"]
    metrics: dict[str, float] = {}
    for prefix, r in (("", main), ("latent2_", small)):
        for key, value in r["test"].items():
            metrics[f"{prefix}test_{key}"] = value
        metrics[f"{prefix}untrained_test_neg_elbo"] = r["untrained"]["neg_elbo"]
        metrics[f"{prefix}val_neg_elbo"] = r["fit"].test["loss"]
        metrics[f"{prefix}best_epoch"] = float(r["best_epoch"])
        metrics[f"{prefix}epochs"] = float(len(r["fit"].history.rows))
        metrics[f"{prefix}train_seconds"] = r["seconds"]
        metrics[f"{prefix}parameters"] = float(sum(p.numel() for p in r["model"].parameters()))
        metrics[f"{prefix}fid"] = r["fid"]
        for key in ("confidence", "class_spread", "inception_score"):
            metrics[f"{prefix}sample_{key}"] = r["scores"][key]
    metrics["fid_floor"] = floor
    metrics["fid_samples"] = float(n)
    for key in ("confidence", "class_spread", "inception_score"):
        metrics[f"real_{key}"] = real_scores[key]
    metrics["latent_dim"] = float(cfg.latent_dim)
    metrics["train_images"] = float(len(train))
    metrics["threads"] = float(torch.get_num_threads())

    figures = [_samples_figure(runs, real, cfg, out_dir),
               _reconstruction_figure(runs, test.x[:12], cfg, out_dir),
               _interpolation_figure(runs, test, cfg, out_dir),
               _curves_figure(runs, cfg, out_dir),
               _latent_map_figure(small["model"], test, out_dir)]

    rows = [{"model": f"latent {r['model'].config.latent_dim}",
             "test_neg_elbo": round(r["test"]["neg_elbo"], 2),
             "test_recon": round(r["test"]["recon"], 2), "test_kl": round(r["test"]["kl"], 2),
             "test_mse": round(r["test"]["mse"], 5),
             "active_units": int(r["test"]["active_units"]),
             "fid": round(r["fid"], 3), "fid_floor": round(floor, 3),
             "best_epoch": r["best_epoch"], "epochs": len(r["fit"].history.rows),
             "train_seconds": round(r["seconds"], 1)} for r in runs.values()]
    scores = [{"images": name, **{k: round(v, 4) for k, v in s.items()}}
              for name, s in ((f"VAE samples, latent {cfg.latent_dim}", main["scores"]),
                              (f"VAE samples, latent {MAP_LATENT}", small["scores"]),
                              ("real test images", real_scores))]
    return LessonResult(
        NAME, metrics, figures, main["fit"].history.rows,
        claim=(f"a VAE (latent {cfg.latent_dim}) trained on the ELBO generates clothes from "
               f"noise, but blurred: its samples' FID stays far above the real-vs-real floor "
               f"and the classifier is less confident on them than on real images; a latent-2 "
               f"VAE maps the classes onto a plane at a worse ELBO"),
        tables={"models": rows, "classifier_scores": scores},
        checkpoint=save_model(main["model"], out_dir))


def _samples_figure(runs: dict[str, Any], real: Tensor, cfg: Config, out_dir: Path) -> str:
    fig, axes = subplots(1, 3, figsize=(13, 4.6))
    for ax, r in zip(axes, runs.values()):
        _show(ax, r["samples"][:100], 10,
              f"VAE samples, latent {r['model'].config.latent_dim}: σ(dec(z)), z ~ N(0, I)")
    _show(axes[2], real[:100], 10, "real test images")
    fig.suptitle(f"Decoded prior draws (FID on {cfg.fid_samples} samples: "
                 f"{runs['main']['fid']:.2f} and {runs['map']['fid']:.2f})")
    return save_figure(fig, out_dir / "vae_samples.png")


def _reconstruction_figure(runs: dict[str, Any], images: Tensor, cfg: Config, out_dir: Path
                           ) -> str:
    rows = [images]
    for r in runs.values():
        rows.append(_decode(r["model"], _means(r["model"], images)))
    fig, ax = subplots(figsize=(10, 3.0))
    _show(ax, torch.cat(rows), len(images),
          f"test images; reconstructions σ(dec(μ(x))) with latent {cfg.latent_dim}; "
          f"with latent {MAP_LATENT}")
    return save_figure(fig, out_dir / "vae_reconstructions.png")


def _interpolation_figure(runs: dict[str, Any], test: Any, cfg: Config, out_dir: Path) -> str:
    a = 0
    b = int(torch.nonzero(test.y != test.y[a]).flatten()[0])  # the first of another class
    ends = test.x[[a, b]]  # (2, 1, 28, 28)
    t = torch.linspace(0, 1, 10).unsqueeze(1)  # (10, 1)
    rows = []
    for r in runs.values():
        mu = _means(r["model"], ends)  # (2, d)
        # z(t) = (1 − t) μ_a + t μ_b
        path = _decode(r["model"], (1 - t) * mu[0] + t * mu[1])  # (10, 1, 28, 28)
        rows.append(torch.cat([ends[:1], path, ends[1:]]))
    fig, ax = subplots(figsize=(10, 2.2))
    names = test.classes or [str(i) for i in range(10)]
    _show(ax, torch.cat(rows), 12,
          f"{names[int(test.y[a])]} → {names[int(test.y[b])]}: decoded straight line between "
          f"the codes μ (top: latent {cfg.latent_dim}, bottom: latent {MAP_LATENT}); "
          f"ends: the test images")
    return save_figure(fig, out_dir / "vae_interpolation.png")


def _curves_figure(runs: dict[str, Any], cfg: Config, out_dir: Path) -> str:
    fig, axes = subplots(1, 3, figsize=(13, 4))
    titles = {"loss": "−ELBO (nats per image)", "recon": "reconstruction −log p(x|z)",
              "kl": "KL(q(z|x) ‖ N(0, I))"}
    for r in runs.values():
        hist = r["fit"].history
        epochs = list(range(1, len(hist.rows) + 1))
        d = r["model"].config.latent_dim
        for ax, (column, title) in zip(axes, titles.items()):
            (line,) = ax.plot(epochs, hist.column(f"val_{column}"), label=f"latent {d}, val")
            ax.plot(epochs, hist.column(f"train_{column}"), ls="--", color=line.get_color(),
                    label=f"latent {d}, train")
            ax.set_title(title, fontsize=10)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.suptitle(f"ELBO curves (Adam, lr {cfg.lr:g} cosine-decayed; one-sample estimates)")
    return save_figure(fig, out_dir / "vae_elbo_curves.png")


def _latent_map_figure(model: nn.Module, test: Any, out_dir: Path, side: int = 15) -> str:
    mu = _means(model, test.x[:5000])  # (N, 2)
    labels = test.y[:5000]
    names = test.classes or [str(i) for i in range(10)]
    # grid at the prior's quantiles 5 % … 95 %: z = Φ⁻¹(u), so each cell holds equal prior mass
    q = torch.special.ndtri(torch.linspace(0.05, 0.95, side))  # (side,)
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")  # rows: z2 from high to low
    grid = _decode(model, torch.stack([z1.flatten(), z2.flatten()], dim=1))  # (side², 1, 28, 28)
    fig, axes = subplots(1, 2, figsize=(13, 6.2), width_ratios=(1, 1.05))
    ax = axes[0]
    for c in range(len(names)):
        keep = labels == c
        ax.scatter(mu[keep, 0], mu[keep, 1], s=3, alpha=0.6, color=f"C{c}", label=names[c])
    lo, hi = float(q[0]), float(q[-1])
    ax.plot([lo, hi, hi, lo, lo], [lo, lo, hi, hi, lo], color="k", lw=1, ls="--",
            label="decoded grid")
    ax.set_xlabel("μ₁")
    ax.set_ylabel("μ₂")
    ax.set_title(f"codes μ(x) of {len(labels)} test images (latent 2)", fontsize=10)
    ax.legend(fontsize=7, markerscale=3, loc="upper right")
    _show(axes[1], grid, side,
          f"σ(dec(z)) on a {side}×{side} grid, z at the prior's 5–95 % quantiles", pad=0)
    return save_figure(fig, out_dir / "vae_latent2_map.png")
