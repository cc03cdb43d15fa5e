"""Figures for run folders: matplotlib figures without pyplot's global state or a display.

Every lesson draws with :func:`subplots` and writes with :func:`save_figure`; nothing here picks
a backend (``matplotlib.use``) or keeps figures alive in pyplot's registry, so importing a lesson
never changes how the user's own matplotlib session behaves.

Example:
    >>> import tempfile, pathlib
    >>> fig, ax = subplots(figsize=(3, 2))
    >>> _ = ax.plot([0, 1], [1, 0])
    >>> path = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "line.png")
    >>> path.endswith("line.png")
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["DPI", "draw_heatmap", "image_grid", "loss_curves", "plot_curves", "save_figure",
           "subplots", "tile_images"]

DPI = 110  # resolution of every saved figure


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` like ``pyplot.subplots`` but on a private Agg canvas.

    ``kwargs`` go to :class:`matplotlib.figure.Figure` (``figsize``, ``dpi``, ...) except the
    ``subplots`` arguments ``sharex``, ``sharey``, ``squeeze``, ``subplot_kw``, ``gridspec_kw``,
    ``width_ratios``, ``height_ratios``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grid_keys = ("sharex", "sharey", "squeeze", "subplot_kw", "gridspec_kw", "width_ratios",
                 "height_ratios")
    grid = {k: kwargs.pop(k) for k in grid_keys if k in kwargs}
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **grid)


def save_figure(fig: Any, path: str | Path, dpi: int = DPI, tight: bool = True) -> str:
    """Lay out ``fig`` (``tight_layout``), write it to ``path`` (PNG) and return the path as str.

    Under ``torchrun`` only rank 0 writes (every rank draws the same figure)."""
    from deepnotes.runtime import is_main_process

    if not is_main_process():
        return str(path)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return str(path)


def plot_curves(series: dict[str, tuple[list[float], list[float]]], path: str | Path, xlabel: str,
                ylabel: str, title: str, logy: bool = False,
                refs: dict[str, float | tuple[float, str]] | None = None) -> str:
    """Line plot of ``{label: (xs, ys)}`` saved as PNG; returns the path.

    ``refs`` adds dashed horizontal lines ``{legend label: y}``; ``(y, series label)`` draws the
    line in that series' colour (e.g. a published number next to our curve).
    """
    fig, ax = subplots(figsize=(6.5, 4.2))
    colours = {}
    for label, (xs, ys) in series.items():
        (line,) = ax.plot(xs, ys, label=label, marker="o" if len(xs) < 40 else None, ms=3)
        colours[label] = line.get_color()
    for i, (label, ref) in enumerate((refs or {}).items()):
        y, owner = ref if isinstance(ref, tuple) else (ref, None)
        ax.axhline(y, ls="--", lw=1, color=colours.get(owner, f"0.{3 + 2 * (i % 3)}"), label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def loss_curves(history: list[dict[str, Any]], path: str | Path, title: str,
                ylabel: str = "masked cross-entropy per token") -> str:
    """Training (and, where every row has it, validation) loss per epoch; returns the path."""
    fig, ax = subplots(figsize=(6, 4))
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["train_loss"] for r in history], label="train")
    if history and all("val_loss" in r for r in history):
        ax.plot(epochs, [r["val_loss"] for r in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def draw_heatmap(ax: Any, weights: Any, xlabels: list[str], ylabels: list[str], cmap: str = "Reds",
                 xlabel: str = "", ylabel: str = "", title: str = "", colorbar: bool = False) -> Any:
    """Draw a weight matrix ``(rows, cols)`` (e.g. attention: queries × keys) with its labels."""
    image = ax.imshow(weights, cmap=cmap, vmin=0.0)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=60)
    ax.set_yticks(range(len(ylabels)), ylabels)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.04)
    return image


def tile_images(images: Any, nrow: int = 8, pad: int = 2, value: float = 1.0) -> Any:
    """Images ``(N, C, H, W)`` (or ``(N, H, W)``) tiled into one ``(rows·(H+pad), nrow·(W+pad),
    C)`` array, row by row, ``pad`` pixels of ``value`` between them (C = 1 is dropped)."""
    import torch

    x = torch.as_tensor(images).detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    n, c, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), value)
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top:top + h, left:left + w] = x[i]
    grid = grid.permute(1, 2, 0)  # (H', W', C)
    return (grid[:, :, 0] if c == 1 else grid).numpy()


def image_grid(images: Any, path: str | Path, nrow: int = 8, title: str = "",
               row_labels: list[str] | None = None) -> str:
    """Save images ``(N, C, H, W)`` with values in ``[0, 1]`` as one grid picture (grey for one
    channel), optionally a label at the left of each row; returns the path."""
    grid = tile_images(images, nrow=nrow)
    n_rows = (len(images) + nrow - 1) // nrow
    fig, ax = subplots(figsize=(max(3.0, nrow * 0.6), max(2.0, n_rows * 0.6 + 0.4)))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        h = grid.shape[0] / n_rows
        ax.set_yticks([h * (i + 0.5) for i in range(n_rows)], row_labels[:n_rows], fontsize=7)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
