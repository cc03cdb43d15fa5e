"""Labelled reading tasks built from plain novels (P4): sentence pairs and cloze questions.

No labelled English sentence-level data set is available offline (DATA.md), so two tasks are
made from Jane Austen's novels, with labels that come from the text itself:

- **Consecutive sentences** (pair classification): ``(A, B)`` is positive when B is the
  sentence right after A in the same paragraph run, negative when B is a sentence of the same
  novel at least ``min_gap`` sentences away (same characters, same style: only the flow of
  the text tells them apart). Half of the pairs of each kind.
- **Cloze questions** (extractive QA): a *context* of consecutive sentences (at most
  ``max_words`` words) and the sentence that follows it, in which one character's name that
  also occurs in the context is replaced by ``[MASK]``: the question. The answer is the name,
  found as a span of the context (its last mention there is the training target; any mention
  gives the same text, which is what is scored). Names are the words of the novel that are
  capitalised in at least 95 % of at least ``min_count`` occurrences, not a title or a common
  capitalised word (:data:`NOT_NAMES`).

Splitting by novel keeps the test characters unseen in training: a model must read, not
remember names.

Notes: P4 (pair classification, extractive QA).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from deepnotes.errors import ConfigError

__all__ = ["ClozeQuestion", "NOT_NAMES", "ReadingTasks", "TEST_BOOK", "TRAIN_BOOKS", "VAL_BOOK",
           "austen_tasks", "book_sentences", "cloze_questions", "consecutive_pairs",
           "find_names", "heuristic_answers"]

NOT_NAMES = frozenset("""I Mr Mrs Miss Sir Lady Lord Dr Colonel Captain Admiral Madam Ma'am
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
July August September October November December Christmas Michaelmas Easter England English
London Bath God Heaven Oh Ah Yes No Well Chapter Volume The A An And But So Then Now There
Here It He She They We You His Her Their Our My Your This That These Those What When Where Why
How Who If As At In On Of For To By With From Not Do Does Did Is Was Be Had Have Has""".split())

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z])")
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def book_sentences(lines: Sequence[str]) -> list[list[str]]:
    """Paragraphs (runs of non-blank lines) cut into sentences after . ! ? (and Austen's
    ``.--``) followed by a capital letter; returns one list of sentences per paragraph.

    Example:
        >>> book_sentences(["He came.  She", "left! Why?", "", "Next one."])
        [['He came.', 'She left!', 'Why?'], ['Next one.']]
    """
    paragraphs, cur = [], []
    for line in [*lines, ""]:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            text = re.sub(r"([.!?][\"']?)--", r"\1 ", " ".join(cur))  # Austen's ".--" joins
            paragraphs.append([s.strip() for s in _SENTENCE_END.split(text) if s.strip()])
            cur = []
    return paragraphs


def find_names(sentences: Sequence[str], min_count: int = 5, share: float = 0.95) -> set[str]:
    """Words capitalised in at least ``share`` of their (at least ``min_count``) occurrences,
    minus :data:`NOT_NAMES` — the characters and places of a novel."""
    caps, total = Counter(), Counter()
    for s in sentences:
        for w in _WORD.findall(s):
            key = w.lower()
            total[key] += 1
            caps[key] += w[0].isupper()
    out = set()
    for key, n in total.items():
        if n >= min_count and caps[key] >= share * n:
            word = key.capitalize()
            if word not in NOT_NAMES and not word.endswith("'s"):
                out.add(word)
    return out


def consecutive_pairs(paragraphs: Sequence[Sequence[str]], n: int, seed: int = 0,
                      min_gap: int = 50, min_words: int = 4) -> list[tuple[str, str, int]]:
    """``n`` pairs ``(A, B, label)``: label 1 when B follows A in one paragraph, 0 when B is
    at least ``min_gap`` sentences away in the same book (module docstring); sentences of
    fewer than ``min_words`` words are skipped."""
    flat = [s for p in paragraphs for s in p]
    index, neighbours = 0, []
    for p in paragraphs:
        for k in range(len(p) - 1):
            if len(p[k].split()) >= min_words and len(p[k + 1].split()) >= min_words:
                neighbours.append(index + k)
        index += len(p)
    if len(neighbours) < n or len(flat) < 2 * min_gap + 2:
        raise ConfigError(f"only {len(neighbours)} consecutive pairs in {len(flat)} sentences; "
                          f"ask for fewer than {n} or give more text")
    rng = random.Random(seed)
    out = []
    for i, a in enumerate(rng.sample(neighbours, n)):
        if i % 2 == 0:
            out.append((flat[a], flat[a + 1], 1))
        else:
            while True:
                b = rng.randrange(len(flat))
                if abs(b - a) >= min_gap and len(flat[b].split()) >= min_words:
                    break
            out.append((flat[a], flat[b], 0))
    rng.shuffle(out)
    return out


@dataclass
class ClozeQuestion:
    """A question (a sentence with one name replaced by ``[MASK]``), its context and the name."""

    question: str
    context: str
    answer: str
    candidates: list[str]  # the names of the context, in order of their last mention


def cloze_questions(paragraphs: Sequence[Sequence[str]], names: set[str], max_words: int = 80,
                    max_question_words: int = 30, min_candidates: int = 1, seed: int = 0
                    ) -> list[ClozeQuestion]:
    """Every sentence of at most ``max_question_words`` words with a name also mentioned in
    the preceding ``max_words`` words of its book becomes one question (module docstring);
    the name masked is drawn (seeded) among those it mentions once (a name it repeats would
    give itself away). Questions whose context names fewer than ``min_candidates`` different
    names are left out (with one name, picking any name is right)."""
    rng = random.Random(seed)
    flat = [s for p in paragraphs for s in p]
    out = []
    for i in range(1, len(flat)):
        words = _WORD.findall(flat[i])
        here = [w for w in words if w in names and words.count(w) == 1]
        if not here or len(flat[i].split()) > max_question_words:
            continue
        context, count = [], 0
        for j in range(i - 1, -1, -1):
            n = len(flat[j].split())
            if count + n > max_words:
                break
            context.insert(0, flat[j])
            count += n
        if not context:
            continue
        ctx = " ".join(context)
        mentioned = [w for w in _WORD.findall(ctx) if w in names]
        choices = sorted({w for w in here if w in mentioned})
        if not choices:
            continue
        name = rng.choice(choices)
        question = re.sub(rf"\b{re.escape(name)}\b", "[MASK]", flat[i], count=1)
        order = list(dict.fromkeys(reversed(mentioned)))  # most recent first
        if len(order) < min_candidates:
            continue
        out.append(ClozeQuestion(question, ctx, name, order))
    return out


def heuristic_answers(questions: Sequence[ClozeQuestion]) -> dict[str, list[str]]:
    """The answers of three rules that do not read the question: the name mentioned last in
    the context, the most frequent one, and the first one."""
    last = [q.candidates[0] for q in questions]
    frequent = [Counter(w for w in _WORD.findall(q.context) if w in set(q.candidates))
                .most_common(1)[0][0] for q in questions]
    first = [q.candidates[-1] for q in questions]
    return {"last mentioned": last, "most frequent": frequent, "first mentioned": first}


# ---- both tasks, split by novel ------------------------------------------------------------
TRAIN_BOOKS = ("Sense & Sensibility", "Pride & Prejudice", "Mansfield Park", "Emma")
VAL_BOOK, TEST_BOOK = "Northanger Abbey", "Persuasion"


@dataclass
class ReadingTasks:
    """The two Austen tasks per split (``"train"``, ``"val"``, ``"test"``): consecutive-sentence
    pairs ``(A, B, label)`` and cloze questions."""

    pairs: dict[str, list[tuple[str, str, int]]]
    questions: dict[str, list[ClozeQuestion]]


def austen_tasks(books: dict[str, list[list[str]]], pairs: int, val_examples: int,
                 test_pairs: int, questions: int = 0, test_questions: int = 0,
                 context_words: int = 80, seed: int = 0) -> ReadingTasks:
    """Both reading tasks from Austen's paragraphs (``books``: novel → :func:`book_sentences`),
    split by novel: :data:`TRAIN_BOOKS` train, :data:`VAL_BOOK` validates, :data:`TEST_BOOK`
    tests.

    Args:
        pairs: training pairs in all (spread evenly over the four training novels).
        val_examples: validation pairs, and questions at most.
        test_pairs: test pairs.
        questions: training questions, a seeded sample (0: all).
        test_questions: the first this many test questions (0: all).
        context_words: words of context before a question, at most.
        seed: the draws (each novel its own offset).

    Raises:
        ConfigError: a novel of the split is missing from ``books``.
    """
    missing = [b for b in (*TRAIN_BOOKS, VAL_BOOK, TEST_BOOK) if b not in books]
    if missing:
        raise ConfigError(f"books lacks {missing}; pass every Austen novel's paragraphs")
    out = ReadingTasks({"train": [], "val": [], "test": []}, {"train": [], "val": [], "test": []})
    per_book = -(-pairs // len(TRAIN_BOOKS))
    for k, b in enumerate(TRAIN_BOOKS):
        out.pairs["train"] += consecutive_pairs(books[b], per_book, seed=seed + k)
        flat = [s for p in books[b] for s in p]
        out.questions["train"] += cloze_questions(books[b], find_names(flat), context_words,
                                                  min_candidates=2, seed=seed + k)
    out.pairs["val"] = consecutive_pairs(books[VAL_BOOK], val_examples, seed=seed + 10)
    out.pairs["test"] = consecutive_pairs(books[TEST_BOOK], test_pairs, seed=seed + 11)
    for split, b in (("val", VAL_BOOK), ("test", TEST_BOOK)):
        flat = [s for p in books[b] for s in p]
        out.questions[split] = cloze_questions(books[b], find_names(flat), context_words,
                                               min_candidates=2, seed=seed)
    if questions:
        import torch

        train = out.questions["train"]
        keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
        out.questions["train"] = [train[i] for i in sorted(keep[:questions].tolist())]
    out.questions["val"] = out.questions["val"][:val_examples]
    if test_questions:
        out.questions["test"] = out.questions["test"][:test_questions]
    return out
