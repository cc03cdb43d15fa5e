r"""Auto-encoders on Fashion-MNIST against PCA: compression, denoising, codes, anomalies.

Claim (notes N8): an auto-encoder squeezes an image through a code of k numbers and rebuilds
it, :math:`\hat x = g(f(x))`. PCA is the linear auto-encoder (:mod:`deepnotes.analysis.pca`):
the best *affine* reconstruction from k numbers. A non-linear auto-encoder beats it at the
same k. Trained on noisy inputs to give back the clean image (denoising AE), it removes noise
better than a plain AE fed the same noisy images. Its 2-D code arranges the test images by
class more clearly than PCA's 2-D projection. Trained on one class only, it rebuilds that
class well and the others worse, so the reconstruction error ranks anomalies (one-class
AUROC).

Measured (full mode: 54,000 training, 6,000 validation, 10,000 test images; 9 min wall on one
CPU thread while other jobs shared the 2-core machine, 7.2 CPU minutes; 14 min in a busier
moment; same numbers both times):

a. test MSE per pixel, AE vs PCA: k = 2: 0.0281 vs 0.0461; k = 8: 0.0142 vs 0.0266; k = 32:
   0.0089 vs 0.0151 (AE / PCA 0.61, 0.53, 0.59): the AE with 8 numbers beats PCA with 32.
   The conv AE at k = 32: 0.0082. Every AE was still improving at its last epoch (20).
b. σ = 0.5 (the noisy input's own MSE 0.2500): PCA at k = 32 (validation's choice of 2 ... 128)
   0.0253, the plain AE (k = 32) 0.0284 — worse than PCA, it passes noise through — and the
   denoising AE 0.0146. On clean inputs the denoising AE gives 0.0114, the plain one 0.0089.
c. 5-nearest-neighbour class accuracy in the 2-D code (3,000 test images, leave-one-out):
   AE 0.660, PCA 0.503.
d. one-class AUROC (%), AE / PCA (k = 16): t-shirt 91.3 / 89.7, trouser 99.0 / 98.3, pullover
   89.2 / 88.0, dress 92.7 / 92.2, coat 89.9 / 87.9, sandal 89.0 / 87.6, shirt 82.0 / 82.2,
   sneaker 98.6 / 98.3, bag 85.8 / 81.0, ankle boot 97.8 / 96.3; mean 91.5 ± 5.3 (AE) and
   90.2 ± 5.8 (PCA), between the cited Deep SVDD 89.2 ± 6.2 and GeoTrans 93.5.

Quick mode (5,000 images, 6 epochs, seconds), seeds 0 and 1: AE / PCA 0.76 at k = 2 and 0.88
at k = 8, but PCA wins at k = 32 (0.015 vs 0.023: too few epochs); the denoising AE beats the
plain AE on noisy inputs (0.0267 vs 0.0283; 0.0257 vs 0.0295) but not PCA (0.0254; 0.0253);
2-D 5-NN accuracy 0.62 / 0.59 (AE) vs 0.52 (PCA); mean AUROC 0.92 (AE) and 0.90 (PCA).

Design: every model is trained on the training images minus a held-out validation part
(``val_fraction``, stratified by class), with Adam and the squared error through the
Trainer (:func:`deepnotes.tasks.classification.fit_model`); each keeps the weights of its
epoch with the lowest validation MSE, and PCA's size for denoising is the one with the lowest
validation MSE on noisy validation images. The test images are read only for the reported
numbers. MSE is per pixel (images in [0, 1]), averaged over the test images.

a. code size: MLP auto-encoders (784 → ``hidden`` → k → ``hidden`` → 784, sigmoid out) and
   PCA for each k of ``code_dims``, plus one ``conv-autoencoder`` at ``conv_code``;
b. denoising: test inputs :math:`\tilde x = x + \sigma\varepsilon` (Gaussian, σ =
   ``noise_std``, no clipping), MSE of the output against the clean x for PCA, the plain AE
   and a denoising AE (the same architecture trained with fresh noise of the same σ);
c. codes: the AE with the smallest k of ``code_dims`` (2) next to PCA's 2-D projection;
d. anomaly detection: for each class c an AE (code ``anomaly_code``, fixed in advance: there
   are no anomalies to choose it on) trained on class c only; test images scored by their
   reconstruction MSE; AUROC with class c normal and the nine others anomalous
   (:func:`deepnotes.metrics.auroc`), next to PCA with the same k fitted on class c.
   Published one-class Fashion-MNIST means, *cited* in issue 13 from the literature and not
   measured here: Deep SVDD 89.2 ± 6.2, GeoTrans 93.5 (AUROC, %); they use convolutional
   networks (LeNet-style, Wide ResNet), ours is a plain MLP auto-encoder.

Notes: N8 (code, reconstruction, denoising, anomaly detection), G3 (validation split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.analysis.pca import pca_encode, pca_fit, pca_reconstruct
from deepnotes.data import load
from deepnotes.data.splits import holdout_split
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import auroc
from deepnotes.models import create
from deepnotes.nn import MSELoss
from deepnotes.runtime import seed_everything
from deepnotes.tasks.classification import fit_model
from deepnotes.train import Callback

NAME = "autoencoder"
SUMMARY = ("auto-encoders vs PCA on Fashion-MNIST: reconstruction per code size, denoising, "
           "2-D codes, one-class anomaly AUROC (N8)")
CONCEPTS = ("N8", "G3")

#: one-class Fashion-MNIST mean AUROC (%) cited in issue 13 from the literature (not measured)
PUBLISHED = {"Deep SVDD": (89.2, 6.2), "GeoTrans": (93.5, None)}


@dataclass
class Config(LessonConfig):
    # quick: 5,000 training and 1,000 test images, small models, a few epochs (seconds)
    QUICK = {"train_images": 5000, "test_images": 1000, "hidden": (128,), "epochs": 6,
             "batch_size": 64, "conv_width": 8, "anomaly_epochs": 12, "pca_ks": (2, 8, 32),
             "scatter_points": 500}

    train_images: int | None = None  # training images (None: all 60,000), validation included
    test_images: int | None = None  # test images (None: all 10,000), read for the numbers only
    val_fraction: float = 0.1  # held out of the training images for every choice (G3)
    code_dims: tuple[int, ...] = (2, 8, 32)  # code sizes k, AE vs PCA (the smallest: scatter)
    hidden: tuple[int, ...] = (256,)  # MLP auto-encoder widths (the decoder mirrors them)
    activation: str = "relu"  # relu | sigmoid | tanh | gelu
    conv_code: int = 32  # code size of the conv-autoencoder in part a (0: none)
    conv_width: int = 16  # its channels after the first convolution (2·width after the second)
    epochs: int = 20  # passes over the training images (parts a, b)
    batch_size: int = 128  # minibatch size
    lr: float = 1e-3  # Adam learning rate
    noise_std: float = 0.5  # σ of the Gaussian noise of part b (training and test)
    denoise_code: int = 32  # code size of the plain and denoising AE of part b
    pca_ks: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)  # PCA sizes for denoising (val picks)
    anomaly_code: int = 16  # code size of each one-class AE and PCA (part d)
    anomaly_epochs: int = 30  # passes over the one class's training images
    scatter_points: int = 3000  # test images drawn in the code scatter
    fused: bool = True  # torch kernels (False: our formulas)
    device: str = "cpu"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


class _KeepBest(Callback):
    """Remembers the weights of the epoch with the lowest validation loss (G3)."""

    def __init__(self) -> None:
        self.best, self.epoch, self.state = math.inf, 0, None

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        if float(row["val_loss"]) < self.best:
            self.best, self.epoch = float(row["val_loss"]), int(row["epoch"])
            self.state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def _check(cfg: Config) -> None:
    if not cfg.code_dims or min(cfg.code_dims) < 1:
        raise ConfigError(f"code_dims must be positive code sizes, got {cfg.code_dims}")
    for name in ("denoise_code", "anomaly_code", "epochs", "anomaly_epochs"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if not cfg.noise_std > 0:
        raise ConfigError(f"noise_std must be > 0, got {cfg.noise_std}")
    if not cfg.pca_ks or min(cfg.pca_ks) < 1:
        raise ConfigError(f"pca_ks must be positive sizes, got {cfg.pca_ks}")


def _train(cfg: Config, name: str, x_train: Tensor, x_val: Tensor, epochs: int,
           **model_kw: Any) -> tuple[nn.Module, dict[str, Any]]:
    """An auto-encoder fitted to reconstruct ``x_train``, with its best validation epoch's
    weights."""
    seed_everything(cfg.seed)  # the same start for every model, whatever ran before it
    if name == "autoencoder":
        model_kw = {"hidden": cfg.hidden, **model_kw}
    model = create(name, activation=cfg.activation, fused=cfg.fused, **model_kw)
    keep = _KeepBest()
    fit = fit_model(model, MSELoss(), (x_train, x_train), (x_val, x_val), optimizer="adam",
                    lr=cfg.lr, epochs=epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                    progress=cfg.progress, device=cfg.device, callbacks=(keep,))
    model.load_state_dict(keep.state)
    model.eval()
    info = {"best_epoch": keep.epoch, "val_mse": keep.best,
            "seconds": sum(r["seconds"] for r in fit.history.rows), "history": fit.history.rows}
    return model, info


@torch.no_grad()
def _apply(model: nn.Module, x: Tensor, batch: int = 2000) -> Tensor:
    """``model(x)`` in batches on the model's device; the output on the CPU."""
    device = next(model.parameters()).device
    return torch.cat([model(x[i:i + batch].to(device)).cpu() for i in range(0, len(x), batch)])


