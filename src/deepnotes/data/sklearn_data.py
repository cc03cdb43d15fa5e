"""Small data sets that ship inside scikit-learn (no download): digits and diabetes.

scikit-learn has no train/test split for these, so we make a fixed one: 20% of the examples
(``holdout_split(n, 0.2, seed=0)``, stratified by class for digits) form ``"test"``, the rest
``"train"``; ``"all"`` is the whole set.

Example:
    >>> load_digits("all").x.shape
    torch.Size([1797, 1, 8, 8])
    >>> load_diabetes("train").y.shape
    torch.Size([354, 1])

Notes: B8, G3.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from deepnotes.data.datasets import ArrayDataset
from deepnotes.data.splits import holdout_split
from deepnotes.errors import ConfigError

SPLITS = ("train", "test", "all")
TEST_FRACTION = 0.2
SPLIT_SEED = 0
HOW_TO_GET = "`pip install scikit-learn` (it ships these data sets)"


def _check(name: str, split: str, root: str | os.PathLike | None, limit: int | None) -> None:
    if split not in SPLITS:
        raise ConfigError(f"{name} split must be one of {SPLITS}, got {split!r}")
    if root is not None:
        raise ConfigError(f"{name} ships with scikit-learn and reads no files; drop root={root!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")


def _split_indices(n: int, split: str, labels: torch.Tensor | None) -> torch.Tensor:
    if split == "all":
        return torch.arange(n)
    train_idx, test_idx = holdout_split(n, TEST_FRACTION, seed=SPLIT_SEED, stratify=labels)
    return train_idx if split == "train" else test_idx


def load_digits(
    split: str = "all",
    root: str | os.PathLike | None = None,
    limit: int | None = None,
    flatten: bool = False,
) -> ArrayDataset:
    """Handwritten digits: 1,797 grey 8x8 images of 0-9 (scikit-learn's ``load_digits``).

    Pixels are 0..16 in the source and scaled to [0, 1]: :math:`x = \\text{pixel} / 16`.

    Args:
        split: ``"train"`` (1,437), ``"test"`` (360, stratified) or ``"all"`` (1,797).
        root: must be None (the data ships with scikit-learn).
        limit: keep only the first ``limit`` examples of the split.
        flatten: ``x`` as ``(N, 64)`` instead of ``(N, 1, 8, 8)``.

    Shape:
        - x: :math:`(N, 1, 8, 8)` or :math:`(N, 64)` float32; y: :math:`(N,)` int64.

    Example:
        >>> load_digits("test", flatten=True).x.shape
        torch.Size([360, 64])

    Notes: B8.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    _check("digits", split, root, limit)
    features, target = sk_load_digits(return_X_y=True)
    y = torch.from_numpy(target.astype(np.int64))
    idx = _split_indices(len(y), split, y)[:limit]
    # x = pixel / 16
    x = torch.from_numpy(features.astype(np.float32))[idx] / 16.0  # (N, 64)
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    classes = [str(d) for d in range(10)]
    return ArrayDataset(x, y[idx], name="digits", classes=classes, task="classification",
                        split=split)


def load_diabetes(
    split: str = "all",
    root: str | os.PathLike | None = None,
    limit: int | None = None,
    standardize_target: bool = False,
) -> ArrayDataset:
    """Diabetes progression: 442 patients, 10 features, a real-valued target (regression).

    Features are standardised with the mean and standard deviation of the ``"train"`` split
    (so the test split leaks nothing into them): :math:`x = (x_{raw} - \\mu) / \\sigma`.

    Args:
        split: ``"train"`` (354), ``"test"`` (88) or ``"all"`` (442).
        root: must be None (the data ships with scikit-learn).
        limit: keep only the first ``limit`` examples of the split.
        standardize_target: also standardise ``y`` with the train split's mean and std.

    Shape:
        - x: :math:`(N, 10)` float32; y: :math:`(N, 1)` float32 (raw: 25 to 346).

    Example:
        >>> ds = load_diabetes("train")
        >>> ds.task, ds.x.shape
        ('regression', torch.Size([354, 10]))

    Notes: B8, G3.
    """
    from sklearn.datasets import load_diabetes as sk_load_diabetes

    _check("diabetes", split, root, limit)
    features, target = sk_load_diabetes(return_X_y=True, scaled=False)
    x_all = torch.from_numpy(features.astype(np.float64))
    y_all = torch.from_numpy(target.astype(np.float64)).reshape(-1, 1)  # (N, 1)
    train_idx = _split_indices(len(y_all), "train", None)
    # x = (x_raw - μ_train) / σ_train
    mean, std = x_all[train_idx].mean(0), x_all[train_idx].std(0, correction=0)
    x_all = (x_all - mean) / std
    if standardize_target:
        y_all = (y_all - y_all[train_idx].mean()) / y_all[train_idx].std(correction=0)
    idx = _split_indices(len(y_all), split, None)[:limit]
    return ArrayDataset(
        x_all[idx].float(), y_all[idx].float(), name="diabetes", task="regression", split=split
    )
