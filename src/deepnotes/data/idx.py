"""Read IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed, with NumPy.

The IDX format: a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the values in C order (big-endian for multi-byte types).
Images files have magic 2051 (``0x00000803``: uint8, 3 dims), labels files 2049
(``0x00000801``: uint8, 1 dim).

Example:
    >>> import gzip, tempfile, os, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 1, 2]))
    >>> read_idx(path).tolist()
    [7, 1, 2]

Notes: B8 (the data that minibatches are drawn from).
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from deepnotes.errors import DataMissingError

# IDX dtype code -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAGIC_IMAGES = 2051  # 0x00000803: uint8, 3 dims (N, rows, cols)
MAGIC_LABELS = 2049  # 0x00000801: uint8, 1 dim (N,)
GZIP_MAGIC = b"\x1f\x8b"


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (header + big-endian values); the inverse of :func:`read_idx`.

    Used to write test fixtures and to re-save data in the standard format.

    Example:
        >>> encode_idx(np.zeros((2, 2), dtype=np.uint8))[:4]
        b'\\x00\\x00\\x08\\x02'
    """
    codes = {dt.str[1:]: c for c, dt in IDX_DTYPES.items()}  # "u1" -> 0x08, ...
    code = codes.get(array.dtype.newbyteorder(">").str[1:])
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; "
                         "use uint8/int8/int16/int32/float32/float64")
    sizes = b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    header = bytes([0, 0, code, array.ndim]) + sizes
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def _corrupt(path: Path, why: str, how_to_fix: str) -> DataMissingError:
    return DataMissingError(f"file {path} is not a valid IDX file ({why}); {how_to_fix}")


def read_idx(path: str | os.PathLike, magic: int | None = None, how_to_fix: str = "") -> np.ndarray:
    """Decode one IDX file (gzip or plain) into a read-only NumPy array in native byte order.

    Decoded arrays are cached in memory by (path, modification time, size), so loading the
    same file again is free; the array is marked read-only because it is shared.

    Args:
        path: the ``.gz`` or uncompressed IDX file.
        magic: expected magic number (e.g. :data:`MAGIC_IMAGES`); None accepts any valid one.
        how_to_fix: the clause appended to error messages (how to get a good copy).

    Returns:
        array of shape given by the header.

    Raises:
        DataMissingError: file missing, truncated, not gzip/IDX, wrong magic; names the file.

    Notes: B8.
    """
    path = Path(path)
    how_to_fix = how_to_fix or "delete it and get a fresh copy"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataMissingError(f"file {path} does not exist; {how_to_fix}") from None
    return _read_idx_cached(str(path.resolve()), st.st_mtime_ns, st.st_size, magic, how_to_fix)


@functools.lru_cache(maxsize=16)
def _read_idx_cached(
    path_str: str, mtime_ns: int, size: int, magic: int | None, how_to_fix: str
) -> np.ndarray:
    path = Path(path_str)
    with open(path, "rb") as f:
        head = f.read(2)
    try:
        if head == GZIP_MAGIC:
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise _corrupt(path, f"truncated or corrupt gzip data: {exc}", how_to_fix) from exc
    if len(raw) < 4:
        raise _corrupt(path, f"only {len(raw)} bytes, shorter than the 4-byte header", how_to_fix)
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    got_magic = int.from_bytes(raw[:4], "big")
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES or ndim == 0:
        raise _corrupt(path, f"bad magic number 0x{got_magic:08x}", how_to_fix)
    if magic is not None and got_magic != magic:
        raise _corrupt(path, f"magic number {got_magic}, expected {magic}", how_to_fix)
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise _corrupt(path, f"header needs {header_len} bytes, file has {len(raw)}", how_to_fix)
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    # payload bytes = itemsize · ∏ shape
    expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if len(raw) - header_len != expected:
        raise _corrupt(
            path,
            f"header says shape {shape} = {expected} data bytes, file has {len(raw) - header_len}",
            how_to_fix,
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    array = array.astype(dtype.newbyteorder("="), copy=False)
    array.flags.writeable = False
    return array
