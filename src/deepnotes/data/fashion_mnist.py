"""Fashion-MNIST: 70,000 grey 28x28 images of 10 kinds of clothing, read from IDX files.

Where the files are looked for, in order:

1. ``root=`` when given (the folder itself, then ``root/fashion-mnist``) -- nothing else;
2. ``$DEEPNOTES_DATA/fashion-mnist`` (``$DEEPNOTES_DATA`` defaults to
   ``$XDG_DATA_HOME/deepnotes``, i.e. ``~/.local/share/deepnotes``; ``deepnotes data get``
   downloads there);
3. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).

Each file may be gzip-compressed (``train-images-idx3-ubyte.gz``) or plain
(``train-images-idx3-ubyte``). Nothing is ever downloaded unless
:func:`download_fashion_mnist` is called.

Example:
    >>> ds = load_fashion_mnist("test", limit=5)          # doctest: +SKIP
    >>> ds.x.shape, ds.y.dtype, ds.classes[9]             # doctest: +SKIP
    (torch.Size([5, 1, 28, 28]), torch.int64, 'ankle boot')

Notes: B8 (the data set the notes train softmax regression, MLPs and CNNs on).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from deepnotes.data.datasets import ArrayDataset
from deepnotes.data.idx import MAGIC_IMAGES, MAGIC_LABELS, read_idx
from deepnotes.errors import ConfigError, DataMissingError

NAME = "fashion-mnist"
CLASSES = [
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]
# split -> (images file, labels file), without the optional ".gz"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_COMMAND = "sudo apt-get install -y --no-install-recommends dataset-fashion-mnist"
GET_COMMAND = "deepnotes data get fashion-mnist"
HOW_TO_GET = f"`{APT_COMMAND}` (or `{GET_COMMAND}` to download)"

# The official files (Zalando Research); tried in order by download_fashion_mnist.
MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)


@dataclass(frozen=True)
class FileIdentity:
    """What a good copy of one file hashes to.

    ``sha256`` is the gzip file of Debian's ``dataset-fashion-mnist`` (the canonical copy here);
    ``content_sha256`` is the decompressed IDX bytes; ``md5`` is the official MD5 published by
    Zalando for their ``.gz`` (which holds the same IDX bytes with the file name stored in the
    gzip header, 23-24 bytes longer than Debian's). A file matching any of the three is good.
    """

    sha256: str
    content_sha256: str
    md5: str


KNOWN_FILES: dict[str, FileIdentity] = {
    "train-images-idx3-ubyte.gz": FileIdentity(
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    ),
    "train-labels-idx1-ubyte.gz": FileIdentity(
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    "t10k-images-idx3-ubyte.gz": FileIdentity(
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "bef4ecab320f06d8554ea6380940ec79",
    ),
    "t10k-labels-idx1-ubyte.gz": FileIdentity(
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
}


def data_home() -> Path:
    """``$DEEPNOTES_DATA``, else ``$XDG_DATA_HOME/deepnotes``, else ``~/.local/share/deepnotes``."""
    if os.environ.get("DEEPNOTES_DATA"):
        return Path(os.environ["DEEPNOTES_DATA"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
    return Path(xdg).expanduser() / "deepnotes"


def candidate_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for the files, in order (see the module docstring)."""
    if root is not None:
        return [Path(root).expanduser(), Path(root).expanduser() / NAME]
    return [data_home() / NAME, SYSTEM_DIR]


def _file_in(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_files(
    split: str = "train", root: str | os.PathLike | None = None
) -> tuple[Path, Path] | None:
    """``(images, labels)`` paths of ``split`` in the first folder holding both, else None."""
    _check_split(split)
    for folder in candidate_dirs(root):
        images, labels = (_file_in(folder, stem) for stem in FILES[split])
        if images is not None and labels is not None:
            return images, labels
    return None


def locate(root: str | os.PathLike | None = None) -> Path | None:
    """The first folder that holds both splits, or None."""
    for folder in candidate_dirs(root):
        if all(_file_in(folder, stem) for pair in FILES.values() for stem in pair):
            return folder
    return None


def _check_split(split: str) -> None:
    if split not in FILES:
        raise ConfigError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")


def load_fashion_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    limit: int | None = None,
    flatten: bool = False,
) -> ArrayDataset:
    """Load one split of Fashion-MNIST as an :class:`ArrayDataset`.

    Pixels are scaled to [0, 1]: :math:`x = \\text{pixel} / 255`.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        root: folder holding the IDX files; default: search ``$DEEPNOTES_DATA/fashion-mnist``
            then ``/usr/share/datasets/fashion-mnist``.
        limit: keep only the first ``limit`` examples (quick modes); None keeps all.
        flatten: return ``x`` as ``(N, 784)`` instead of ``(N, 1, 28, 28)``.

    Shape:
        - x: :math:`(N, 1, 28, 28)` float32 in [0, 1], or :math:`(N, 784)` with ``flatten``.
        - y: :math:`(N,)` int64 in [0, 10).

    Raises:
        DataMissingError: the files are not found (names the folders tried and the install
            command) or a file is corrupt (names the file).

    Example:
        >>> ds = load_fashion_mnist("train", limit=256, flatten=True)  # doctest: +SKIP
        >>> ds.x.shape                                                 # doctest: +SKIP
        torch.Size([256, 784])

    Notes: B8.
    """
    _check_split(split)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")
    found = find_files(split, root)
    if found is None:
        tried = ", ".join(str(p) for p in candidate_dirs(root))
        raise DataMissingError(
            f"Fashion-MNIST ({split} split: {FILES[split][0]}.gz and {FILES[split][1]}.gz) was "
            f"not found in {tried}; get it with {HOW_TO_GET}, or pass root= a folder holding "
            f"the IDX files."
        )
    images_path, labels_path = found
    fix = f"delete it and reinstall with {HOW_TO_GET}"
    images = read_idx(images_path, magic=MAGIC_IMAGES, how_to_fix=fix)
    labels = read_idx(labels_path, magic=MAGIC_LABELS, how_to_fix=fix)
    if images.shape[0] != labels.shape[0]:
        raise DataMissingError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; {fix}"
        )
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise DataMissingError(
            f"{labels_path} holds label {int(labels.max())}, outside the 10 Fashion-MNIST "
            f"classes; {fix}"
        )
    n = images.shape[0] if limit is None else min(limit, images.shape[0])
    # x = pixel / 255, as a fresh float32 tensor (the cached uint8 array stays untouched)
    x = torch.from_numpy(images[:n].astype(np.float32)).div_(255.0)
    rows, cols = images.shape[1], images.shape[2]
    # (N, 784) | (N, 1, 28, 28)
    x = x.reshape(n, rows * cols) if flatten else x.reshape(n, 1, rows, cols)
    y = torch.from_numpy(labels[:n].astype(np.int64))
    return ArrayDataset(x, y, name=NAME, classes=CLASSES, task="classification", split=split)


