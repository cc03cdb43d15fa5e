"""Overfitting, and telling it apart from an optimisation failure.

Claims (notes G1, G2; d2l 3.6/4.4; He et al. 2016, the notes' 56-layer vs 20-layer figure):

1. **Overfitting (G1).** A flexible model fitted to a few noisy points of a quadratic passes
   through every training point (training error ≈ 0) and swings wildly between them (large test
   error), while the right-size model (degree 2) has a small error on both. Data: 10 points
   x ~ U(-1, 1), y = 1 + 2x - 3x² + ε, ε ~ N(0, 0.1²); test: 1,000 fresh noisy points between the
   smallest and largest training x (so no extrapolation). Models:
   polynomials of degree 0 ... 9 fitted by least squares (degree 9 interpolates the 10 points).
2. **Training loss is the first diagnostic (G2).** A 20-layer plain ReLU MLP (no residual
   connections, no normalisation) trained exactly like a 4-layer one ends with a *higher
   training* loss. This is not model bias: the 20-layer net can represent the 4-layer net
   exactly (16 identity layers in between, identity ∘ ReLU = identity on the non-negative hidden
   activations), which the lesson checks by building that net; so the gap is a failure of
   optimisation. Data: Fashion-MNIST, width 128, 10 epochs (quick: 2,000 training and 2,000
   test images, width 64, 5 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepnotes.data import MiniBatches, load
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import accuracy
from deepnotes.models import create
from deepnotes.models.linear import normal_equation
from deepnotes.nn import CrossEntropyLoss
from deepnotes.tasks.classification import fit_classifier
from deepnotes.train import TrainConfig, Trainer
from deepnotes.train.checkpoint import save_model

NAME = "overfitting"
SUMMARY = ("degree-9 fit of 10 quadratic points: train ≈ 0, test large; deeper plain net trains "
           "worse (G1, G2)")
CONCEPTS = ("G1", "G2")

_COEF = (1.0, 2.0, -3.0)  # true quadratic y = 1 + 2x - 3x²


@dataclass
class Config(LessonConfig):
    # quick: the depth comparison on 2,000 training and 2,000 test images, width 64, 5 epochs
    QUICK = {"width": 64, "train_images": 2000, "test_images": 2000, "epochs": 5}

    n_points: int = 10  # training points of the quadratic
    noise: float = 0.1  # standard deviation of the noise on y
    max_degree: int = 9  # highest polynomial degree fitted (n_points - 1 interpolates)
    shallow_layers: int = 4  # affine layers in the shallow plain net
    deep_layers: int = 20  # affine layers in the deep plain net
    width: int = 128  # hidden width of both nets
    train_images: int = 60000  # Fashion-MNIST training images
    test_images: int | None = None  # Fashion-MNIST test images (None: all 10,000)
    epochs: int = 10  # epochs for both nets
    batch_size: int = 64  # minibatch size for both nets
    lr: float = 0.05  # SGD learning rate for both nets


def _quadratic(x: torch.Tensor) -> torch.Tensor:
    return _COEF[0] + _COEF[1] * x + _COEF[2] * x * x


def _powers(x: torch.Tensor, degree: int) -> torch.Tensor:
    # features x, x², ..., x^degree (the constant is the normal equation's bias)
    return torch.stack([x ** i for i in range(1, degree + 1)], dim=1)  # (N, degree)


def _poly_fit(x: torch.Tensor, y: torch.Tensor, degree: int):
    if degree == 0:
        b = y.mean()
        return lambda t: torch.full_like(t, float(b))
    w, b = normal_equation(_powers(x, degree), y)
    return lambda t: _powers(t, degree) @ w + b


def _polynomials(cfg: Config) -> tuple[list[dict], dict]:
    gen = torch.Generator().manual_seed(cfg.seed)
    x_tr = torch.rand(cfg.n_points, generator=gen, dtype=torch.float64) * 2 - 1
    noise = torch.randn(cfg.n_points, generator=gen, dtype=torch.float64)
    y_tr = _quadratic(x_tr) + cfg.noise * noise
    # test points between the training points (no extrapolation beyond them)
    lo, hi = float(x_tr.min()), float(x_tr.max())
    x_te = lo + (hi - lo) * torch.rand(1000, generator=gen, dtype=torch.float64)
    y_te = _quadratic(x_te) + cfg.noise * torch.randn(1000, generator=gen, dtype=torch.float64)
    rows, fits = [], {}
    for d in range(cfg.max_degree + 1):
        f = _poly_fit(x_tr, y_tr, d)
        fits[d] = f
        rows.append({"degree": d,
                     "train_mse": float(((f(x_tr) - y_tr) ** 2).mean()),
                     "test_mse": float(((f(x_te) - y_te) ** 2).mean()),
                     # distance to the noiseless curve between the points
                     "curve_mse": float(((f(x_te) - _quadratic(x_te)) ** 2).mean())})
    return rows, {"x": x_tr, "y": y_tr, "fits": fits}


def _he_init(model: nn.Module) -> None:
    # w ~ N(0, 2/fan_in), b = 0: keeps the signal's scale through ReLU layers (He et al. 2015),
    # so the deep plain net starts as well-conditioned as a plain net can.
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


@torch.no_grad()
def embed_shallow(shallow: nn.Module, deep: nn.Module) -> nn.Module:
    """Copy ``shallow`` into ``deep`` (same width) with identity layers in between; return ``deep``.

    Hidden activations after a ReLU are non-negative, so a layer with ``W = I, b = 0`` followed by
    ReLU passes them through unchanged: the deep net then computes exactly the shallow net's
    function, proving the deep net's family contains the shallow one's.
    """
    s_lin = [m for m in shallow.modules() if isinstance(m, nn.Linear)]
    d_lin = [m for m in deep.modules() if isinstance(m, nn.Linear)]
    # first L_s - 1 layers copied, then identities, then the shallow output layer
    for src, dst in zip(s_lin[:-1], d_lin[: len(s_lin) - 1]):
        dst.weight.copy_(src.weight)
        dst.bias.copy_(src.bias)
    for dst in d_lin[len(s_lin) - 1: -1]:
        dst.weight.copy_(torch.eye(dst.weight.shape[0]))
        dst.bias.zero_()
    d_lin[-1].weight.copy_(s_lin[-1].weight)
    d_lin[-1].bias.copy_(s_lin[-1].bias)
    return deep


def _depths(cfg: Config, out_dir: Path) -> tuple[dict, dict]:
    epochs, width = cfg.epochs, cfg.width
    train = load("fashion-mnist", split="train", limit=cfg.train_images)
    test = load("fashion-mnist", split="test", limit=cfg.test_images)
    train_eval = MiniBatches(train, batch_size=2048, shuffle=False)
    runs = {}
    for layers in (cfg.shallow_layers, cfg.deep_layers):
        torch.manual_seed(cfg.seed)
        model = create("mlp", in_features=784, hidden=(width,) * (layers - 1), num_classes=10)
        _he_init(model)
        fit = fit_classifier(model, train, test, optimizer="sgd", lr=cfg.lr, epochs=epochs,
                             batch_size=cfg.batch_size, seed=cfg.seed, progress=False, device="cpu")
        final = fit.trainer.evaluate(train_eval)  # training loss of the final weights, eval mode
        runs[layers] = {"model": model, "fit": fit, "train": final}
    shallow, deep = runs[cfg.shallow_layers], runs[cfg.deep_layers]
    holder = create("mlp", in_features=784, hidden=(width,) * (cfg.deep_layers - 1), num_classes=10)
    embedded = embed_shallow(shallow["model"], holder)
    judge = Trainer(embedded, None, CrossEntropyLoss(), None, metrics={"accuracy": accuracy},
                    config=TrainConfig(device="cpu"))
    embedded_train = judge.evaluate(train_eval)
    metrics = {
        "shallow_train_loss": shallow["train"]["loss"],
        "deep_train_loss": deep["train"]["loss"],
        "shallow_train_accuracy": shallow["train"]["accuracy"],
        "deep_train_accuracy": deep["train"]["accuracy"],
        "shallow_test_loss": shallow["fit"].test["loss"],
        "deep_test_loss": deep["fit"].test["loss"],
        "shallow_test_accuracy": shallow["fit"].test["accuracy"],
        "deep_test_accuracy": deep["fit"].test["accuracy"],
        "deep_with_shallow_inside_train_loss": embedded_train["loss"],
        "depth_train_images": float(len(train)),
        "depth_epochs": float(epochs),
        "shallow_seconds": float(sum(r["seconds"] for r in shallow["fit"].history.rows)),
        "deep_seconds": float(sum(r["seconds"] for r in deep["fit"].history.rows)),
    }
    return metrics, runs


def run(cfg: Config, out_dir: Path) -> LessonResult:
    poly_rows, poly = _polynomials(cfg)
    right, flexible = poly_rows[2], poly_rows[cfg.max_degree]
    metrics = {
        "right_degree_train_mse": right["train_mse"],
        "right_degree_test_mse": right["test_mse"],
        "flexible_degree": float(cfg.max_degree),
        "flexible_train_mse": flexible["train_mse"],
        "flexible_test_mse": flexible["test_mse"],
        "noise_variance": cfg.noise ** 2,
    }
    depth_metrics, runs = _depths(cfg, out_dir)
    metrics.update(depth_metrics)
    shallow_hist = runs[cfg.shallow_layers]["fit"].history
    deep_hist = runs[cfg.deep_layers]["fit"].history
    history = [{"epoch": a["epoch"], "shallow_train_loss": a["train_loss"],
                "deep_train_loss": b["train_loss"], "shallow_val_loss": a["val_loss"],
                "deep_val_loss": b["val_loss"]}
               for a, b in zip(shallow_hist.rows, deep_hist.rows)]
    figures = _plot(out_dir, cfg, poly_rows, poly, history)
    return LessonResult(NAME, metrics, figures, history,
                        claim=(f"degree {cfg.max_degree} on {cfg.n_points} noisy points of a "
                               f"quadratic: training error ≈ 0, test error far above degree 2's; a "
                               f"{cfg.deep_layers}-layer plain net trains to a higher training "
                               f"loss than a {cfg.shallow_layers}-layer one although it can "
                               f"represent it exactly (optimisation, not bias)"),
                        tables={"polynomial_degrees": poly_rows},
                        checkpoint=save_model(runs[cfg.shallow_layers]["model"], out_dir))


def _plot(out_dir: Path, cfg: Config, rows: list[dict], poly: dict,
          history: list[dict]) -> list[str]:
    fig, axes = subplots(1, 3, figsize=(15, 4))
    grid = torch.linspace(float(poly["x"].min()), float(poly["x"].max()), 400, dtype=torch.float64)
    ax = axes[0]
    ax.plot(grid, _quadratic(grid), "k--", lw=1, label="true quadratic")
    ax.plot(grid, poly["fits"][2](grid), label="degree 2")
    ax.plot(grid, poly["fits"][cfg.max_degree](grid), label=f"degree {cfg.max_degree}")
    ax.plot(poly["x"], poly["y"], "ko", ms=4, label="training points")
    lo, hi = float(poly["y"].min()), float(poly["y"].max())
    ax.set_ylim(lo - 1.5, hi + 1.5)
    ax.set_xlabel("x")
    ax.set_title(f"{cfg.n_points} noisy points of a quadratic")
    ax.legend(fontsize=8)
    ax = axes[1]
    degrees = [r["degree"] for r in rows]
    ax.semilogy(degrees, [max(r["train_mse"], 1e-16) for r in rows], "o-", label="training MSE")
    ax.semilogy(degrees, [r["test_mse"] for r in rows], "s-", label="test MSE")
    ax.axhline(cfg.noise ** 2, color="0.5", lw=0.8, ls=":", label="noise variance")
    ax.set_xlabel("polynomial degree")
    ax.set_title("training error falls, test error is U-shaped")
    ax.legend(fontsize=8)
    ax = axes[2]
    ep = [h["epoch"] for h in history]
    for net, colour in (("shallow", "C0"), ("deep", "C3")):
        layers = cfg.shallow_layers if net == "shallow" else cfg.deep_layers
        ax.plot(ep, [h[f"{net}_train_loss"] for h in history], f"{colour}-",
                label=f"{layers}-layer train")
        ax.plot(ep, [h[f"{net}_val_loss"] for h in history], f"{colour}--",
                label=f"{layers}-layer test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title("plain nets: the deeper one trains worse")
    ax.legend(fontsize=8)
    return [save_figure(fig, out_dir / "overfitting.png")]