def _mse(x_hat: Tensor, x: Tensor) -> Tensor:
    """Per-image MSE over the pixels, ``(N,)``."""
    return (x_hat - x).pow(2).reshape(len(x), -1).mean(dim=1)


def _noisy(x: Tensor, std: float, seed: int) -> Tensor:
    # x̃ = x + σ·ε, one fixed draw per split
    return x + std * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


def _mosaic(ax: Any, rows: dict[str, Tensor]) -> None:
    """Rows of 28 × 28 images as one picture, each row labelled."""
    pad = 2
    lines = []
    for images in rows.values():
        tiles = [torch.nn.functional.pad(im.reshape(28, 28).clamp(0, 1), (pad,) * 4, value=0.3)
                 for im in images]
        lines.append(torch.cat(tiles, dim=1))  # (32, n·32)
    ax.imshow(torch.cat(lines, dim=0).numpy(), cmap="gray_r", vmin=0, vmax=1)
    side = 28 + 2 * pad
    ax.set_yticks([side * (i + 0.5) for i in range(len(rows))], list(rows))
    ax.set_xticks([])


def run(cfg: Config, out_dir: Path) -> LessonResult:
    _check(cfg)
    full = load("fashion-mnist", split="train", limit=cfg.train_images)
    test = load("fashion-mnist", split="test", limit=cfg.test_images)
    train, val = holdout_split(full, cfg.val_fraction, seed=cfg.seed, stratify=True)
    x_tr, x_va, x_te, y_te = train.x, val.x, test.x, test.y  # (N, 1, 28, 28) in [0, 1]
    classes = full.classes or [str(c) for c in range(10)]
    metrics: dict[str, float] = {"train_images": float(len(train)),
                                 "val_images": float(len(val)), "test_images": float(len(test))}
    training: list[dict[str, Any]] = []

    def note(label: str, info: dict[str, Any]) -> None:
        training.append({"model": label, "best_epoch": info["best_epoch"],
                         "val_mse": info["val_mse"], "seconds": info["seconds"]})

    # ---- a. reconstruction per code size: AE vs PCA (the linear auto-encoder)
    # one SVD: the top-j components are the same for every k >= j
    k_max = min(max(*cfg.code_dims, *cfg.pca_ks, cfg.denoise_code), len(x_tr), x_tr[0].numel())
    mean, comps = pca_fit(x_tr, k_max)  # (D,), (k_max, D)
    aes: dict[int, nn.Module] = {}
    infos: dict[int, dict[str, Any]] = {}
    size_rows = []
    for k in sorted(set(cfg.code_dims) | {cfg.denoise_code}):
        aes[k], infos[k] = _train(cfg, "autoencoder", x_tr, x_va, cfg.epochs, code_dim=k)
        note(f"AE k={k}", infos[k])
    for k in cfg.code_dims:
        ae = _mse(_apply(aes[k], x_te), x_te).mean().item()
        pca = _mse(pca_reconstruct(x_te, mean, comps[:k]), x_te).mean().item()
        metrics[f"ae_mse_k{k}"], metrics[f"pca_mse_k{k}"] = ae, pca
        size_rows.append({"code_dim": k, "ae_mse": ae, "pca_mse": pca, "ae_over_pca": ae / pca})
    conv = None
    if cfg.conv_code > 0:
        conv, info = _train(cfg, "conv-autoencoder", x_tr, x_va, cfg.epochs,
                            code_dim=cfg.conv_code, width=cfg.conv_width)
        note(f"conv AE k={cfg.conv_code}", info)
        metrics[f"conv_mse_k{cfg.conv_code}"] = _mse(_apply(conv, x_te), x_te).mean().item()

    # ---- b. denoising: noisy test inputs, MSE against the clean images
    dae, info = _train(cfg, "autoencoder", x_tr, x_va, cfg.epochs, code_dim=cfg.denoise_code,
                       noise_std=cfg.noise_std)
    note(f"denoising AE k={cfg.denoise_code}", info)
    noisy_va = _noisy(x_va, cfg.noise_std, cfg.seed + 1)
    noisy_te = _noisy(x_te, cfg.noise_std, cfg.seed + 2)
    ks = [k for k in cfg.pca_ks if k <= k_max]
    val_pca = {k: _mse(pca_reconstruct(noisy_va, mean, comps[:k]), x_va).mean().item()
               for k in ks}
    k_star = min(val_pca, key=val_pca.get)  # PCA's size, chosen on validation
    plain = aes[cfg.denoise_code]
    outs = {"noisy input": noisy_te,
            f"PCA k={k_star}": pca_reconstruct(noisy_te, mean, comps[:k_star]),
            "plain AE": _apply(plain, noisy_te), "denoising AE": _apply(dae, noisy_te)}
    for key, label in (("noisy_input", "noisy input"), ("pca_denoise", f"PCA k={k_star}"),
                       ("ae_noisy", "plain AE"), ("dae_noisy", "denoising AE")):
        metrics[f"{key}_mse"] = _mse(outs[label], x_te).mean().item()
    metrics["pca_denoise_k"] = float(k_star)
    metrics["dae_clean_mse"] = _mse(_apply(dae, x_te), x_te).mean().item()
    metrics["ae_clean_mse"] = _mse(_apply(plain, x_te), x_te).mean().item()

    # ---- c. 2-D codes: how well the classes separate (5-NN accuracy), and the scatter
    n_sc = min(cfg.scatter_points, len(x_te))
    codes2 = {"ae": _codes(aes[min(cfg.code_dims)], x_te[:n_sc])[:, :2],
              "pca": pca_encode(x_te[:n_sc], mean, comps[:2])}
    for key, code in codes2.items():
        metrics[f"{key}_code_knn_accuracy"] = knn_accuracy(code, y_te[:n_sc])

    # ---- d. anomaly detection: one AE per normal class, score = reconstruction MSE
    anomaly_rows = []
    for c, cname in enumerate(classes):
        xc_tr, xc_va = x_tr[train.y == c], x_va[val.y == c]
        model, info = _train(cfg, "autoencoder", xc_tr, xc_va, cfg.anomaly_epochs,
                             code_dim=cfg.anomaly_code)
        note(f"one-class AE {cname}", info)
        mu_c, comps_c = pca_fit(xc_tr, min(cfg.anomaly_code, len(xc_tr)))
        anomalous = y_te != c  # positives: the other nine classes
        ae_auc = auroc(_mse(_apply(model, x_te), x_te), anomalous)
        pca_auc = auroc(_mse(pca_reconstruct(x_te, mu_c, comps_c), x_te), anomalous)
        metrics[f"ae_auroc_{c}"], metrics[f"pca_auroc_{c}"] = ae_auc, pca_auc
        anomaly_rows.append({"normal_class": cname, "ae_auroc": ae_auc, "pca_auroc": pca_auc})
    for key in ("ae", "pca"):
        values = torch.tensor([r[f"{key}_auroc"] for r in anomaly_rows], dtype=torch.float64)
        metrics[f"{key}_auroc_mean"] = values.mean().item()
        metrics[f"{key}_auroc_std"] = values.std(unbiased=False).item()

    # ---- figures
    figures = [
        _fig_reconstructions(out_dir, x_te, y_te, cfg, aes, conv, mean, comps),
        _fig_sizes(out_dir, x_te, mean, comps, ks, size_rows),
        _fig_denoising(out_dir, x_te, y_te, outs),
        _fig_codes(out_dir, codes2, y_te[:n_sc], classes, min(cfg.code_dims)),
        _fig_anomaly(out_dir, anomaly_rows, metrics),
    ]
    published = [{"method": m, "mean_auroc": mu, "std": sd,
                  "source": "cited in issue 13 from the literature, not measured here"}
                 for m, (mu, sd) in PUBLISHED.items()]
    return LessonResult(
        NAME, metrics, figures, infos[max(cfg.code_dims)]["history"],
        claim="a non-linear auto-encoder reconstructs better than PCA at equal code size, a "
              "denoising AE removes noise better than a plain one, and one-class AEs flag "
              "other classes by their reconstruction error",
        tables={"code_size": size_rows, "denoising_pca_val": [
            {"k": k, "val_mse": v, "chosen": k == k_star} for k, v in val_pca.items()],
            "anomaly": anomaly_rows, "published": published, "training": training})


