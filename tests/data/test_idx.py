"""IDX reader: round trips, gzip or plain, and clear errors on corrupt files."""

import gzip
import os

import numpy as np
import pytest

from deepnotes.data.idx import MAGIC_IMAGES, MAGIC_LABELS, encode_idx, read_idx
from deepnotes.errors import DataMissingError

from .conftest import write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((4, 3, 2)) * 50).astype(dtype)
    path = write_idx(tmp_path / "a-idx3", array, compress)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(got, array)
    assert not got.flags.writeable


def test_header_is_big_endian():
    raw = encode_idx(np.array([1, 2, 3], dtype=np.int32))
    assert raw[:4] == bytes([0, 0, 0x0C, 1])
    assert raw[4:8] == (3).to_bytes(4, "big")
    assert raw[8:12] == (1).to_bytes(4, "big")


def test_magic_numbers_of_images_and_labels(tmp_path):
    images = write_idx(tmp_path / "i.gz", np.zeros((2, 28, 28), np.uint8))
    labels = write_idx(tmp_path / "l.gz", np.zeros(2, np.uint8))
    assert read_idx(images, magic=MAGIC_IMAGES).shape == (2, 28, 28)
    assert read_idx(labels, magic=MAGIC_LABELS).shape == (2,)
    with pytest.raises(DataMissingError, match=rf"{labels}.*magic number 2049, expected 2051"):
        read_idx(labels, magic=MAGIC_IMAGES)


@pytest.mark.parametrize(
    "payload, why",
    [
        (b"\x12\x34\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "bad magic number 0x12340801"),
        (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00", "bad magic number"),
        (b"\x00\x00", "shorter than the 4-byte header"),
        (b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"), "header needs 16 bytes"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x00\x01", "5 data bytes, file has 2"),
    ],
)
def test_corrupt_files_name_the_file(tmp_path, payload, why):
    path = tmp_path / "bad-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(payload)
    with pytest.raises(DataMissingError, match=why) as info:
        read_idx(path, how_to_fix="reinstall it")
    assert str(path) in str(info.value) and "reinstall it" in str(info.value)


def test_truncated_gzip_names_the_file(tmp_path):
    good = write_idx(tmp_path / "good.gz", np.arange(5000, dtype=np.uint8).reshape(50, 100) % 7)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(DataMissingError, match="truncated or corrupt gzip") as info:
        read_idx(cut)
    assert str(cut) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataMissingError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


def test_cache_returns_same_array_until_file_changes(tmp_path):
    path = write_idx(tmp_path / "c.gz", np.array([1, 2, 3], np.uint8))
    first = read_idx(path)
    assert read_idx(path) is first
    write_idx(path, np.array([9, 9, 9, 9], np.uint8))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    assert read_idx(path).tolist() == [9, 9, 9, 9]
