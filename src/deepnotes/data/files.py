r"""Your own files as datasets: a table (CSV/TSV), a folder of images, a text file.

``deepnotes train MODEL --data PATH`` reads them through these loaders; each gives an
:class:`~deepnotes.data.datasets.ArrayDataset` (or, for text, one string) and says in one
sentence -- naming the file, the line and the expected format -- what is wrong with a file it
cannot read (:class:`~deepnotes.errors.ConfigError`; a missing file or folder:
:class:`~deepnotes.errors.DataMissingError`).

**Tables** (:func:`load_table`). The first line names the columns; every other non-blank line
holds one example, one value per column. Separator: a tab for ``.tsv``/``.tab`` files, a comma
for ``.csv`` files, otherwise a tab when the header line holds one, else a comma; quoted fields
(``"a, b"``) are read as the csv module reads them. The target is the column ``target``
(default: the last column); every other column is a feature and must hold numbers (a column of
words is an error naming it: encode it as numbers first, e.g. one 0/1 column per category).
A missing value (an empty field, ``NA``, ``N/A``, ``NaN``, ``null`` or ``?``) is an error
naming the file, the line and the column. The task, unless ``task`` says it:

- **classification** when the target holds any value that is not a number (labels such as
  ``cat``), or only integers (written without a decimal point or exponent) with at most
  :data:`MAX_INTEGER_CLASSES` = 20 distinct values; the classes are the distinct labels in
  order (numbers by value, then words alphabetically), the class index is the position in
  that order;
- **regression** otherwise (a real-valued target, kept in its own units).

Features are standardised with the mean and standard deviation of the training part,
:math:`z_j = (x_j - \mu_j) / \sigma_j` (:math:`\sigma_j = 0` is replaced by 1), so features
of very different scales train alike; the statistics travel in the dataset's
``meta["source"]`` (and the checkpoint), so evaluation on another file uses the same ones.

**Image folders** (:func:`load_image_folder`): ``PATH/CLASS/IMAGE`` -- one subfolder per class
(its name is the class name, classes in alphabetical order) holding ``.png``, ``.jpg`` or
``.jpeg`` files (other files and hidden files are skipped; images directly in ``PATH`` are an
error). Read with Pillow. Channels: 1 (grey) when every image is grey (modes ``1``, ``L``,
``LA``, ``I``, ``I;16``, ``F``), else 3 (RGB; grey images are copied to three channels, alpha
is dropped). Size: with ``image_size=0`` (default) every image must have the size of the first
one (an image of another size is an error naming it); ``image_size=N`` resizes every image to
N x N pixels (bilinear, the aspect ratio is not kept). Pixels are scaled to [0, 1]:
:math:`x = \text{pixel} / 255`, shape ``(N, C, H, W)``.

**The test split** of a table or an image folder is a held-out part of the file: a seeded
random ``test_fraction`` (default 20%) of the examples, :math:`n_{test} = \mathrm{round}(n
\cdot f)`, stratified by class for classification (:func:`~deepnotes.data.splits.holdout_split`,
notes G3); ``split="train"`` gives the rest, ``"all"`` every example, and the same ``seed``
gives the same split every time (``test_fraction=0``: no test split).

**Text** (:func:`read_text_file`): a UTF-8 text file, read whole (for character language
models).

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pets.csv"
    >>> _ = p.write_text("weight,height,kind\n" + "".join(
    ...     f"{w},{h},{k}\n" for w, h, k in [(4, 25, "cat"), (30, 60, "dog")] * 5))
    >>> ds = load_table(p)
    >>> ds.task, ds.classes, ds.x.shape, len(load_table(p, split="test"))
    ('classification', ['cat', 'dog'], torch.Size([8, 2]), 2)

Notes: B8 (a dataset of examples), G3 (a held-out test split).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from deepnotes.data.datasets import ArrayDataset
from deepnotes.data.splits import holdout_split
from deepnotes.errors import ConfigError, DataMissingError

__all__ = ["IMAGE_SUFFIXES", "MAX_INTEGER_CLASSES", "MISSING", "load_image_folder", "load_table",
           "read_text_file", "reload"]

MAX_INTEGER_CLASSES = 20  # an integer target with at most this many values is a class label
MISSING = ("", "na", "n/a", "nan", "null", "?")  # missing values (compared lower-case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # Pillow modes of one-channel images
SPLITS = ("train", "test", "all")
_INTEGER = re.compile(r"[+-]?\d+")


# ----------------------------------------------------------------------------- helpers
def _decode(path: Path, raw: bytes, expected: str) -> str:
    """``raw`` as UTF-8 (a byte-order mark is dropped), or one sentence naming the bad line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}, line {line} is not UTF-8 text (byte {raw[exc.start]:#04x}); "
                          f"save it as UTF-8 {expected}") from None


def read_text_file(path: str | os.PathLike, expected: str = "text") -> str:
    """The whole UTF-8 text of the file at ``path``.

    Raises:
        DataMissingError: no file at ``path``.
        ConfigError: the file is not UTF-8 (names the line) or holds only white space.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "my.txt"
        >>> _ = p.write_text("It is a truth universally acknowledged.", encoding="utf-8")
        >>> read_text_file(p)[:12]
        'It is a trut'
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "a folder" if path.is_dir() else "missing"
        raise DataMissingError(f"{path} is {what}; pass the path of a UTF-8 {expected} file")
    text = _decode(path, path.read_bytes(), expected)
    if not text.strip():
        raise ConfigError(f"{path} is empty; a {expected} file needs some text")
    return text


def _split_indices(n: int, labels: np.ndarray | None, test_fraction: float, seed: int,
                   path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` indices: a seeded random ``test_fraction`` held out (G3)."""
    if isinstance(test_fraction, bool) or not 0.0 <= float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1) (0: no test split), got "
                          f"{test_fraction!r}")
    if test_fraction == 0:
        return np.arange(n), np.arange(0)
    n_test = math.floor(n * test_fraction + 0.5)  # n_test = round(n · f), as holdout_split
    if n_test < 1 or n_test > n - 1:
        raise ConfigError(f"{path} holds {n} {what}: a test_fraction of {test_fraction:g} leaves "
                          f"{n_test} for the test split and {n - n_test} for training; both need "
                          f"one, so use a larger file or another test_fraction")
    import torch

    stratify = torch.as_tensor(labels) if labels is not None else None
    train, test = holdout_split(n, val_fraction=test_fraction, seed=seed, stratify=stratify)
    return train.numpy(), test.numpy()