def _hashes(path: Path) -> tuple[str, str]:
    """(SHA-256, MD5) of a file's bytes, read in 1 MiB chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _content_sha256(path: Path) -> str | None:
    """SHA-256 of the decompressed bytes of a gzip file, None if it does not decompress."""
    sha = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sha.update(chunk)
    except (OSError, EOFError):
        return None
    return sha.hexdigest()


def _verify(name: str, path: Path, sha256: Mapping[str, str] | None) -> str | None:
    """None if ``path`` is a good copy of ``name``; else a clause saying what it hashed to."""
    got_sha, got_md5 = _hashes(path)
    if sha256 is not None and name in sha256:
        want = sha256[name].lower()
        return None if got_sha == want else f"SHA-256 {got_sha}, expected {want}"
    known = KNOWN_FILES[name]
    if got_sha == known.sha256 or got_md5 == known.md5:
        return None
    if _content_sha256(path) == known.content_sha256:
        return None
    return f"SHA-256 {got_sha}, expected {known.sha256} (or the official MD5 {known.md5})"


def _fetch(url: str, folder: Path, name: str, timeout: float) -> Path:
    """Stream ``url`` into a hidden temporary file in ``folder``; return its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def download_fashion_mnist(
    dest: str | os.PathLike | None = None,
    urls: str | Mapping[str, str] | None = None,
    sha256: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the Fashion-MNIST files into ``dest``, checking every file before keeping it.

    Each file is streamed into a temporary file beside its target, its SHA-256 is checked, and
    only then is it renamed into place (an atomic ``os.replace``), so ``dest`` never holds a
    partial or unverified file. Files already present and valid are not fetched again. Runs
    only when called (``deepnotes data get fashion-mnist``); never at import or in tests.

    Args:
        dest: target folder; default ``$DEEPNOTES_DATA/fashion-mnist`` (searched by the loader).
        urls: None for the official mirrors; a base URL that each file name is appended to;
            or a dict file name -> URL (only those files are fetched). ``file://`` works.
        sha256: file name -> expected SHA-256, replacing the built-in table for those names.
        timeout: seconds to wait on a connection.

    Returns:
        the folder holding the verified files.

    Raises:
        DataMissingError: every URL failed or served a file with the wrong checksum (the bad
            download is deleted); the message names the file, the hashes and the apt command.

    Example:
        >>> download_fashion_mnist("~/data/fashion-mnist")  # doctest: +SKIP

    Notes: B8.
    """
    folder = Path(dest).expanduser() if dest is not None else data_home() / NAME
    if urls is None:
        plan = {name: [m + name for m in MIRRORS] for name in KNOWN_FILES}
    elif isinstance(urls, str):
        base = urls if urls.endswith("/") else urls + "/"
        plan = {name: [base + name] for name in KNOWN_FILES}
    else:
        plan = {name: [url] for name, url in urls.items()}
    for name in plan:
        if name not in KNOWN_FILES and (sha256 is None or name not in sha256):
            raise ConfigError(
                f"no known checksum for {name!r}: Fashion-MNIST files are {sorted(KNOWN_FILES)}; "
                f"pass sha256={{{name!r}: '<hex>'}} to fetch another file"
            )
    folder.mkdir(parents=True, exist_ok=True)
    for name, candidates in plan.items():
        target = folder / name
        if target.is_file() and _verify(name, target, sha256) is None:
            continue
        failures = []
        for url in candidates:
            try:
                tmp = _fetch(url, folder, name, timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failures.append(f"{url}: {exc}")
                continue
            problem = _verify(name, tmp, sha256)
            if problem is None:
                os.replace(tmp, target)
                break
            tmp.unlink(missing_ok=True)
            failures.append(f"{url} gave {problem}")
        else:
            raise DataMissingError(
                f"could not get a verified {name} into {folder} ({'; '.join(failures)}), so "
                f"nothing was kept; install the data with `{APT_COMMAND}` instead."
            )
    return folder
