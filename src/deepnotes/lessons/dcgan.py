"""DCGAN on Fashion-MNIST: the GAN, WGAN, WGAN-GP and SNGAN at an equal CPU budget, scored
by FID next to the real-vs-real floor.

Claim (notes N1, N3, N4, N5): the same DCGAN generator trained four ways for the same wall time
— the non-saturating GAN (batch-norm discriminator), WGAN (weight clipping, RMSProp), WGAN-GP
(gradient penalty, layer-norm critic) and SNGAN (spectrally normalised discriminator) — each
learns to draw garments; FID on our classifier's features tells them apart, always read next to
the FID of real training images against real test images at the same sample size (the floor a
perfect generator would reach). Each method uses its paper's optimiser settings (not tuned
here); during training FID is measured against held-out *training* images, the final one
against the test images.

Notes: N1, N3, N4, N5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from deepnotes.figures import image_grid, save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import classifier_scores
from deepnotes.models import create
from deepnotes.tasks.gan import METHODS, train_gan
from deepnotes.tasks.image_features import (feature_classifier, fid_images, image_probs,
                                            real_floor)
from deepnotes.tasks.image_generation import draw, evaluate_samples, load_images
from deepnotes.train.checkpoint import save_model

NAME = "dcgan"
SUMMARY = ("DCGAN on Fashion-MNIST: GAN, WGAN, WGAN-GP and SNGAN at equal CPU time, FID next "
           "to the real-vs-real floor (N1, N3, N4, N5)")
CONCEPTS = ("N1", "N3", "N4", "N5")

# the discriminator each method is built with (norm, spectral norm)
_DISC = {"gan": ("batch", False), "minimax": ("batch", False), "wgan": ("batch", False),
         "wgan-gp": ("layer", False), "sngan": ("none", True)}


@dataclass
class Config(LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = {
        "train_images": 2000, "val_images": 500, "seconds": None, "max_updates": 30,
        "eval_every": 15,
        "eval_samples": 500, "fid_samples": 1000, "classifier_epochs": 1,
        "classifier_images": 3000, "width": 8}

    methods: tuple[str, ...] = ("gan", "wgan", "wgan-gp", "sngan")  # trained one after another
    train_images: int | None = 50000  # training images the GANs see (None: all but val)
    val_images: int = 10000  # held-out training images for FID during training
    seconds: float | None = 240.0  # training wall time of each method (None: max_updates)
    max_updates: int = 100000  # generator updates, at most (the budget when seconds is None)
    batch_size: int = 64  # real images per discriminator step
    latent_dim: int = 64  # noise size
    width: int = 32  # DCGAN channel base (generator 2w -> w -> 1, discriminator w -> 2w)
    eval_every: int = 500  # generator updates between FID checks and sample grids
    eval_samples: int = 2000  # samples per FID check during training
    fid_samples: int = 10000  # samples for the final FID against the test images
    classifier_epochs: int = 5  # epochs of the FID classifier (cached under the data home)
    classifier_images: int | None = None  # its training images (None: all 60,000)
    device: str = "cpu"  # cpu | cuda | auto


def _classifier(cfg: Config, out_dir: Path):
    if cfg.classifier_images is None:  # the shared, cached classifier
        return feature_classifier(epochs=cfg.classifier_epochs, device="cpu")
    # a small one of this run's own (quick mode): never a stale cache
    return feature_classifier(out_dir / "fid-classifier.safetensors",
                              epochs=cfg.classifier_epochs, limit=cfg.classifier_images,
                              device="cpu")


def run(cfg: Config, out_dir: Path) -> LessonResult:
    from deepnotes.errors import ConfigError

    unknown = [m for m in cfg.methods if m not in _DISC]
    if unknown:
        raise ConfigError(f"methods must be among {sorted(_DISC)}, got {unknown}")
    if cfg.val_images < max(2, cfg.eval_samples):
        raise ConfigError(f"val_images ({cfg.val_images}) must be at least eval_samples "
                          f"({cfg.eval_samples}): FID compares equal sample sizes")
    clf = _classifier(cfg, out_dir)
    # data: the GANs train on [-1, 1]; FID and the classifier read [0, 1]
    limit = None if cfg.train_images is None else cfg.train_images + cfg.val_images
    x_all, _ = load_images("train", limit=limit)
    x_train, x_val = x_all[:len(x_all) - cfg.val_images], x_all[len(x_all) - cfg.val_images:]
    val01 = (x_val + 1) / 2
    test01, _ = load_images("test", limit=cfg.fid_samples)
    test01 = (test01 + 1) / 2
    n_fid = min(cfg.fid_samples, len(test01))
    floor = real_floor(clf, n=n_fid, seed=cfg.seed)
    real_scores = classifier_scores(image_probs(clf, test01))

    rows, curves, history, grids, figures = [], {}, [], {}, []
    for method in cfg.methods:
        torch.manual_seed(cfg.seed)
        gen = create("dcgan-generator", latent_dim=cfg.latent_dim, width=cfg.width)
        norm, sn = _DISC[method]
        disc = create("dcgan-discriminator", width=cfg.width, norm=norm, spectral_norm=sn)
        (out_dir / "grids").mkdir(parents=True, exist_ok=True)

        def check(update: int, gen=gen, method=method) -> dict[str, float]:
            samples = draw(gen, cfg.eval_samples, seed=cfg.seed + 1)
            fid = fid_images(clf, samples, val01[:cfg.eval_samples])
            image_grid(samples[:64], out_dir / "grids" / f"{method}_{update:06d}.png",
                       title=f"{method}, update {update}, FID(val) {fid:.2f}")
            return {"val_fid": fid}

        r = train_gan(gen, disc, x_train, method=method, updates=cfg.max_updates,
                      batch_size=cfg.batch_size, seed=cfg.seed, device=cfg.device,
                      log_every=max(1, cfg.eval_every // 5), eval_every=cfg.eval_every,
                      callback=check, max_seconds=cfg.seconds)
        curves[method] = [(e["update"], e["seconds"], e["val_fid"]) for e in r.evaluations]
        history += [{"method": method, **h} for h in r.history]
        gen.cpu()
        samples = draw(gen, n_fid, seed=cfg.seed + 2)
        ev = evaluate_samples(clf, samples, test01[:n_fid])
        grids[method] = samples[:64]
        save_model(gen, out_dir / "generators" / method)
        lr_g, lr_d, betas, n_critic = METHODS[method]
        rows.append({"method": method, "updates": r.updates, "train_seconds": round(r.seconds, 1),
                     "critic_steps_per_update": n_critic, "lr": lr_g,
                     "optimiser": "RMSProp" if betas is None else f"Adam β={betas}",
                     "test_fid": round(ev["fid"], 3), "real_floor": round(floor, 3),
                     "confidence": round(ev["confidence"], 3),
                     "class_spread": round(ev["class_spread"], 3),
                     "inception_score": round(ev["inception_score"], 3)})

    metrics: dict[str, float] = {"real_floor_fid": floor, "fid_samples": float(n_fid),
                                 "real_confidence": real_scores["confidence"],
                                 "real_class_spread": real_scores["class_spread"],
                                 "real_inception_score": real_scores["inception_score"]}
    for row in rows:
        key = row["method"].replace("-", "_")
        metrics.update({f"{key}_fid": row["test_fid"], f"{key}_updates": float(row["updates"]),
                        f"{key}_confidence": row["confidence"],
                        f"{key}_class_spread": row["class_spread"],
                        f"{key}_inception_score": row["inception_score"]})
    # figures: final sample grids side by side, FID during training, losses
    fig, axes = subplots(1, len(cfg.methods), figsize=(3.2 * len(cfg.methods), 4.0),
                         squeeze=False)
    from deepnotes.figures import tile_images

    for ax, row in zip(axes[0], rows):
        ax.imshow(tile_images(grids[row["method"]], nrow=8), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{row['method']}: FID {row['test_fid']:.2f}\n({row['updates']} updates)",
                     fontsize=9)
        ax.axis("off")
    figures.append(save_figure(fig, out_dir / "dcgan_samples.png"))
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    for method, pts in curves.items():
        ax1.plot([p[1] for p in pts], [p[2] for p in pts], "o-", label=method)
    ax1.axhline(floor, color="grey", ls=":", label=f"real vs real {floor:.2f}")
    ax1.set(xlabel="training seconds", ylabel=f"FID ({cfg.eval_samples} samples, validation)",
            yscale="log", title="FID during training")
    ax1.legend(fontsize=8)
    for method in cfg.methods:
        hs = [h for h in history if h["method"] == method]
        ax2.plot([h["seconds"] for h in hs], [h["d_loss"] for h in hs], label=f"{method} D")
    ax2.set(xlabel="training seconds", ylabel="discriminator / critic loss",
            title="Discriminator losses")
    ax2.legend(fontsize=8)
    figures.append(save_figure(fig, out_dir / "dcgan_curves.png"))
    best = min(rows, key=lambda r: r["test_fid"])
    budget = (f"{cfg.seconds:.0f} s of training ({cfg.device})" if cfg.seconds else
              f"{cfg.max_updates} generator updates")
    claim = (f"At {budget} each, test FID ({n_fid} samples, our "
             f"classifier's features): " + ", ".join(f"{r['method']} {r['test_fid']:.2f}"
                                                    for r in rows)
             + f"; real training vs test images {floor:.2f}. Best: {best['method']}.")
    return LessonResult(NAME, metrics, figures, history, claim=claim,
                        tables={"methods": rows}, checkpoint=str(out_dir / "generators"))
