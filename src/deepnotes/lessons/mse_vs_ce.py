"""MSE vs cross-entropy for classification: far from the optimum MSE is flat, CE is steep.

Claim (notes O8): with softmax outputs, the mean squared error to the one-hot label saturates
when the model is confidently wrong (every softmax output is at 0 or 1, so its derivative
p(1−p) vanishes), whereas cross-entropy −log p_y keeps a slope of about 1 per unit of logit.
Started from the same bad point with the same optimizer and steps, CE training gets out and
reaches a low loss and high accuracy; MSE training barely moves ("it can get stuck"). From a
good start (zero weights) both work: the difference is the flat region, not the minimum.

Data: a two-class subset of Fashion-MNIST (default: sneaker vs ankle boot).
Part 1 (the notes' picture): a 2-parameter classifier p(class 1) = softmax([0, w·s + b])₁ on a
1-D feature s (the image projected on the difference of the class means, standardised); the
MSE and CE error surfaces over a (w, b) grid and gradient-descent paths from a bad start.
Part 2: softmax regression on all 784 pixels started as the mirror image of a mean-difference
classifier (confidently wrong on most images), trained with minibatch SGD on each loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from deepnotes import functional as F
from deepnotes.data import MiniBatches, load
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.optim import create_optimizer
from deepnotes.train.checkpoint import save_model

NAME = "mse-vs-ce"
SUMMARY = "MSE (softmax) is flat where cross-entropy is steep: stuck vs trained from bad start (O8)"
CONCEPTS = ("O8", "B3")


@dataclass
class Config(LessonConfig):
    # quick: 4,000 training and 1,000 test images, 2 epochs in part 2 (tests)
    QUICK = {"train_images": 4000, "test_images": 1000, "epochs": 2}

    classes: tuple[int, int] = (7, 9)  # Fashion-MNIST labels: 7 sneaker, 9 ankle boot
    grid: int = 81  # points per axis of the (w, b) error-surface grid
    span: float = 10.0  # the grid covers w, b in [-span, span]
    start: tuple[float, float] = (-6.0, 3.0)  # bad (w, b) start of the 2-parameter model
    toy_lr: float = 1.0  # gradient-descent step of the 2-parameter model
    toy_steps: int = 200  # gradient-descent steps of the 2-parameter model
    margin: float = 8.0  # part 2 start: median logit margin of the wrong class
    lr: float = 0.03  # part 2 SGD learning rate (both losses)
    epochs: int = 5  # part 2 epochs
    batch_size: int = 64  # part 2 minibatch size
    train_images: int | None = None  # first training images of the two classes (None: 12,000)
    test_images: int | None = None  # first test images of the two classes (None: all 2,000)


def softmax_mse(logits: Tensor, target: Tensor) -> Tensor:
    r"""The notes' MSE for classification: :math:`\frac1N\sum_i\sum_c (\mathrm{softmax}(o_i)_c
    - \hat y_{ic})^2` with one-hot :math:`\hat y`."""
    p = F.softmax(logits, dim=-1)  # (N, C)
    onehot = torch.nn.functional.one_hot(target, p.shape[-1]).to(p)  # (N, C)
    return F.mse_loss(p, onehot, reduction="sum") / p.shape[0]


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    r""":math:`\frac1N\sum_i -\log \mathrm{softmax}(o_i)_{y_i}` (stable, from logits)."""
    return F.cross_entropy(logits, target)


LOSSES = {"mse": softmax_mse, "ce": cross_entropy}


def _two_classes(split: str, classes: tuple[int, int], limit: int | None):
    ds = load("fashion-mnist", split=split)
    keep = (ds.y == classes[0]) | (ds.y == classes[1])
    x = ds.x[keep].reshape(-1, 784).double()  # (N, 784)
    y = (ds.y[keep] == classes[1]).long()  # class 1 = classes[1]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


def run(cfg: Config, out_dir: Path) -> LessonResult:
    torch.manual_seed(cfg.seed)
    x_tr, y_tr = _two_classes("train", cfg.classes, cfg.train_images)
    x_te, y_te = _two_classes("test", cfg.classes, cfg.test_images)
    # the direction between the class means and the midpoint: a 1-D feature for part 1
    mu0, mu1 = x_tr[y_tr == 0].mean(0), x_tr[y_tr == 1].mean(0)
    d, mid = mu1 - mu0, (mu0 + mu1) / 2
    proj = (x_tr - mid) @ d
    scale = float(proj.std())
    s_tr, s_te = proj / scale, ((x_te - mid) @ d) / scale  # (N,) standardised feature

    metrics, toy = _part1(cfg, s_tr, y_tr, s_te, y_te)
    part2, curves, model = _part2(cfg, x_tr, y_tr, x_te, y_te, d, mid)
    metrics.update(part2)
    figures = [_surface_figure(cfg, toy, out_dir), _training_figure(curves, out_dir)]
    claim = (f"from the same bad start, CE reaches test accuracy "
             f"{metrics['linear_ce_test_accuracy']:.3f} and MSE "
             f"{metrics['linear_mse_test_accuracy']:.3f}; at the start MSE's gradient is "
             f"{metrics['toy_start_grad_ratio']:.0f}x smaller than CE's (2-parameter model)")
    return LessonResult(NAME, metrics, figures, [], claim=claim,
                        checkpoint=save_model(model, out_dir))


# ------------------------------------------------------------------ part 1: two parameters

def _toy_losses(w: Tensor, b: Tensor, s: Tensor, y: Tensor,
                which: tuple[str, ...] = ("ce", "mse", "accuracy")) -> dict[str, Tensor]:
    r"""The losses (and accuracy) at parameter arrays w, b (same shape), averaged over data.

    With logits :math:`o = [0, z]`, :math:`z = ws + b`, the softmax is
    :math:`p_1 = \sigma(z)`, so :math:`\mathrm{CE} = \mathrm{softplus}(z) - y z` and
    :math:`\mathrm{MSE} = (p_0 - [y=0])^2 + (p_1 - [y=1])^2 = 2(\sigma(z) - y)^2`, the same
    numbers as :func:`cross_entropy` and :func:`softmax_mse` on ``[0, z]``, computed without
    materialising the two logits for a whole grid.
    """
    z = w[..., None] * s + b[..., None]  # (..., N)
    t = y.to(z)
    out = {}
    if "ce" in which:
        # softplus(z) = log(1 + e^z), exactly (torch's softplus switches to z above 20)
        out["ce"] = (torch.logaddexp(torch.zeros_like(z), z) - t * z).mean(-1)
    if "mse" in which:
        out["mse"] = (2 * (torch.sigmoid(z) - t) ** 2).mean(-1)
    if "accuracy" in which:
        out["accuracy"] = ((z > 0).to(z) == t).to(z).mean(-1)
    return out


def _part1(cfg: Config, s_tr, y_tr, s_te, y_te):
    ws = torch.linspace(-cfg.span, cfg.span, cfg.grid, dtype=torch.float64)
    bs = torch.linspace(-cfg.span, cfg.span, cfg.grid, dtype=torch.float64)
    sub = slice(0, 2000)  # the surfaces on 2,000 images are indistinguishable from all of them
    surf = {"ce": [], "mse": []}
    for w in ws:  # one row of the grid at a time keeps memory small
        row = _toy_losses(w.expand(len(bs)), bs, s_tr[sub], y_tr[sub], ("ce", "mse"))
        for k in surf:
            surf[k].append(row[k])
    surf = {k: torch.stack(v) for k, v in surf.items()}  # (G, G): [w index, b index]

    metrics: dict[str, float] = {}
    paths = {}
    start = torch.tensor(cfg.start, dtype=torch.float64)
    for name in ("ce", "mse"):
        theta = start.clone().requires_grad_()
        path = [theta.detach().clone()]
        grad0 = None
        for _ in range(cfg.toy_steps):
            loss = _toy_losses(theta[0], theta[1], s_tr, y_tr, (name,))[name]
            (g,) = torch.autograd.grad(loss, theta)
            if grad0 is None:
                grad0 = float(g.norm())
            with torch.no_grad():
                # θ ← θ − η·∇L
                theta -= cfg.toy_lr * g
            path.append(theta.detach().clone())
        paths[name] = torch.stack(path)
        with torch.no_grad():
            end_train = _toy_losses(theta[0], theta[1], s_tr, y_tr)
            end_test = _toy_losses(theta[0], theta[1], s_te, y_te)
        metrics[f"toy_{name}_start_grad_norm"] = grad0
        metrics[f"toy_{name}_final_loss"] = float(end_train[name])
        metrics[f"toy_{name}_final_test_accuracy"] = float(end_test["accuracy"])
        metrics[f"toy_{name}_distance_moved"] = float((theta.detach() - start).norm())
    metrics["toy_start_grad_ratio"] = (metrics["toy_ce_start_grad_norm"]
                                       / metrics["toy_mse_start_grad_norm"])
    # how flat each surface is where the model is mostly wrong (accuracy < 0.5 on the grid)
    W, B = torch.meshgrid(ws, bs, indexing="ij")
    acc = _toy_losses(W, B, s_tr[sub], y_tr[sub], ("accuracy",))["accuracy"]
    step = float(ws[1] - ws[0])
    for name in ("ce", "mse"):
        gw, gb = torch.gradient(surf[name], spacing=step)
        gnorm = (gw ** 2 + gb ** 2).sqrt()
        metrics[f"toy_{name}_median_slope_wrong_region"] = float(gnorm[acc < 0.5].median())
    start_acc = _toy_losses(start[0], start[1], s_tr, y_tr)["accuracy"]
    metrics["toy_start_train_accuracy"] = float(start_acc)
    return metrics, {"ws": ws, "bs": bs, "surf": surf, "paths": paths}


# ------------------------------------------------------------ part 2: softmax regression

def _bad_start(model, x, d: Tensor, mid: Tensor, margin: float) -> None:
    """Weights of a mean-difference classifier, mirrored: o₁ − o₀ = −c·(x − mid)·d, with c
    set so that the median |o₁ − o₀| over the training images is ``margin``."""
    score = (x - mid) @ d
    c = margin / float(score.abs().median())
    with torch.no_grad():
        model.linear.weight.copy_(torch.stack([d, -d]) * (c / 2))  # (2, 784)
        model.linear.bias.copy_(torch.stack([-(mid @ d), mid @ d]) * (c / 2))


def _evaluate(model, x, y) -> dict[str, float]:
    with torch.no_grad():
        o = model(x)
        return {"ce": float(cross_entropy(o, y)), "mse": float(softmax_mse(o, y)),
                "accuracy": float((o.argmax(-1) == y).double().mean())}


def _train(cfg: Config, loss_name: str, start: str, x_tr, y_tr, x_te, y_te, d, mid, epochs):
    model = create("softmax-regression", in_features=784, num_classes=2).double()
    if start == "bad":
        _bad_start(model, x_tr, d, mid, cfg.margin)
    else:
        with torch.no_grad():
            model.linear.weight.zero_()
            model.linear.bias.zero_()
    opt = create_optimizer("sgd", model.parameters(), lr=cfg.lr)
    batches = MiniBatches((x_tr, y_tr), batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed)
    loss_fn = LOSSES[loss_name]
    curve = [(0, _evaluate(model, x_tr, y_tr)[loss_name])]
    step = 0
    for _ in range(epochs):
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            step += 1
            if step % 10 == 0:
                curve.append((step, _evaluate(model, x_tr, y_tr)[loss_name]))
    return model, curve, _evaluate(model, x_tr, y_tr), _evaluate(model, x_te, y_te)


def _part2(cfg: Config, x_tr, y_tr, x_te, y_te, d, mid):
    epochs = cfg.epochs
    metrics: dict[str, float] = {}
    curves = {}
    keep = None
    for start in ("bad", "zero"):
        for name in ("ce", "mse"):
            model, curve, train, test = _train(cfg, name, start, x_tr, y_tr, x_te, y_te, d,
                                               mid, epochs)
            prefix = "linear" if start == "bad" else "linear_zero_start"
            metrics[f"{prefix}_{name}_train_loss"] = train[name]
            metrics[f"{prefix}_{name}_test_accuracy"] = test["accuracy"]
            curves[(start, name)] = curve
            if start == "bad" and name == "ce":
                keep = model
            if start == "bad":
                metrics[f"linear_{name}_start_loss"] = curve[0][1]
    model = create("softmax-regression", in_features=784, num_classes=2).double()
    _bad_start(model, x_tr, d, mid, cfg.margin)
    metrics["linear_start_train_accuracy"] = _evaluate(model, x_tr, y_tr)["accuracy"]
    for name, fn in LOSSES.items():
        model.zero_grad()
        fn(model(x_tr), y_tr).backward()
        metrics[f"linear_{name}_start_grad_norm"] = float(
            sum((p.grad ** 2).sum() for p in model.parameters()).sqrt())
    metrics["epochs"] = float(epochs)
    metrics["train_examples"] = float(len(y_tr))
    return metrics, curves, keep


# ------------------------------------------------------------------------------- figures

def _surface_figure(cfg: Config, toy, out_dir: Path) -> str:
    fig, axes = subplots(1, 2, figsize=(11.5, 4.8))
    W, B = torch.meshgrid(toy["ws"], toy["bs"], indexing="ij")
    titles = {"mse": "MSE of softmax vs one-hot", "ce": "cross-entropy"}
    for ax, name in zip(axes, ("mse", "ce")):
        cs = ax.contourf(W.numpy(), B.numpy(), toy["surf"][name].numpy(), levels=30,
                         cmap="viridis")
        fig.colorbar(cs, ax=ax)
        for other, colour in (("ce", "tab:red"), ("mse", "white")):
            p = toy["paths"][other].numpy()
            ax.plot(p[:, 0], p[:, 1], color=colour, lw=1.5, label=f"GD on {other.upper()}")
        ax.plot(*cfg.start, "o", color="orange", label="start")
        ax.set_xlabel("w")
        ax.set_ylabel("b")
        ax.set_title(titles[name])
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Error surfaces of the 2-parameter classifier (same data, same paths)")
    return save_figure(fig, out_dir / "mse_vs_ce_surfaces.png")


def _training_figure(curves, out_dir: Path) -> str:
    fig, ax = subplots(figsize=(6.5, 4.2))
    for (start, name), curve in curves.items():
        ax.plot([c[0] for c in curve], [c[1] for c in curve], "-" if start == "bad" else ":",
                label=f"{name.upper()} from {start} start")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss (its own loss)")
    ax.set_yscale("log")
    ax.set_title("Softmax regression, same SGD, same steps")
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir / "mse_vs_ce_training.png")