def _one_per_class(y: Tensor) -> list[int]:
    return [int(torch.nonzero(y == c)[0]) for c in range(10) if (y == c).any()]


def _fig_reconstructions(out_dir: Path, x: Tensor, y: Tensor, cfg: Config,
                         aes: dict[int, nn.Module], conv: nn.Module | None, mean: Tensor,
                         comps: Tensor) -> str:
    idx = _one_per_class(y)
    xs = x[idx]
    rows = {"original": xs}
    for k in cfg.code_dims:
        rows[f"PCA k={k}"] = pca_reconstruct(xs, mean, comps[:k])
        rows[f"AE k={k}"] = _apply(aes[k], xs)
    if conv is not None:
        rows[f"conv AE k={cfg.conv_code}"] = _apply(conv, xs)
    fig, ax = subplots(figsize=(8, 0.8 * len(rows) + 0.6))
    _mosaic(ax, rows)
    ax.set_title("test images and their reconstructions (N8)")
    return save_figure(fig, out_dir / "reconstructions.png")


def _fig_sizes(out_dir: Path, x: Tensor, mean: Tensor, comps: Tensor, ks: list[int],
               size_rows: list[dict[str, Any]]) -> str:
    fig, ax = subplots(figsize=(5, 3.5))
    all_k = sorted(set(ks) | {r["code_dim"] for r in size_rows})
    pca = [_mse(pca_reconstruct(x, mean, comps[:k]), x).mean().item() for k in all_k]
    ax.plot(all_k, pca, "o-", label="PCA (linear AE)")
    ax.plot([r["code_dim"] for r in size_rows], [r["ae_mse"] for r in size_rows], "s-",
            label="MLP auto-encoder")
    ax.set(xscale="log", yscale="log", xlabel="code size k", ylabel="test MSE per pixel",
           title="reconstruction error vs code size")
    ax.legend()
    return save_figure(fig, out_dir / "mse_vs_code.png")


