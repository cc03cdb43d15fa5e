"""BERT pre-training data: sentence pairs for next-sentence (NSP) or sentence-order (SOP)
prediction, built inside documents, then masked for the MLM (P1, P3).

A *document* is a list of sentences in order (a chapter, a novel's paragraph run, a poem). For
each pair of neighbouring sentences (A, B) of a document:

- **NSP** (BERT): with probability 1/2 B stays the sentence after A (label 0, "is next");
  otherwise B is replaced by a sentence drawn from *another* document (label 1, "random") —
  drawing from the same document would often give a near neighbour, a wrong negative.
- **SOP** (ALBERT): with probability 1/2 the two are kept in order (label 0); otherwise they are
  swapped (label 1). Both come from the same document, so topic cannot give the answer away,
  only order.

Each pair becomes ``[CLS] A [SEP] B [SEP]`` with token type ids 0 for A (and its ``[SEP]``)
and 1 for B, cut longest-first to ``max_length``. :func:`pretraining_batch` pads a list of
them and applies :func:`~deepnotes.models.bert.mask_tokens`.

Notes: P1, P3.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from deepnotes.errors import ConfigError

__all__ = ["SentencePair", "build_sentence_pairs", "pretraining_batch"]


@dataclass
class SentencePair:
    """One pre-training example: ids, token type ids and the NSP/SOP label."""

    ids: list[int]
    type_ids: list[int]
    label: int


def build_sentence_pairs(documents: Sequence[Sequence[str]], tokenizer, objective: str = "nsp",
                         max_length: int = 128, seed: int = 0) -> list[SentencePair]:
    """NSP or SOP pairs from neighbouring sentences of each document (module docstring).

    Args:
        documents: lists of sentences; documents with fewer than 2 sentences give no pair.
        tokenizer: a WordPiece tokenizer with BERT's ``[CLS]``/``[SEP]`` post-processing
            (:func:`deepnotes.text.load_tokenizer`).
        objective: ``"nsp"`` or ``"sop"``.
        max_length: the longest encoded pair (special tokens included).
        seed: the coin flips and the random sentences.

    Raises:
        ConfigError: an unknown objective; NSP with fewer than 2 documents (no "other document").
    """
    if objective not in ("nsp", "sop"):
        raise ConfigError(f"objective must be 'nsp' or 'sop', got {objective!r}")
    docs = [list(d) for d in documents if len(d) >= 1]
    if objective == "nsp" and len(docs) < 2:
        raise ConfigError("NSP draws its random sentences from other documents: give at least 2")
    rng = random.Random(seed)
    pairs = []
    for k, doc in enumerate(docs):
        for a, b in zip(doc, doc[1:]):
            label = int(rng.random() < 0.5)
            if label and objective == "nsp":
                other = rng.randrange(len(docs) - 1)
                other += other >= k  # any document but this one
                b = rng.choice(docs[other])
            elif label:  # sop: swapped
                a, b = b, a
            ids, types = tokenizer.encode_with_types(a, b, max_length=max_length)
            pairs.append(SentencePair(ids, types, label))
    return pairs


def pretraining_batch(pairs: Sequence[SentencePair], mask_id: int, vocab_size: int,
                      special_ids: Sequence[int], pad_id: int = 0, prob: float = 0.15,
                      first_regular_id: int = 0,
                      generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Pad ``pairs`` into tensors and mask them for the MLM.

    Returns:
        ``input_ids`` (masked), ``token_type_ids``, ``attention_mask``, ``mlm_labels`` (-100
        where no loss) and ``pair_labels`` (NSP/SOP), the first four (B, T), the last (B,).
    """
    from deepnotes.models.bert import mask_tokens

    if not pairs:
        raise ConfigError("no sentence pairs to batch")
    t = max(len(p.ids) for p in pairs)
    ids = torch.full((len(pairs), t), pad_id, dtype=torch.long)
    types, attention = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, p in enumerate(pairs):
        ids[i, :len(p.ids)] = torch.tensor(p.ids)
        types[i, :len(p.type_ids)] = torch.tensor(p.type_ids)
        attention[i, :len(p.ids)] = 1
    special = torch.isin(ids, torch.tensor(list(special_ids))) | (attention == 0)
    masked, labels = mask_tokens(ids, vocab_size, mask_id, special=special, prob=prob,
                                 first_regular_id=first_regular_id, generator=generator)
    return {"input_ids": masked, "token_type_ids": types, "attention_mask": attention,
            "mlm_labels": labels, "pair_labels": torch.tensor([p.label for p in pairs])}
