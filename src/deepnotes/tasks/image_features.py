r"""Our FID feature extractor for Fashion-MNIST: a small CNN classifier and its penultimate layer.

FID (Heusel et al., 2017) compares generated and real images through the activations of a
classifier's last hidden layer (Inception-v3's 2048 pool features for natural images). For
28×28 grey clothes we train our own: ``lenet-modern`` (LeNet-5 with ReLU, batch norm, max
pooling; 84 features before the 10-way output layer) on the 60,000 Fashion-MNIST training
images, once, and keep it as a safetensors file under the data home, so every lesson and every
run scores generators with the same network. Its numbers compare only with each other, never
with published (Inception) FIDs.

- :func:`feature_classifier`: train it (the classification task's :func:`fit_classifier`) or
  load it from its file;
- :func:`image_features`, :func:`image_probs`: penultimate activations and class probabilities
  of a batch of images (values in [0, 1], as ``load("fashion-mnist")`` returns them);
- :func:`fid_images`: FID between two image sets; :func:`real_floor`: FID between ``n``
  training and ``n`` test images, the best a generator can expect at that sample size.

Notes: N5 (FID: the Fréchet distance of classifier features; a task classifier's confidence
and class spread).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from deepnotes.data import load
from deepnotes.data.fashion_mnist import data_home
from deepnotes.errors import CheckpointError, ConfigError, ShapeError
from deepnotes.metrics import accuracy
from deepnotes.metrics.generative import fid
from deepnotes.models import create, from_info, model_info
from deepnotes.runtime import seed_everything
from deepnotes.tasks.classification import cosine_over, fit_classifier
from deepnotes.train.checkpoint import (
    checkpoint_paths,
    load_checkpoint,
    peek_checkpoint,
    save_checkpoint,
)

__all__ = [
    "DEFAULT_MODEL",
    "classifier_accuracy",
    "default_path",
    "feature_classifier",
    "fid_images",
    "image_features",
    "image_probs",
    "real_floor",
]

DEFAULT_MODEL = "lenet-modern"  # a registered image classifier whose head is its last nn.Linear
IMAGE_SHAPE = (1, 28, 28)
# training settings (those of the lenet lesson's modern variant): Adam, cosine-decayed lr
LR = 2e-3
BATCH_SIZE = 128


def default_path(*, model: str = DEFAULT_MODEL, epochs: int = 5, seed: int = 0,
                 limit: int | None = None) -> Path:
    """Where :func:`feature_classifier` keeps a classifier trained with these settings:
    ``data_home()/fid/fid-classifier-<model>-e<epochs>-s<seed>[-n<limit>].safetensors``.

    Example:
        >>> default_path(epochs=5, seed=0).name
        'fid-classifier-lenet-modern-e5-s0.safetensors'
    """
    limit_part = f"-n{limit}" if limit is not None else ""
    return data_home() / "fid" / f"fid-classifier-{model}-e{epochs}-s{seed}{limit_part}.safetensors"


def feature_classifier(path: str | Path | None = None, *, epochs: int = 5, seed: int = 0,
                       limit: int | None = None, progress: bool | None = None,
                       model: str = DEFAULT_MODEL, device: str = "auto") -> nn.Module:
    """The Fashion-MNIST classifier whose penultimate activations are our FID features.

    Loads it from ``path`` when that file exists; otherwise trains it (Adam, lr 2e-3 decayed
    by a cosine to 0, batch 128, ``epochs`` passes over the training images, seed ``seed``),
    writes it to ``path`` (a safetensors checkpoint plus its readable ``.json``, written
    atomically by :func:`~deepnotes.train.checkpoint.save_checkpoint`) and returns it. The
    checkpoint's trainer state records ``test_accuracy`` (on the 10,000 test images, or the
    first ``limit`` of them), ``train_seconds`` and the settings.

    Args:
        path: the checkpoint file; default :func:`default_path` of the settings, under the
            data home (``$DEEPNOTES_DATA``).
        epochs: training passes. Default: 5.
        seed: seed of the initial weights and the batch order. Default: 0.
        limit: train on the first ``limit`` training images only (tests, quick runs); None:
            all 60,000.
        progress: progress bar while training (None: only on a terminal).
        model: registered image classifier to train. Default: ``"lenet-modern"``.
        device: training device (``"auto"``: CUDA when present). The returned model is on the
            CPU in eval mode.

    Notes: N5.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    file = Path(path) if path is not None else default_path(model=model, epochs=epochs,
                                                            seed=seed, limit=limit)
    st_path, _ = checkpoint_paths(file)
    if st_path.is_file():
        info = peek_checkpoint(st_path)["model_info"]
        if info is None:
            raise CheckpointError(f"{st_path} holds no model_info, so the classifier cannot be "
                                  f"rebuilt; delete it to train a new one")
        net = from_info(info)
        load_checkpoint(st_path, net)
        return net.cpu().eval()

    # trained on its own seed without touching the caller's random streams: a lesson gets the
    # same numbers whether the classifier was cached or trained just now
    with _own_random_state():
        train = load("fashion-mnist", split="train", limit=limit)
        test = load("fashion-mnist", split="test", limit=limit)
        seed_everything(seed)
        net = create(model)
        start = time.perf_counter()
        fit = fit_classifier(net, train, test, optimizer="adam", lr=LR, epochs=epochs,
                             batch_size=BATCH_SIZE, seed=seed, progress=progress, device=device,
                             scheduler_factory=cosine_over(epochs, -(-len(train) // BATCH_SIZE)))
        seconds = time.perf_counter() - start
        net = fit.model.cpu().eval()
        state = {"test_accuracy": float(fit.test["accuracy"]), "train_seconds": seconds,
                 "epochs": epochs, "seed": seed, "train_images": len(train),
                 "test_images": len(test), "model": model}
    save_checkpoint(st_path, net, trainer_state=state, model_info=model_info(net))
    return net


@contextlib.contextmanager
def _own_random_state() -> Iterator[None]:
    """Run the block, then restore Python's, NumPy's and torch's (CPU) random states."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)


def _check_images(images: Tensor) -> Tensor:
    if images.dim() != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ShapeError(f"expected Fashion-MNIST images of shape (N, 1, 28, 28), got "
                         f"{tuple(images.shape)}")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ConfigError(f"images must hold values in [0, 1] like load('fashion-mnist'), got "
                          f"[{lo:.3g}, {hi:.3g}]; rescale tanh outputs with (x + 1) / 2")
    return images


def _head(model: nn.Module) -> nn.Linear:
    """The model's output layer: its last ``nn.Linear`` in module order."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(model).__name__} has no nn.Linear output layer to take the "
                          f"penultimate activations from")
    return linears[-1]


@torch.no_grad()
def _batched(model: nn.Module, images: Tensor, batch_size: int,
             step: Callable[[Tensor], Tensor]) -> Tensor:
    """``step`` over ``images`` in batches, in eval mode (restored after), results on the CPU."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    images = _check_images(images.detach())
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [step(images[i:i + batch_size].to(device=device, dtype=torch.float32)).cpu()
               for i in range(0, images.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def image_features(model: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """Penultimate-layer activations: the input of the model's last ``nn.Linear`` (its output
    layer), taken with a forward pre-hook, in eval mode, without gradients.

    For ``lenet-modern`` these are the 84 ReLU outputs after the second dense layer.

    Args:
        model: a classifier from :func:`feature_classifier`.
        images: ``(N, 1, 28, 28)`` with values in [0, 1] (as ``load("fashion-mnist")`` gives).
        batch_size: images per forward pass. Default: 500.

    Shape:
        - Output: ``(N, D)`` float32 on the CPU (D = 84 for ``lenet-modern``).

    Example:
        >>> net = create("lenet-modern")
        >>> image_features(net, torch.rand(3, 1, 28, 28)).shape
        torch.Size([3, 84])

    Notes: N5.
    """
    captured: list[Tensor] = []
    handle = _head(model).register_forward_pre_hook(lambda mod, args: captured.append(args[0]))

    def step(x: Tensor) -> Tensor:
        captured.clear()
        model(x)
        return captured[-1].flatten(1)  # (B, D)

    try:
        return _batched(model, images, batch_size, step)
    finally:
        handle.remove()


def image_probs(model: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """Class probabilities :math:`\\mathrm{softmax}(\\text{logits})` of each image, in eval
    mode; feed them to :func:`deepnotes.metrics.classifier_scores`.

    Shape:
        - images: ``(N, 1, 28, 28)`` in [0, 1]. Output: ``(N, 10)`` float32, rows sum to 1.

    Example:
        >>> image_probs(create("lenet-modern"), torch.rand(2, 1, 28, 28)).sum(dim=1).round()
        tensor([1., 1.])

    Notes: N5.
    """
    return _batched(model, images, batch_size, lambda x: model(x).float().softmax(dim=1))


def fid_images(model: nn.Module, a: Tensor, b: Tensor, batch_size: int = 500) -> float:
    """FID between two image sets, on ``model``'s penultimate features
    (:func:`deepnotes.metrics.fid` of :func:`image_features`).

    Compare FIDs only at equal sample sizes (the estimate is biased upwards for small N) and
    against :func:`real_floor` at that size.

    Notes: N5.
    """
    return fid(image_features(model, a, batch_size), image_features(model, b, batch_size))


def real_floor(model: nn.Module, n: int = 10_000, seed: int = 0, batch_size: int = 500) -> float:
    """FID between ``n`` random training images and ``n`` random test images.

    Two real samples of one distribution: the FID a perfect generator would get against
    ``n`` test images (or ``n`` real images) at this sample size, the floor to read generated
    FIDs against. It shrinks as ``n`` grows (FID's small-sample bias).

    Args:
        model: a classifier from :func:`feature_classifier`.
        n: images from each split, at most 10,000 (the test split's size). Default: 10,000.
        seed: seed of the random choice of images. Default: 0.

    Notes: N5.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 10_000:
        raise ConfigError(f"n must be an integer in [2, 10000] (the test split has 10,000 "
                          f"images), got {n!r}")
    gen = torch.Generator().manual_seed(seed)
    train = load("fashion-mnist", split="train")
    test = load("fashion-mnist", split="test")
    a = train.x[torch.randperm(len(train), generator=gen)[:n]]  # (n, 1, 28, 28)
    b = test.x[torch.randperm(len(test), generator=gen)[:n]]  # (n, 1, 28, 28)
    return fid_images(model, a, b, batch_size)


def classifier_accuracy(model: nn.Module, limit: int | None = None,
                        batch_size: int = 500) -> float:
    """Accuracy of ``model`` on the Fashion-MNIST test images (the first ``limit``; None: all).

    Notes: N5 (a classifier that scores generated images must first classify real ones).
    """
    test = load("fashion-mnist", split="test", limit=limit)
    return float(accuracy(image_probs(model, test.x, batch_size), test.y))
