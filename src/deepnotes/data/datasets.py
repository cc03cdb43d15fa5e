"""An in-memory dataset: two tensors ``x`` and ``y`` with a name, a task and class names.

Every loader in :mod:`deepnotes.data` returns an :class:`ArrayDataset`, and
:class:`~deepnotes.data.loader.MiniBatches` cuts it into minibatches by indexing the tensors
directly (no per-example Python calls).

Example:
    >>> import torch
    >>> ds = ArrayDataset(torch.zeros(4, 2), torch.tensor([0, 1, 1, 0]), name="toy",
    ...                   classes=["no", "yes"])
    >>> len(ds), ds[1][1].item(), ds.subset([0, 3]).y.tolist()
    (4, 1, [0, 0])

Notes: B8 (a dataset of examples that minibatches are drawn from).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from deepnotes.errors import ConfigError, ShapeError

TASKS = ("classification", "regression")


def _as_tensor(value: Any, dtype: torch.dtype, what: str) -> torch.Tensor:
    """Turn a tensor / NumPy array / nested list into a tensor of ``dtype`` (no copy if possible)."""
    if isinstance(value, np.ndarray):
        # torch.from_numpy shares memory; copy first when NumPy marks the array read-only
        arr = np.ascontiguousarray(value)
        value = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    elif not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"{what} must be a tensor or array, got {type(value).__name__}") from exc
    if value.dim() == 0:
        raise ShapeError(f"{what} must have a first (example) dimension, got a scalar {value!r}")
    return value.to(dtype)


class ArrayDataset:
    """A dataset held as two tensors: inputs ``x`` (float32) and targets ``y``.

    ``y`` is int64 class indices for ``task="classification"`` and float32 values for
    ``task="regression"``. Example ``i`` is ``(x[i], y[i])``.

    Args:
        x: inputs, any shape ``(N, ...)``; converted to float32.
        y: targets, shape ``(N, ...)``; converted to int64 (classification) or float32.
        name: dataset name, e.g. ``"fashion-mnist"``.
        classes: class names for classification (``y`` must lie in ``[0, len(classes))``);
            ``None`` for regression or unnamed classes.
        task: ``"classification"`` (default) or ``"regression"``.
        split: which split this is (``"train"``, ``"test"``, ``"all"`` ...), informational.
        meta: extra facts about the data, e.g. the true ``weight``/``bias`` of synthetic data.

    Shape:
        - x: :math:`(N, *)`, y: :math:`(N, *)` with the same :math:`N`.

    Example:
        >>> import torch
        >>> ds = ArrayDataset(torch.randn(10, 3), torch.randn(10, 1), task="regression")
        >>> ds.y.dtype, len(ds), ds.subset(torch.arange(4)).x.shape
        (torch.float32, 10, torch.Size([4, 3]))

    Notes: B8.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        name: str = "",
        classes: Sequence[str] | None = None,
        task: str = "classification",
        split: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
        y_dtype = torch.int64 if task == "classification" else torch.float32
        self.x = _as_tensor(x, torch.float32, "x")
        self.y = _as_tensor(y, y_dtype, "y")
        if self.x.shape[0] != self.y.shape[0]:
            raise ShapeError(
                f"x and y must hold the same number of examples, got x {tuple(self.x.shape)} "
                f"and y {tuple(self.y.shape)}"
            )
        self.name = name
        self.task = task
        self.split = split
        self.meta = dict(meta or {})
        self.classes = list(classes) if classes is not None else None
        if self.classes is not None:
            if task != "classification":
                raise ConfigError(f"classes only make sense for classification, got task {task!r}")
            if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= len(self.classes)):
                raise ConfigError(
                    f"labels must lie in [0, {len(self.classes)}) for {len(self.classes)} classes, "
                    f"got range [{int(self.y.min())}, {int(self.y.max())}]"
                )

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: the whole dataset as two tensors."""
        return self.x, self.y

    @property
    def num_classes(self) -> int | None:
        """Number of classes (from ``classes``, else ``max(y) + 1``); None for regression."""
        if self.task != "classification":
            return None
        if self.classes is not None:
            return len(self.classes)
        return int(self.y.max()) + 1 if len(self) else 0

    def subset(self, indices: Any) -> "ArrayDataset":
        """A new dataset with the examples at ``indices`` (a copy, in the order given)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        if idx.dim() != 1:
            raise ShapeError(f"indices must be 1-D, got shape {tuple(idx.shape)}")
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise ConfigError(
                f"indices must lie in [0, {len(self)}) for {self.name or 'this dataset'}, "
                f"got range [{int(idx.min())}, {int(idx.max())}]"
            )
        return ArrayDataset(
            self.x[idx], self.y[idx], name=self.name, classes=self.classes, task=self.task,
            split=self.split, meta=self.meta,
        )

    def to(self, device: str | torch.device) -> "ArrayDataset":
        """The same dataset with both tensors on ``device``."""
        out = ArrayDataset.__new__(ArrayDataset)
        out.__dict__.update(self.__dict__)
        out.x, out.y = self.x.to(device), self.y.to(device)
        return out

    def __repr__(self) -> str:
        split = f", split={self.split!r}" if self.split else ""
        return (
            f"ArrayDataset(name={self.name!r}{split}, task={self.task!r}, n={len(self)}, "
            f"x={tuple(self.x.shape)}, y={tuple(self.y.shape)})"
        )