def _fig_denoising(out_dir: Path, x: Tensor, y: Tensor, outs: dict[str, Tensor]) -> str:
    idx = _one_per_class(y)
    rows = {"clean": x[idx], **{k: v[idx] for k, v in outs.items()}}
    fig, ax = subplots(figsize=(8, 0.8 * len(rows) + 0.6))
    _mosaic(ax, rows)
    ax.set_title("denoising: noisy test inputs and the outputs")
    return save_figure(fig, out_dir / "denoising.png")


def _fig_codes(out_dir: Path, codes: dict[str, Tensor], y: Tensor, classes: list[str],
               k: int) -> str:
    fig, axes = subplots(1, 2, figsize=(11, 4.8))
    ae_title = "AE code (k=2)" if k == 2 else f"AE code: first 2 of k={k}"
    for ax, key, title in ((axes[0], "ae", ae_title),
                           (axes[1], "pca", "PCA: first two components")):
        for c, name in enumerate(classes):
            pts = codes[key][y == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.6, label=name, color=f"C{c}")
        ax.set(title=title, xlabel="z1", ylabel="z2")
    axes[1].legend(markerscale=3, fontsize=7, loc="best")
    return save_figure(fig, out_dir / "codes_2d.png")


@torch.no_grad()
def _codes(ae: nn.Module, x: Tensor) -> Tensor:
    device = next(ae.parameters()).device
    return ae.encode(x.to(device)).cpu()  # (N, k)


