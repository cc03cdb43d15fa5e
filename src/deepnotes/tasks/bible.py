"""Labelled tasks made from Bible verses: which part of the Bible a verse comes from.

The six parts, by book (the 66 books of the WEB / Reina-Valera alignment, names as ``mod2imp``
prints them): **law** (Genesis–Deuteronomy), **history** (Joshua–Esther, and Acts), **poetry**
(Job–Song of Solomon), **prophets** (Isaiah–Malachi, and Revelation), **gospels**
(Matthew–John), **letters** (Romans–Jude). A verse's label is its book's part; a verse is
classified alone, without its neighbours.

Splits are by *chapter* (``"Genesis 1"``), from a hash of the chapter
(:func:`deepnotes.data.parallel.split_of`): neighbouring verses, which share names and
topics, never sit on both sides of a split.

Example:
    >>> section_of("Acts 2:4"), section_of("Psalms 23:1"), chapter_of("I Samuel 3:10")
    ('history', 'poetry', 'I Samuel 3')

Notes: P4 (a sequence-classification task), P8 (the same labels in two languages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deepnotes.errors import ConfigError

__all__ = ["SECTIONS", "VerseTask", "book_of", "chapter_of", "section_of", "verse_task"]

SECTIONS: dict[str, tuple[str, ...]] = {
    "law": ("Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy"),
    "history": ("Joshua", "Judges", "Ruth", "I Samuel", "II Samuel", "I Kings", "II Kings",
                "I Chronicles", "II Chronicles", "Ezra", "Nehemiah", "Esther", "Acts"),
    "poetry": ("Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon"),
    "prophets": ("Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel",
                 "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah",
                 "Haggai", "Zechariah", "Malachi", "Revelation of John"),
    "gospels": ("Matthew", "Mark", "Luke", "John"),
    "letters": ("Romans", "I Corinthians", "II Corinthians", "Galatians", "Ephesians",
                "Philippians", "Colossians", "I Thessalonians", "II Thessalonians", "I Timothy",
                "II Timothy", "Titus", "Philemon", "Hebrews", "James", "I Peter", "II Peter",
                "I John", "II John", "III John", "Jude"),
}
_SECTION_OF_BOOK = {book: s for s, books in SECTIONS.items() for book in books}


def book_of(reference: str) -> str:
    """``"I Samuel 3:10"`` → ``"I Samuel"``."""
    return reference.rsplit(" ", 1)[0]


def chapter_of(reference: str) -> str:
    """``"I Samuel 3:10"`` → ``"I Samuel 3"``."""
    return reference.split(":", 1)[0]


def section_of(reference: str) -> str:
    """The part of the Bible (a key of :data:`SECTIONS`) of a verse reference.

    Raises:
        ConfigError: a book outside the 66 (e.g. WEB's deuterocanon).
    """
    book = book_of(reference)
    if book not in _SECTION_OF_BOOK:
        raise ConfigError(f"{book!r} ({reference}) is not one of the 66 books of SECTIONS; "
                          "the deuterocanonical books have no part here")
    return _SECTION_OF_BOOK[book]


@dataclass
class VerseTask:
    """Verses of one split with their part of the Bible, in both languages (index-aligned)."""

    english: list[str]
    spanish: list[str]
    labels: list[int]
    references: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def verse_task(pairs: Sequence[tuple[str, str, str]], split_seed: int = 0,
               fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
               ) -> dict[str, VerseTask]:
    """The verse-part task from aligned ``(english, spanish, reference)`` verses
    (:func:`deepnotes.data.parallel.load_bible_pairs`), split by chapter into ``"train"``,
    ``"valid"`` and ``"test"``; labels index ``list(SECTIONS)``.

    Example:
        >>> task = verse_task([("In the beginning", "En el principio", "Genesis 1:1"),
        ...                    ("Jesus said...", "Y Jesús dijo...", "John 8:12")])
        >>> {s: task[s].labels for s in task}
        {'train': [0], 'valid': [], 'test': [4]}
    """
    from deepnotes.data.parallel import split_of

    names = list(SECTIONS)
    out = {s: VerseTask([], [], [], []) for s in ("train", "valid", "test")}
    for en, es, ref in pairs:
        part = out[split_of(chapter_of(ref), split_seed, fractions)]
        part.english.append(en)
        part.spanish.append(es)
        part.labels.append(names.index(section_of(ref)))
        part.references.append(ref)
    return out