def _select(split: str, train: np.ndarray, test: np.ndarray, path: Path) -> np.ndarray | None:
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)} for your own files, got "
                          f"{split!r}")
    if split == "test" and not len(test):
        raise ConfigError(f"{path} has no test split (test_fraction=0); use split 'all' or "
                          f"'train'")
    return {"train": train, "test": test, "all": None}[split]


# ----------------------------------------------------------------------------- tables
def _delimiter(path: Path, first_line: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    return "\t" if "\t" in first_line else ","


def _number(text: str) -> float | None:
    """``text`` as a finite number, else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _label_name(text: str) -> str:
    """A label as a class name: numbers by value (``"1.0"`` and ``"1"`` are one class)."""
    value = _number(text)
    if value is None:
        return text
    return str(int(value)) if value.is_integer() else repr(value)


def _label_order(name: str) -> tuple[int, float, str]:
    value = _number(name)
    return (0, value, "") if value is not None else (1, 0.0, name)


def _read_table(path: Path) -> tuple[list[str], int, list[tuple[int, list[str]]], str]:
    """``(column names, header line number, [(line number, fields)], separator)``."""
    if not path.is_file():
        what = "a folder" if path.is_dir() else "missing"
        raise DataMissingError(f"{path} is {what}; pass the path of a CSV or TSV file whose first "
                               f"line names the columns")
    text = _decode(path, path.read_bytes(), "CSV or TSV")
    first = next((line for line in text.splitlines() if line.strip()), "")
    sep = _delimiter(path, first)
    sep_name = "tabs" if sep == "\t" else "commas"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            if header is None:
                header, header_line = [f.strip() for f in fields], reader.line_num
                continue
            if len(fields) != len(header):
                raise ConfigError(
                    f"{path}, line {reader.line_num} has {len(fields)} value"
                    f"{'s' if len(fields) != 1 else ''} but line {header_line} names "
                    f"{len(header)} columns; write one value per column, separated by {sep_name}")
            rows.append((reader.line_num, fields))
    except csv.Error as exc:
        raise ConfigError(f"{path}, line {reader.line_num} is not valid CSV/TSV ({exc}); write one "
                          f"value per column, separated by {sep_name}") from None
    if header is None:
        raise ConfigError(f"{path} is empty; a table needs a first line naming the columns and "
                          f"one example per line after it")
    for i, name in enumerate(header):
        if not name:
            raise ConfigError(f"{path}, line {header_line}: column {i + 1} has no name; the "
                              f"first line must name every column")
        if header.index(name) != i:
            raise ConfigError(f"{path}, line {header_line} names two columns {name!r}; give "
                              f"every column its own name")
    if all(_number(name) is not None for name in header):
        raise ConfigError(f"{path}, line {header_line} should name the columns but holds numbers "
                          f"({', '.join(header[:4])}{', ...' if len(header) > 4 else ''}); add a "
                          f"first line of column names, e.g. {sep.join(['x1', 'x2', 'label'])!r}")
    if not rows:
        raise ConfigError(f"{path} has a header line but no examples; add one example per line "
                          f"after line {header_line}")
    return header, header_line, rows, sep


def _missing(path: Path, line: int, column: str, value: str) -> ConfigError:
    shown = f" ({value!r})" if value else ""
    return ConfigError(f"{path}, line {line}, column {column!r} has a missing value{shown}; every "
                       f"value must be filled in (fill it or remove the line)")


def load_table(path: str | os.PathLike, target: str | None = None, task: str | None = None,
               split: str = "train", test_fraction: float = 0.2, seed: int = 0, *,
               features: Sequence[str] | None = None, classes: Sequence[str] | None = None,
               scale: tuple[Sequence[float], Sequence[float]] | None = None) -> ArrayDataset:
    """Read a CSV/TSV table of numeric features and a target column (see the module docstring).

    Args:
        path: the file; its first non-blank line names the columns.
        target: the target column's name (default: the last column).
        task: ``"classification"`` or ``"regression"``; default inferred from the target
            (labels that are not numbers, or at most 20 distinct integers: classification).
        split: ``"train"``, ``"test"`` (the held-out ``test_fraction``) or ``"all"``.
        test_fraction: share of the rows held out as the test split (0: none).
        seed: seed of the test split.
        features: the feature columns, in this order (default: every column but the target);
            other columns are then ignored. Used to read a new file as a trained model did.
        classes: the class names (default: the target's distinct labels, in order); a label
            outside them is an error.
        scale: ``(mean, std)`` per feature (default: those of the training part).

    Returns:
        An :class:`ArrayDataset` with float32 features ``(N, D)``, int64 class indices or
        float32 targets ``(N,)``, and ``meta["source"]``: what :func:`reload` needs to read
        the same split again (path, target, task, features, classes, mean, std, test_fraction,
        seed).

    Raises:
        DataMissingError: no file at ``path``.
        ConfigError: one sentence naming the file, the line and the column of the first
            problem: wrong number of values, a missing value, a feature that is not a number,
            no such target column, a label the model does not know.

    Notes: B8, G3.
    """
    path = Path(path).expanduser()
    header, header_line, rows, _ = _read_table(path)
    target = target or header[-1]
    if target not in header:
        raise ConfigError(f"{path} has no column {target!r} (line {header_line} names "
                          f"{', '.join(header)}); set target to one of them")
    if features is None:
        features = [c for c in header if c != target]
        if not features:
            raise ConfigError(f"{path} holds only the target column {target!r}; add at least one "
                              f"feature column")
    else:
        absent = [c for c in features if c not in header]
        if absent:
            raise ConfigError(f"{path} lacks the column {absent[0]!r} the model was trained on "
                              f"(line {header_line} names {', '.join(header)})")
        features = list(features)
    if target in features:
        raise ConfigError(f"the target column {target!r} cannot also be a feature")
    if task not in (None, "", "classification", "regression"):
        raise ConfigError(f"task must be classification or regression (or empty: inferred from "
                          f"the target), got {task!r}")
    cols = [header.index(c) for c in features]
    t_col = header.index(target)
    x = np.empty((len(rows), len(cols)), dtype=np.float64)
    labels: list[str] = []
    for r, (line, fields) in enumerate(rows):
        for j, c in enumerate(cols):
            value = fields[c].strip()
            if value.lower() in MISSING:
                raise _missing(path, line, header[c], value)
            number = _number(value)
            if number is None:
                raise ConfigError(
                    f"{path}, line {line}, column {header[c]!r} holds {value!r}, not a number; "
                    f"feature columns must be numeric: encode {header[c]!r} as numbers (e.g. "
                    f"one 0/1 column per category) or remove it")
            x[r, j] = number
        label = fields[t_col].strip()
        if label.lower() in MISSING:
            raise _missing(path, line, target, label)
        labels.append(label)

    if not task:
        numeric = all(_number(v) is not None for v in labels)
        integers = numeric and all(_INTEGER.fullmatch(v) for v in labels)
        few = len({int(v) for v in labels}) <= MAX_INTEGER_CLASSES if integers else False
        task = "classification" if classes or not numeric or few else "regression"
    if task == "regression":
        y = np.empty(len(labels), dtype=np.float32)
        for r, v in enumerate(labels):
            number = _number(v)
            if number is None:
                raise ConfigError(f"{path}, line {rows[r][0]}, column {target!r} holds {v!r}, not "
                                  f"a number; regression needs a numeric target (or set "
                                  f"task=classification)")
            y[r] = number
        class_names = None
    else:
        names = [_label_name(v) for v in labels]
        class_names = (list(classes) if classes is not None
                       else sorted(set(names), key=_label_order))
        index = {name: i for i, name in enumerate(class_names)}
        for r, name in enumerate(names):
            if name not in index:
                raise ConfigError(f"{path}, line {rows[r][0]}, column {target!r} holds the label "
                                  f"{labels[r]!r}, which the model was not trained on (its "
                                  f"classes: {', '.join(class_names)})")
        y = np.array([index[name] for name in names], dtype=np.int64)

    if split == "all" and scale is not None:  # nothing to hold out, nothing to measure
        train = test = np.arange(0)
    else:
        train, test = _split_indices(len(rows), y if task == "classification" else None,
                                     test_fraction, seed, path, "examples")
    if scale is None:
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    else:
        mean, std = np.asarray(scale[0], dtype=np.float64), np.asarray(scale[1], dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    z = (x - mean) / std  # z_j = (x_j - mu_j) / sigma_j, statistics of the training part
    source = {"kind": "table", "path": str(path.resolve()), "target": target, "task": task,
              "features": list(features), "classes": class_names or [],
              "mean": mean.tolist(), "std": std.tolist(),
              "test_fraction": float(test_fraction), "seed": int(seed)}
    idx = _select(split, train, test, path)
    if idx is not None:
        z, y = z[idx], y[idx]
    return ArrayDataset(z.astype(np.float32), y, name=str(path), classes=class_names, task=task,
                        split=split, meta={"source": source})


# ----------------------------------------------------------------------------- images
def _image_files(root: Path) -> list[tuple[str, list[Path]]]:
    """``[(class name, image files)]`` of an image folder, in alphabetical order."""
    if not root.is_dir():
        what = "a file" if root.is_file() else "missing"
        raise DataMissingError(f"{root} is {what}; pass a folder with one subfolder of PNG or "
                               f"JPEG images per class (e.g. {root}/cat/1.png)")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    loose = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise ConfigError(f"{loose[0]} lies directly in {root}; put the images of each class in a "
                          f"subfolder named after the class (e.g. {root}/cat/{loose[0].name})")
    folders = [p for p in entries if p.is_dir()]
    if not folders:
        raise ConfigError(f"{root} has no class subfolders; put the images of each class in a "
                          f"subfolder named after the class (e.g. {root}/cat/1.png)")
    out = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file()
                       and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(f"{folder} holds no PNG or JPEG images (.png, .jpg, .jpeg); put at "
                              f"least one image in every class folder or remove the folder")
        out.append((folder.name, files))
    return out


def load_image_folder(path: str | os.PathLike, image_size: int = 0, split: str = "train",
                      test_fraction: float = 0.2, seed: int = 0, *, channels: int = 0,
                      classes: Sequence[str] | None = None,
                      shape: Sequence[int] | None = None) -> ArrayDataset:
    """Read a folder of PNG/JPEG images, one subfolder per class (see the module docstring).

    Args:
        path: the folder (``path/CLASS/IMAGE.png``).
        image_size: ``N > 0`` resizes every image to N x N (bilinear); 0 requires one size.
        split: ``"train"``, ``"test"`` (the held-out ``test_fraction``) or ``"all"``.
        test_fraction: share of the images held out as the test split (0: none).
        seed: seed of the test split.
        channels: 1 (grey) or 3 (RGB); 0 (default): 1 when every image is grey, else 3.
        classes: the class names a trained model knows (default: the subfolders); a
            subfolder outside them is an error.
        shape: ``(C, H, W)`` a trained model reads (with ``image_size=0``: images of another
            size are an error).

    Returns:
        An :class:`ArrayDataset`: float32 pixels in [0, 1] of shape ``(N, C, H, W)``, int64
        class indices, class names, and ``meta["source"]`` for :func:`reload`.

    Raises:
        DataMissingError: no folder at ``path``.
        ConfigError: no class subfolders, an empty class folder, images directly in ``path``,
            an unreadable image or one of another size (each names the file).

    Notes: B8, G3.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - pillow is a dependency
        raise ConfigError("reading image folders needs Pillow: `pip install pillow`") from None
    root = Path(path).expanduser()
    found = _image_files(root)
    if classes is None:
        if len(found) < 2:
            raise ConfigError(f"{root} has one class folder ({found[0][0]}); a classifier needs "
                              f"at least two, one subfolder per class")
        class_names = [name for name, _ in found]
    else:
        class_names = list(classes)
        for name, files in found:
            if name not in class_names:
                raise ConfigError(f"{root / name} is a class the model was not trained on (its "
                                  f"classes: {', '.join(class_names)})")
    if image_size < 0:
        raise ConfigError(f"image_size must be >= 0 (0: keep the images' own size), got "
                          f"{image_size}")
    files = [(class_names.index(name), f) for name, fs in found for f in fs]

    def unreadable(file: Path, exc: Exception) -> ConfigError:
        return ConfigError(f"{file} is not a readable PNG or JPEG image ({exc}); replace it or "
                           f"remove it")

    modes, sizes = [], []
    for _, file in files:  # pass 1: headers only
        try:
            with Image.open(file) as img:
                modes.append(img.mode)
                sizes.append(img.size)  # (width, height)
        except (UnidentifiedImageError, OSError) as exc:
            raise unreadable(file, exc) from None
    if channels == 0:
        channels = 1 if all(m in GREY_MODES for m in modes) else 3
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if image_size:
        width = height = image_size
    elif shape is not None:
        height, width = int(shape[1]), int(shape[2])
    else:
        width, height = sizes[0]
    if not image_size:
        for (_, file), size in zip(files, sizes):
            if size != (width, height):
                first = "the model's images" if shape is not None else str(files[0][1])
                raise ConfigError(f"{file} is {size[0]}x{size[1]} pixels but {first} "
                                  f"{'are' if shape is not None else 'is'} {width}x{height}; "
                                  f"images must share one size: set image_size=N to resize "
                                  f"every image to N x N")
    pixels = np.empty((len(files), channels, height, width), dtype=np.uint8)
    for i, (_, file) in enumerate(files):  # pass 2: the pixels
        try:
            with Image.open(file) as img:
                img = img.convert("L" if channels == 1 else "RGB")
                if img.size != (width, height):
                    img = img.resize((width, height), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise unreadable(file, exc) from None
        pixels[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
    y = np.array([label for label, _ in files], dtype=np.int64)
    train = test = np.arange(0)
    if split != "all":
        train, test = _split_indices(len(files), y, test_fraction, seed, root, "images")
    source = {"kind": "images", "path": str(root.resolve()), "image_size": int(image_size),
              "channels": int(channels), "shape": [int(channels), int(height), int(width)],
              "classes": class_names, "test_fraction": float(test_fraction), "seed": int(seed)}
    idx = _select(split, train, test, root)
    if idx is not None:
        pixels, y = pixels[idx], y[idx]
    x = pixels.astype(np.float32) / 255.0  # x = pixel / 255
    return ArrayDataset(x, y, name=str(root), classes=class_names, task="classification",
                        split=split, meta={"source": source})


# ----------------------------------------------------------------------------- reload
def reload(source: dict[str, Any], split: str = "test",
           path: str | os.PathLike | None = None) -> ArrayDataset:
    """Read a file again as it was read for training, from a dataset's ``meta["source"]``.

    ``path`` reads another file of the same layout instead (the same columns / classes /
    image shape; features scaled with the training statistics), e.g. new data for a trained
    model. ``split``: ``"train"``, ``"test"`` or ``"all"``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "y.csv"
        >>> _ = p.write_text("x,y\\n" + "".join(f"{i},{0.5 * i}\\n" for i in range(10)))
        >>> ds = load_table(p)
        >>> ds.task, reload(ds.meta["source"], "test").x.shape
        ('regression', torch.Size([2, 1]))
    """
    kind = source.get("kind")
    where = path if path is not None else source["path"]
    if kind == "table":
        return load_table(where, source["target"], source["task"], split,
                          source["test_fraction"], source["seed"], features=source["features"],
                          classes=source["classes"] or None,
                          scale=(source["mean"], source["std"]))
    if kind == "images":
        return load_image_folder(where, source["image_size"], split, source["test_fraction"],
                                 source["seed"], channels=source["channels"],
                                 classes=source["classes"], shape=source["shape"])
    raise ConfigError(f"cannot read data of kind {kind!r} again; it is not a table or an "
                      f"image folder")