def knn_accuracy(code: Tensor, y: Tensor, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy of the labels ``y`` from the codes: how well
    the classes separate in the code space (majority vote, ties to the lower class).

    Example:
        >>> code = torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
        >>> knn_accuracy(code, torch.tensor([0, 0, 0, 1, 1, 1]), k=2)
        1.0
    """
    dist = torch.cdist(code.double(), code.double())  # (N, N)
    dist.fill_diagonal_(math.inf)  # leave each point out of its own vote
    nearest = dist.topk(k, largest=False).indices  # (N, k)
    votes = torch.nn.functional.one_hot(y[nearest], int(y.max()) + 1).sum(dim=1)  # (N, C)
    return (votes.argmax(dim=1) == y).double().mean().item()


def _fig_anomaly(out_dir: Path, rows: list[dict[str, Any]], metrics: dict[str, float]) -> str:
    fig, ax = subplots(figsize=(8, 3.8))
    pos = torch.arange(len(rows), dtype=torch.float64)
    ax.bar(pos - 0.2, [100 * r["ae_auroc"] for r in rows], 0.4,
           label=f"AE (mean {100 * metrics['ae_auroc_mean']:.1f})")
    ax.bar(pos + 0.2, [100 * r["pca_auroc"] for r in rows], 0.4,
           label=f"PCA (mean {100 * metrics['pca_auroc_mean']:.1f})")
    for i, (method, (mu, _)) in enumerate(PUBLISHED.items()):
        ax.axhline(mu, color=f"C{i + 3}", ls="--", lw=1, label=f"{method} mean {mu} (cited)")
    ax.set_xticks(pos.tolist(), [r["normal_class"] for r in rows], rotation=30, fontsize=8)
    ax.set(ylim=(40, 100), ylabel="AUROC (%)", title="one-class anomaly detection: class c "
                                                     "normal, the others anomalous")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, out_dir / "anomaly_auroc.png")
