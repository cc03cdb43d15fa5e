"""ArrayDataset: dtypes, shape checks, indexing, subsets."""

import numpy as np
import pytest
import torch

from deepnotes.data import ArrayDataset
from deepnotes.errors import ConfigError, ShapeError


@pytest.mark.parametrize(
    "task, y, y_dtype",
    [
        ("classification", [0, 2, 1, 2], torch.int64),
        ("regression", [[0.5], [1.5], [2.0], [3.0]], torch.float32),
    ],
)
def test_dtypes_follow_task(task, y, y_dtype):
    ds = ArrayDataset(np.arange(8, dtype=np.float64).reshape(4, 2), y, task=task)
    assert ds.x.dtype == torch.float32
    assert ds.y.dtype == y_dtype
    assert len(ds) == 4
    x1, y1 = ds[1]
    assert x1.tolist() == [2.0, 3.0]
    assert torch.equal(y1, torch.as_tensor(y, dtype=y_dtype)[1])
    assert ds.tensors[0] is ds.x and ds.tensors[1] is ds.y


def test_read_only_numpy_input_is_copied():
    arr = np.ones((3, 2), dtype=np.float32)
    arr.flags.writeable = False
    ds = ArrayDataset(arr, np.zeros(3, dtype=np.int64))
    ds.x.add_(1.0)  # must not touch (or be refused by) the read-only source
    assert arr[0, 0] == 1.0 and ds.x[0, 0] == 2.0


def test_first_dimension_must_match():
    with pytest.raises(ShapeError, match=r"x \(5, 3\) and y \(4,\)"):
        ArrayDataset(torch.zeros(5, 3), torch.zeros(4))


def test_bad_task_and_label_range():
    with pytest.raises(ConfigError, match="'ranking'"):
        ArrayDataset(torch.zeros(2, 1), torch.zeros(2), task="ranking")
    with pytest.raises(ConfigError, match=r"\[0, 2\).*\[0, 5\]"):
        ArrayDataset(torch.zeros(2, 1), torch.tensor([0, 5]), classes=["a", "b"])
    with pytest.raises(ConfigError, match="classes only make sense"):
        ArrayDataset(torch.zeros(2, 1), torch.zeros(2), classes=["a"], task="regression")
    with pytest.raises(ShapeError, match="scalar"):
        ArrayDataset(torch.tensor(1.0), torch.tensor(1))


def test_subset_keeps_metadata_and_order():
    ds = ArrayDataset(torch.arange(10.0).reshape(10, 1), torch.arange(10) % 3, name="toy",
                      classes=["a", "b", "c"], split="train", meta={"k": 1})
    sub = ds.subset([7, 2, 5])
    assert sub.x.flatten().tolist() == [7.0, 2.0, 5.0]
    assert sub.y.tolist() == [1, 2, 2]
    assert (sub.name, sub.classes, sub.split, sub.meta) == ("toy", ["a", "b", "c"], "train",
                                                            {"k": 1})
    assert sub.num_classes == 3
    sub.x.zero_()  # a copy: the parent is unchanged
    assert ds.x[7, 0] == 7.0
    with pytest.raises(ConfigError, match=r"\[0, 10\).*\[3, 12\]"):
        ds.subset([3, 12])
    with pytest.raises(ShapeError, match="1-D"):
        ds.subset([[1, 2]])


def test_to_device_and_repr():
    ds = ArrayDataset(torch.zeros(3, 2), torch.zeros(3, 1), name="r", task="regression")
    moved = ds.to("cpu")
    assert moved.x.device.type == "cpu" and moved.task == "regression" and moved.num_classes is None
    assert "n=3" in repr(ds) and "'r'" in repr(ds)
