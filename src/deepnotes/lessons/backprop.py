"""Backpropagation by hand: a computation graph, its forward and backward passes, and an MLP
trained with our own autodiff engine to the same weights as ``torch.autograd``.

Claim (notes B10): the forward pass evaluates a computation graph and records it; the backward
pass visits the same graph in reverse topological order, multiplying each node's gradient by
its operation's local derivative and summing over the paths (the chain rule) — that is all
automatic differentiation is. Done by hand (:mod:`deepnotes.autodiff`), the gradients of a
2-layer MLP equal autograd's to float64 rounding, and training with them follows autograd's
training step for step.

Data: scikit-learn's handwritten digits (1,797 8×8 images, 10 classes; its stratified
train/test split, 10 % of the training part held out to validate).

Steps:

1. the graph of a 2-layer MLP's loss (``x @ W1 + b1 → tanh → @ W2 + b2 → log-softmax →
   cross-entropy``) drawn node by node, forward values' shapes and each node's gradient shape;
2. the gradients of every parameter on one batch: ours vs ``torch.autograd`` (max |Δ|);
3. the same MLP (same initial weights, same mini-batches, plain SGD) trained twice — with our
   engine and with autograd: the loss curves and final weights compared, validation and test
   accuracy, and the time per epoch of each (our engine records one Python object per
   operation; autograd does the same bookkeeping in C++).

Quick mode (the tests): 5 epochs; a few seconds.

Notes: B10 (forward pass, backward pass, computation graph, automatic differentiation), B8.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.autodiff import Node, cross_entropy, mlp_forward, topological_order
from deepnotes.data.sklearn_data import load_digits
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult

NAME = "backprop"
SUMMARY = ("our own reverse-mode autodiff: the graph, forward and backward passes, an MLP "
           "trained to autograd's weights (B10)")
CONCEPTS = ("B10", "B8")


@dataclass
class Config(LessonConfig):
    QUICK = {"epochs": 5}  # (tests)

    hidden: int = 32  # units of the hidden layer
    epochs: int = 40  # passes over the training images
    batch_size: int = 64  # images per SGD step
    lr: float = 0.5  # SGD step size
    val_share: float = 0.1  # of the training images, held out to validate


def _init(sizes: list[int], seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        params.append(torch.randn(fan_in, fan_out, generator=g, dtype=torch.float64)
                      / fan_in ** 0.5)
        params.append(torch.zeros(1, fan_out, dtype=torch.float64))
    return params


def _torch_loss(x, y, params):
    h = torch.tanh(x @ params[0] + params[1])
    return torch.nn.functional.cross_entropy(h @ params[2] + params[3], y)


def _accuracy(x, y, params) -> float:
    with torch.no_grad():
        h = torch.tanh(x @ params[0] + params[1])
        return float(((h @ params[2] + params[3]).argmax(-1) == y).float().mean())


def run(cfg: Config, out_dir: Path) -> LessonResult:
    train, test = load_digits("train", flatten=True), load_digits("test", flatten=True)
    g = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(len(train.y), generator=g)
    n_val = int(cfg.val_share * len(perm))
    x_all, y_all = train.x.double(), train.y
    x_val, y_val = x_all[perm[:n_val]], y_all[perm[:n_val]]
    x_fit, y_fit = x_all[perm[n_val:]], y_all[perm[n_val:]]
    x_test, y_test = test.x.double(), test.y
    start = _init([64, cfg.hidden, 10], cfg.seed)

    # ---- 1-2: one batch through the graph, gradients against autograd
    xb, yb = x_fit[:cfg.batch_size], y_fit[:cfg.batch_size]
    names = ["W1", "b1", "W2", "b2"]
    nodes = [Node(p, name=n) for p, n in zip(start, names)]
    loss = cross_entropy(mlp_forward(Node(xb, name="x"), nodes), yb)
    loss.backward()
    ref = [p.clone().requires_grad_(True) for p in start]
    _torch_loss(xb, yb, ref).backward()
    grad_diff = max(float((n.grad - r.grad).abs().max()) for n, r in zip(nodes, ref))
    grad_scale = max(float(r.grad.abs().max()) for r in ref)
    graph_nodes = len(topological_order(loss))
    figures = [_draw_graph(loss, out_dir / "backprop_graph.png")]

    # ---- 3: train twice from the same weights on the same batches
    curves: dict[str, list[float]] = {"ours": [], "autograd": []}
    seconds = {"ours": 0.0, "autograd": 0.0}
    ours = [p.clone() for p in start]
    theirs = [p.clone().requires_grad_(True) for p in start]
    rows = []
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(y_fit), generator=g)
        batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        totals = {"ours": 0.0, "autograd": 0.0}
        t0 = time.perf_counter()
        for idx in batches:
            params = [Node(p) for p in ours]
            loss = cross_entropy(mlp_forward(Node(x_fit[idx]), params), y_fit[idx])
            loss.backward()
            ours = [p.value - cfg.lr * p.grad for p in params]
            totals["ours"] += float(loss.value) * len(idx)
        seconds["ours"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        for idx in batches:
            loss_t = _torch_loss(x_fit[idx], y_fit[idx], theirs)
            grads = torch.autograd.grad(loss_t, theirs)
            with torch.no_grad():
                theirs = [(p - cfg.lr * gr).requires_grad_(True) for p, gr in zip(theirs, grads)]
            totals["autograd"] += float(loss_t.detach()) * len(idx)
        seconds["autograd"] += time.perf_counter() - t0
        for k in curves:
            curves[k].append(totals[k] / len(y_fit))
        rows.append({"epoch": epoch + 1, "train_loss_ours": curves["ours"][-1],
                     "train_loss_autograd": curves["autograd"][-1],
                     "val_accuracy_ours": _accuracy(x_val, y_val, ours)})
    theirs = [p.detach() for p in theirs]
    weight_diff = max(float((a - b).abs().max()) for a, b in zip(ours, theirs))
    metrics = {
        "gradient_max_abs_difference": grad_diff,
        "gradient_max_abs": grad_scale,
        "graph_nodes": float(graph_nodes),
        "loss_curve_max_abs_difference": max(abs(a - b) for a, b in
                                             zip(curves["ours"], curves["autograd"])),
        "final_weight_max_abs_difference": weight_diff,
        "first_train_loss": curves["ours"][0],
        "last_train_loss": curves["ours"][-1],
        "val_accuracy": _accuracy(x_val, y_val, ours),
        "test_accuracy": _accuracy(x_test, y_test, ours),
        "test_accuracy_autograd": _accuracy(x_test, y_test, theirs),
        "seconds_per_epoch_ours": seconds["ours"] / cfg.epochs,
        "seconds_per_epoch_autograd": seconds["autograd"] / cfg.epochs,
        "slowdown_vs_autograd": seconds["ours"] / max(seconds["autograd"], 1e-9),
    }
    figures.append(_plot_training(curves, out_dir / "backprop_training.png"))
    m = metrics
    claim = (f"hand gradients of the 2-layer MLP equal autograd's to {grad_diff:.1e} (largest "
             f"gradient {grad_scale:.2f}); trained {cfg.epochs} epochs from the same weights, "
             f"the two runs end {weight_diff:.1e} apart; digits test accuracy "
             f"{m['test_accuracy']:.3f}; our engine {m['slowdown_vs_autograd']:.1f}× "
             "autograd's time")
    return LessonResult(NAME, metrics, figures, history=rows, claim=claim)


def _draw_graph(root: Node, path: Path) -> str:
    """Operations on one row in topological order (the forward pass, left to right); each
    input or parameter above the operation that first reads it, constants below. Each box
    shows the operation (or the name), the value's shape and its gradient's shape."""
    order = topological_order(root)
    ops = [n for n in order if n.parents]
    pos = {id(n): (float(i), 0.0) for i, n in enumerate(ops)}
    used: dict[tuple[float, float], int] = {}
    for n in order:
        if n.parents:
            continue
        first = next(i for i, op in enumerate(ops) if any(p is n for p in op.parents))
        side = 1.0 if n.name in ("x", "W1", "b1", "W2", "b2") else -1.0
        spot = (first - 0.45, side)
        used[spot] = used.get(spot, -1) + 1
        pos[id(n)] = (spot[0] - 0.3 * used[spot], side * (1 + 0.9 * used[spot]))
    fig, ax = subplots(1, 1, figsize=(max(9, 1.25 * len(ops)), 4.8))
    for n in order:
        for p in n.parents:
            (x0, y0), (x1, y1) = pos[id(p)], pos[id(n)]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.8,
                                    "shrinkA": 14, "shrinkB": 14})
    for n in order:
        x, y = pos[id(n)]
        if n.parents:
            label = n.op
        elif n.name:
            label = n.name
        else:
            label = f"{float(n.value):.3g}" if n.value.numel() == 1 else "const"
        grad = "" if n.grad is None or not (n.parents or n.name) else \
            f"\n∂L: {tuple(n.grad.shape)}"
        ax.text(x, y, f"{label}\n{tuple(n.shape)}{grad}", ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "fc": "#fff2cc" if n.parents else "#ddeeff"})
    ys = [y for _, y in pos.values()]
    ax.set(xlim=(min(x for x, _ in pos.values()) - 0.6, len(ops) - 0.4),
           ylim=(min(ys) - 0.7, max(ys) + 0.7),
           title="Forward pass left to right; the backward pass visits the same boxes right "
                 "to left")
    ax.axis("off")
    return save_figure(fig, path)


def _plot_training(curves: dict[str, list[float]], path: Path) -> str:
    fig, ax = subplots(1, 1, figsize=(6, 4))
    epochs = range(1, len(curves["ours"]) + 1)
    ax.plot(epochs, curves["autograd"], "-", lw=4, alpha=0.4, label="torch.autograd")
    ax.plot(epochs, curves["ours"], "k--", label="our engine")
    ax.set(xlabel="epoch", ylabel="training loss (cross-entropy)",
           title="Same weights, same batches, two ways to differentiate")
    ax.legend()
    return save_figure(fig, path)
