"""The Bible verse-part task (P4, P8): labels by book, splits by chapter."""

from __future__ import annotations

import pytest

from deepnotes.errors import ConfigError
from deepnotes.tasks.bible import SECTIONS, book_of, chapter_of, section_of, verse_task


def test_sixty_six_books_in_six_parts():
    books = [b for part in SECTIONS.values() for b in part]
    assert len(books) == len(set(books)) == 66
    assert list(SECTIONS) == ["law", "history", "poetry", "prophets", "gospels", "letters"]
    assert section_of("Revelation of John 22:20") == "prophets"
    assert section_of("II Thessalonians 3:1") == "letters"
    assert book_of("Song of Solomon 2:1") == "Song of Solomon"
    assert chapter_of("Song of Solomon 2:1") == "Song of Solomon 2"


def test_unknown_book_is_a_clear_error():
    with pytest.raises(ConfigError, match="Tobit"):
        section_of("Tobit 1:1")


def test_verses_of_one_chapter_share_a_split_and_languages_stay_aligned():
    pairs = [(f"en {c}:{v}", f"es {c}:{v}", f"{book} {c}:{v}")
             for book in ("Genesis", "Psalms", "Mark") for c in range(1, 30) for v in range(1, 4)]
    task = verse_task(pairs, split_seed=3)
    assert sum(len(t) for t in task.values()) == len(pairs)
    where = {}
    for split, t in task.items():
        assert len(t.english) == len(t.spanish) == len(t.labels) == len(t.references)
        for en, es, y, ref in zip(t.english, t.spanish, t.labels, t.references):
            assert en[3:] == es[3:] == ref.split(" ", 1)[1]
            assert list(SECTIONS)[y] == section_of(ref)
            assert where.setdefault(chapter_of(ref), split) == split
    assert all(len(t) > 0 for t in task.values())  # 87 chapters: every split has some


@pytest.mark.parametrize("name", ["deepnotes.tasks.bible", "deepnotes.tasks.bert",
                                  "deepnotes.tasks.reading", "deepnotes.text.wordpiece",
                                  "deepnotes.tasks.gpt", "deepnotes.models.gpt",
                                  "deepnotes.decoding.sampling"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
