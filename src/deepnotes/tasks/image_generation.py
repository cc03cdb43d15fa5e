"""Image generation on Fashion-MNIST: data in the generators' range, drawing samples, and scoring
them with our classifier (FID next to the real-vs-real floor, confidence, class spread, IS).

Generators end in tanh, so they train on images scaled to ``[-1, 1]`` (:func:`load_images`);
:func:`draw` maps their samples back to ``[0, 1]``, the range of the dataset and of the feature
classifier (:mod:`deepnotes.tasks.image_features`).

Notes: N5 (evaluating generated images).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.data import load
from deepnotes.errors import ConfigError
from deepnotes.metrics import classifier_scores
from deepnotes.models.gan import sample_noise
from deepnotes.tasks.image_features import fid_images, image_probs

__all__ = ["CLASS_NAMES", "draw", "evaluate_samples", "load_generator", "load_images",
           "sample_figure"]

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")


def load_images(split: str = "train", limit: int | None = None,
                classes: tuple[int, ...] | None = None) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST ``(images (N, 1, 28, 28) in [-1, 1], labels (N,))``, optionally only the
    given classes (the first ``limit`` images of the split, then the class filter)."""
    ds = load("fashion-mnist", split=split, limit=limit)
    x, y = ds.x.reshape(-1, 1, 28, 28).float(), ds.y.long()
    if classes is not None:
        keep = torch.isin(y, torch.tensor(classes))
        x, y = x[keep], y[keep]
    return x * 2 - 1, y  # [0, 1] → [-1, 1]


@torch.no_grad()
def draw(generator: nn.Module, n: int, labels: Tensor | None = None, seed: int = 0,
         batch_size: int = 1000) -> Tensor:
    """``n`` samples of ``generator`` in ``[0, 1]`` (eval mode; labels ``(n,)`` for a
    conditional one), reproducible from ``seed``."""
    was_training = generator.training
    generator.eval()
    g = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    latent = generator.config.latent_dim
    z_all = sample_noise(n, latent, g)  # all the noise first: the batch size changes nothing
    out = []
    for i in range(0, n, batch_size):
        z = z_all[i:i + batch_size].to(device)
        extra = () if labels is None else (labels[i:i + batch_size].to(device),)
        out.append(((generator(z, *extra) + 1) / 2).clamp(0, 1).cpu())
    generator.train(was_training)
    return torch.cat(out)


def evaluate_samples(classifier: nn.Module, samples: Tensor, real: Tensor) -> dict[str, Any]:
    """FID of ``samples`` against ``real`` (both ``[0, 1]``) and the classifier's confidence,
    class spread and Inception-style score on the samples."""
    probs = image_probs(classifier, samples)
    return {"fid": fid_images(classifier, samples, real), **classifier_scores(probs)}


GENERATORS = ("mlp-generator", "dcgan-generator")


def load_generator(path: str | Path) -> nn.Module:
    """The generator saved in a checkpoint (a file, or a run folder holding
    ``checkpoint.safetensors``), on the CPU in eval mode. A run folder of the ``dcgan`` or
    ``conditional-gan`` lesson holds one per method under ``generators/``: the error names them.
    """
    from deepnotes.models import from_info
    from deepnotes.train.checkpoint import checkpoint_paths, load_checkpoint, peek_checkpoint

    p = Path(path)
    st, _ = checkpoint_paths(p)
    if not st.is_file():
        inner = sorted(q.parent for q in p.glob("generators/*/checkpoint.safetensors")) \
            if p.is_dir() else []
        hint = (f"; this run folder holds generators: {', '.join(str(q) for q in inner)}"
                if inner else "")
        raise ConfigError(f"no checkpoint at {p} (looked for {st}){hint}")
    info = peek_checkpoint(st).get("model_info") or {}
    if info.get("name") == "cyclegan-generator":
        raise ConfigError(f"{st} holds a CycleGAN generator, which translates images rather "
                          f"than drawing from noise; the cyclegan lesson's pairs figure shows "
                          f"its translations")
    if info.get("name") not in GENERATORS:
        raise ConfigError(f"{st} holds {info.get('name') or 'an unnamed model'!r}, not a "
                          f"generator ({', '.join(GENERATORS)}); sample from a GAN lesson's "
                          f"generators/<method> folder")
    gen = from_info(info)
    load_checkpoint(st, gen)
    return gen.cpu().eval()


def sample_figure(generator: nn.Module, path: str | Path, n: int = 64, label: int | None = None,
                  seed: int = 0) -> str:
    """Draw ``n`` samples and save them as a picture: an image grid for image generators (one
    row per class, labelled, for a conditional one without ``label``), a scatter of points for
    2-D ones. Returns the path."""
    from deepnotes.figures import image_grid, save_figure, subplots

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    classes = int(getattr(generator.config, "num_classes", 0))
    if label is not None and not 0 <= label < max(classes, 1) or (label is not None
                                                                   and not classes):
        raise ConfigError(f"--label {label}: this generator is "
                          + (f"conditional on {classes} classes (0..{classes - 1})" if classes
                             else "not conditional; leave --label out"))
    labels, row_labels, nrow = None, None, 8
    if classes and label is not None:
        labels = torch.full((n,), label, dtype=torch.long)
    elif classes:  # n per class, one row each
        per = max(1, n // classes)
        labels = torch.arange(classes).repeat_interleave(per)
        nrow = per
        names = CLASS_NAMES if classes == len(CLASS_NAMES) else None
        row_labels = [names[c] if names else str(c) for c in range(classes)]
    count = len(labels) if labels is not None else n
    shape = tuple(generator.config.out_shape) if hasattr(generator.config, "out_shape") \
        else (1, 28, 28)
    if shape == (2,):
        generator.eval()
        dev = next(generator.parameters()).device
        with torch.no_grad():
            z = sample_noise(count, generator.config.latent_dim,
                             torch.Generator().manual_seed(seed), dev)
            pts = generator(z, *(() if labels is None else (labels.to(dev),))).cpu()
        fig, ax = subplots(figsize=(4, 4))
        ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5)
        ax.set_aspect("equal")
        return save_figure(fig, path)
    images = draw(generator, count, labels, seed=seed)
    title = f"{count} samples" + (f", class {label}" if label is not None else "")
    return image_grid(images, path, nrow=nrow, title=title, row_labels=row_labels)
