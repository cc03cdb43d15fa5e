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

import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as TF

from deepnotes.optim import warmup_cosine

from deepnotes.errors import ConfigError

__all__ = ["FitResult", "PairBatches", "Rounds", "SentencePair", "adamw", "build_sentence_pairs",
           "char_vocab", "chinese_documents", "choose_finetune", "classification_batches",
           "classify", "encode_qa", "encode_tagged", "english_documents", "finetune", "hold_out",
           "load_classifier", "mlm_accuracy", "mlm_floor", "pair_accuracy", "pair_batches",
           "pair_loss", "predict", "pretrain", "pretraining_batch", "pretraining_loss_step",
           "qa_batches", "qa_loss_step", "qa_predict", "save_classifier", "span_accuracy",
           "split_sentences", "tagging_batches", "token_accuracy", "token_loss"]


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


# ---- pre-training ------------------------------------------------------------------------
def char_vocab(texts: Iterable[str], min_freq: int = 2, max_size: int | None = None
               ) -> list[str]:
    """A character vocabulary for a Chinese BERT (as Google's Chinese BERT: one piece per
    character), in ``vocab.txt`` order: ``[PAD] [UNK] [CLS] [SEP] [MASK]``, then the characters
    seen at least ``min_freq`` times, most frequent first, then ``##c`` for every kept
    character that is not a CJK ideograph (so that runs of Latin letters and digits, which
    BERT's basic tokenizer keeps together as one word, split into characters).

    Characters are counted after BERT's normalisation (lower case, accents stripped), so the
    vocabulary matches what :meth:`WordPieceTokenizer.from_vocab(..., lowercase=True)
    <deepnotes.text.WordPieceTokenizer.from_vocab>` looks up.

    Example:
        >>> char_vocab(["好好学习", "天天 up"], min_freq=2)
        ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '天', '好']
    """
    from deepnotes.text.normalizers import BertNormalizer

    if min_freq < 1:
        raise ConfigError(f"min_freq must be >= 1, got {min_freq}")
    norm = BertNormalizer(True, True, True, True)
    counts = Counter(ch for t in texts for ch in norm.normalize(t) if not ch.isspace())
    chars = [c for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
             if n >= min_freq]
    if max_size is not None:
        chars = chars[:max(0, max_size - len(SPECIAL_TOKENS))]
    cont = ["##" + c for c in chars if not _is_cjk(c)]
    return [*SPECIAL_TOKENS, *chars, *cont]


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _is_cjk(ch: str) -> bool:
    from deepnotes.text.normalizers import is_cjk

    return is_cjk(ch)


def split_sentences(text: str, min_chars: int = 2, punctuation: str = "。！？!?；;") -> list[str]:
    """Cut Chinese (or mixed) text after each mark of ``punctuation`` and at line breaks;
    pieces shorter than ``min_chars`` join the one before.

    Example:
        >>> split_sentences("东西不错。就是贵了点！下次还来")
        ['东西不错。', '就是贵了点！', '下次还来']
        >>> split_sentences("很好，好。", min_chars=3, punctuation="。，")  # "好。" is too short
        ['很好，好。']
    """
    marks = re.escape(punctuation)
    out: list[str] = []
    for line in text.splitlines():
        for piece in re.findall(rf"[^{marks}]+[{marks}]*|[{marks}]+", line.strip()):
            piece = piece.strip()
            if not piece:
                continue
            if out and len(piece) < min_chars:
                out[-1] += piece
            else:
                out.append(piece)
    return out


def chinese_documents(reviews: Sequence[str], sentences: Sequence[str],
                      extra_text: bool = True, run: int = 8) -> list[list[str]]:
    """Pre-training documents from the offline Chinese text (lists of sentences, 2 or more):
    each review cut into clauses (at 。！？；，), runs of ``run`` consecutive People's Daily
    ``sentences``, and with ``extra_text`` the lines of each Chinese fortune (fortunes-zh) and
    Tang poem. Give only the texts a model may read (not the test splits of its tasks)."""
    from deepnotes.data.corpora import load_documents

    docs = [split_sentences(t, punctuation="。！？!?；;，,") for t in reviews]
    docs += [list(sentences[i:i + run]) for i in range(0, len(sentences), run)]
    if extra_text:
        for name in ("fortunes-zh", "tang-poems"):
            docs += [split_sentences(d) for d in load_documents(name)]
    return [d for d in docs if len(d) >= 2]


def english_documents(books: Iterable[Sequence[str]], run: int = 8, min_words: int = 3
                      ) -> list[list[str]]:
    """Pre-training documents from English books given as lines (a novel, a play; blank lines
    between paragraphs): each book cut into sentences
    (:func:`~deepnotes.tasks.reading.book_sentences`), sentences of fewer than ``min_words``
    words dropped (a play's speaker labels, "Hor."), then runs of ``run`` consecutive
    sentences, each run one document.

    Example:
        >>> english_documents([["It was late. She knew it well.", "", "Hor.", "",
        ...                     "He came back at last."]], run=2)
        [['It was late.', 'She knew it well.'], ['He came back at last.']]
    """
    from deepnotes.tasks.reading import book_sentences

    docs = []
    for lines in books:
        sentences = [t for p in book_sentences(list(lines)) for t in p
                     if len(t.split()) >= min_words]
        docs += [sentences[i:i + run] for i in range(0, len(sentences), run)]
    return docs


def hold_out(documents: Sequence, share: float, seed: int = 0) -> tuple[list, list]:
    """``(train, validation)`` documents: a seeded ``share`` of them (at least 2) held out."""
    perm = torch.randperm(len(documents), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(2, int(share * len(documents)))
    return [documents[i] for i in perm[n_val:]], [documents[i] for i in perm[:n_val]]


def mlm_floor(train_pairs: Sequence[SentencePair], val_pairs: Sequence[SentencePair], tokenizer,
              seed: int = 0, batch_size: int = 32) -> float:
    """The masked LM's floor: the accuracy on the validation pairs' masked positions (masked
    as :func:`pretrain` validates them: seed ``seed + 1``, the same ``batch_size``) of always
    answering the most frequent regular piece of the training pairs."""
    counts = Counter(t for p in train_pairs for t in p.ids)
    for t in SPECIAL_TOKENS:
        counts.pop(tokenizer.token_to_id(t), None)
    top = counts.most_common(1)[0][0]
    targets = torch.cat([b[3][b[3] != -100]
                         for b in pair_batches(val_pairs, tokenizer, batch_size, shuffle=False,
                                               seed=seed + 1)])
    return float((targets == top).float().mean())


def pair_batches(pairs: Sequence[SentencePair], tokenizer, batch_size: int,
                 shuffle: bool = True, seed: int = 0, prob: float = 0.15) -> PairBatches:
    """:class:`PairBatches` of ``pairs`` (see there)."""
    return PairBatches(pairs, tokenizer, batch_size, shuffle=shuffle, seed=seed, prob=prob)


class PairBatches:
    """Length-bucketed, masked pre-training batches of sentence pairs
    (:class:`~deepnotes.data.chinese.LengthBatches` underneath).

    Masking is dynamic (RoBERTa's choice): a training batch is masked afresh each time it is
    served, from one seeded generator; an evaluation set (``shuffle=False``) is masked the same
    way at every pass (its generator restarts). Batches are tuples ``(input_ids,
    token_type_ids, attention_mask, mlm_labels, pair_labels)`` for
    :func:`pretraining_loss_step`.
    """

    def __init__(self, pairs: Sequence[SentencePair], tokenizer, batch_size: int,
                 shuffle: bool = True, seed: int = 0, prob: float = 0.15) -> None:
        from deepnotes.data.chinese import LengthBatches

        self.pairs, self.prob, self.seed, self.shuffle = pairs, prob, seed, shuffle
        self.mask_id = _special_id(tokenizer, "[MASK]")
        self.pad = _special_id(tokenizer, "[PAD]")
        self.special = [i for t in SPECIAL_TOKENS if (i := tokenizer.token_to_id(t)) is not None]
        self.vocab_size = tokenizer.vocab_size
        self.generator = torch.Generator().manual_seed(seed)
        self.batches = LengthBatches([len(p.ids) for p in pairs], batch_size, self._collate,
                                     shuffle=shuffle, seed=seed)

    def _collate(self, idx: list[int]) -> tuple[Tensor, ...]:
        b = pretraining_batch([self.pairs[i] for i in idx], self.mask_id, self.vocab_size,
                              self.special, pad_id=self.pad, prob=self.prob,
                              first_regular_id=max(self.special) + 1, generator=self.generator)
        return (b["input_ids"], b["token_type_ids"], b["attention_mask"], b["mlm_labels"],
                b["pair_labels"])

    @property
    def epoch(self) -> int:
        return self.batches.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.batches.epoch = value

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        if not self.shuffle:  # the same masks at every evaluation
            self.generator = torch.Generator().manual_seed(self.seed)
        return iter(self.batches)


def _special_id(tokenizer, token: str) -> int:
    i = tokenizer.token_to_id(token)
    if i is None:
        raise ConfigError(f"the tokenizer has no {token} token; BERT pre-training needs "
                          f"{', '.join(SPECIAL_TOKENS)} in the vocabulary")
    return i


class Rounds:
    """Serve ``steps`` batches per pass from ``batches``, restarting it whenever it runs out:
    a long run cut into equal rounds, so that the Trainer validates (and records a curve
    point) every ``steps`` updates instead of once per pass over a big corpus."""

    def __init__(self, batches: Iterable, steps: int) -> None:
        if steps < 1:
            raise ConfigError(f"steps per round must be >= 1, got {steps}")
        self.batches, self.steps = batches, int(steps)
        self._it: Iterator | None = None

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator:
        for _ in range(self.steps):
            try:
                if self._it is None:
                    raise StopIteration
                yield next(self._it)
            except StopIteration:
                self._it = iter(self.batches)
                yield next(self._it)


def pretraining_loss_step(model, loss_fn, batch):
    r"""The Trainer's step for :class:`~deepnotes.models.bert.BertForPreTraining`: the sum of
    the masked-LM cross-entropy (over the chosen positions only) and the NSP/SOP one,

    .. math:: \mathcal L = -\frac1{|M|}\sum_{t\in M}\log p(x_t \mid \tilde x)
              - \log p(y \mid \tilde x).

    Returns ``(loss, (mlm_logits (N, V), pair_logits (B, 2)), (mlm_targets (N,), labels (B,)))``.
    """
    ids, types, attention, mlm_labels, pair_labels = batch
    chosen = mlm_labels != -100
    mlm, pair = model(ids, attention, types, predict=chosen)
    targets = mlm_labels[chosen]
    loss = TF.cross_entropy(mlm, targets) + TF.cross_entropy(pair, pair_labels)
    return loss, (mlm, pair), (targets, pair_labels)


def mlm_accuracy(outputs, targets) -> Tensor:
    """Share of masked positions whose most likely token is the original one."""
    mlm, target = outputs[0], targets[0]
    return (mlm.argmax(-1) == target).float().mean() if len(target) else torch.tensor(0.0)


def pair_accuracy(outputs, targets) -> Tensor:
    """Share of NSP/SOP pairs labelled right."""
    return (outputs[1].argmax(-1) == targets[1]).float().mean()


def pair_loss(outputs, targets) -> Tensor:
    """The NSP/SOP cross-entropy alone (the loss column holds the sum with the MLM's)."""
    return TF.cross_entropy(outputs[1], targets[1])


@dataclass
class FitResult:
    """A trained model, its Trainer (``history``) and the wall time in seconds."""

    model: torch.nn.Module
    trainer: Any
    seconds: float
    setting: dict

    @property
    def history(self):
        return self.trainer.history


def pretrain(model, train_pairs: Sequence[SentencePair], val_pairs: Sequence[SentencePair],
             tokenizer, *, steps: int, rounds: int, batch_size: int = 32, lr: float = 5e-4,
             warmup: float = 0.06, weight_decay: float = 0.01, seed: int = 0,
             grad_clip: float | None = 1.0, callbacks: Sequence = ()) -> FitResult:
    """Pre-train a :class:`~deepnotes.models.bert.BertForPreTraining` with MLM + NSP/SOP.

    ``rounds`` rounds of ``steps // rounds`` updates (a validation row after each: ``loss``,
    ``mlm_accuracy``, ``pair_accuracy``, ``pair_loss``); AdamW (ours) with decay on matrices
    only, linear warm-up over ``warmup`` of the steps, then cosine to 0.
    """
    from deepnotes.models import model_info
    from deepnotes.train.trainer import Trainer, TrainConfig

    if rounds < 1 or steps < rounds:
        raise ConfigError(f"need steps >= rounds >= 1, got steps={steps}, rounds={rounds}")
    per_round = steps // rounds
    train = Rounds(pair_batches(train_pairs, tokenizer, batch_size, seed=seed), per_round)
    val = pair_batches(val_pairs, tokenizer, batch_size, shuffle=False, seed=seed + 1)
    opt = adamw(model, lr, weight_decay)
    total = per_round * rounds
    sched = warmup_cosine(opt, max(1, int(warmup * total)), total) if total > 1 else None
    trainer = Trainer(model, opt, lambda out, y: torch.zeros(()), train, val, scheduler=sched,
                      metrics={"mlm_accuracy": mlm_accuracy, "pair_accuracy": pair_accuracy,
                               "pair_loss": pair_loss},
                      config=TrainConfig(epochs=rounds, seed=seed, device="cpu",
                                         grad_clip=grad_clip, progress=None),
                      callbacks=callbacks, loss_step=pretraining_loss_step,
                      model_info=model_info(model))
    t0 = time.perf_counter()
    trainer.fit()
    return FitResult(model, trainer, time.perf_counter() - t0,
                     {"lr": lr, "steps": total, "batch_size": batch_size})


def adamw(model, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999)):
    """Our AdamW with the decay on weight matrices only (not on biases, LayerNorm gains or
    embeddings' ... everything of one dimension), as BERT and GPT train.

    The update runs through torch's fused AdamW kernel on our state where the parameters
    allow it (float tensors on the CPU or CUDA): 3× faster than the per-tensor loop on the
    CPU (docs/benchmarks.md) and the same update (``tests/optim/test_fused.py``)."""
    from deepnotes.optim import create_optimizer

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64)
                for p in params)
    return create_optimizer("adamw", [{"params": decay, "weight_decay": weight_decay},
                                      {"params": rest, "weight_decay": 0.0}], lr=lr,
                            betas=betas, fused=fused or None)


# ---- fine-tuning ---------------------------------------------------------------------------
def classification_batches(tokenizer, texts: Sequence[str], labels: Sequence[int],
                           batch_size: int, max_length: int = 128, shuffle: bool = True,
                           seed: int = 0, pairs: Sequence[str] | None = None):
    """Length-bucketed batches ``(input_ids, attention_mask, token_type_ids, labels)`` of
    ``[CLS] text [SEP]`` (or ``[CLS] text [SEP] pair [SEP]``) cut to ``max_length`` pieces,
    for a :class:`~deepnotes.models.bert.BertForSequenceClassification`."""
    from deepnotes.data.chinese import LengthBatches

    if len(texts) != len(labels) or (pairs is not None and len(pairs) != len(texts)):
        raise ConfigError(f"texts ({len(texts)}), labels ({len(labels)})"
                          + (f" and pairs ({len(pairs)})" if pairs is not None else "")
                          + " must have the same length")
    enc = [tokenizer.encode_with_types(t, None if pairs is None else pairs[i],
                                       max_length=max_length) for i, t in enumerate(texts)]
    pad = tokenizer.token_to_id("[PAD]") or 0
    y = torch.as_tensor(list(labels), dtype=torch.long)

    def collate(idx: list[int]) -> tuple[Tensor, ...]:
        ids, types, attention = _pad([enc[i][0] for i in idx], [enc[i][1] for i in idx], pad)
        return ids, attention, types, y[idx]

    return LengthBatches([len(e[0]) for e in enc], batch_size, collate, shuffle=shuffle,
                         seed=seed)


def _pad(ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]], pad: int
         ) -> tuple[Tensor, Tensor, Tensor]:
    t = max(len(r) for r in ids)
    out = torch.full((len(ids), t), pad, dtype=torch.long)
    typ, attention = torch.zeros_like(out), torch.zeros_like(out)
    for i, (r, s) in enumerate(zip(ids, types)):
        out[i, :len(r)] = torch.as_tensor(r)
        typ[i, :len(s)] = torch.as_tensor(s)
        attention[i, :len(r)] = 1
    return out, typ, attention


def encode_tagged(tokenizer, words: Sequence[str], tags: Sequence[int], max_length: int = 512
                  ) -> tuple[list[int], list[int]]:
    """``[CLS] pieces of every word [SEP]`` and one label per piece: the word's tag on its
    first piece, -100 (no loss, not scored) on the others and on the specials — BERT's
    recipe for tagging with subwords. A word with no piece (only characters the normaliser
    drops) is read as ``[UNK]`` so that every word keeps a position. Sentences longer than
    ``max_length`` pieces are cut (the caller counts the words lost)."""
    cls_id, sep_id = _special_id(tokenizer, "[CLS]"), _special_id(tokenizer, "[SEP]")
    unk = tokenizer.token_to_id("[UNK]")
    ids, labels = [cls_id], [-100]
    for w, tag in zip(words, tags):
        pieces = tokenizer.encode(w, add_special_tokens=False) or [unk]
        if len(ids) + len(pieces) > max_length - 1:
            break
        ids += pieces
        labels += [tag] + [-100] * (len(pieces) - 1)
    return ids + [sep_id], labels + [-100]


def tagging_batches(encoded: Sequence[tuple[list[int], list[int]]], batch_size: int,
                    pad: int = 0, shuffle: bool = True, seed: int = 0):
    """Batches ``(input_ids, attention_mask, token_type_ids, labels (B, T))`` of
    :func:`encode_tagged` sentences, for a BERT tagger with ``token_loss``."""
    from deepnotes.data.chinese import LengthBatches

    def collate(idx: list[int]) -> tuple[Tensor, ...]:
        ids, types, attention = _pad([encoded[i][0] for i in idx],
                                     [[0] * len(encoded[i][0]) for i in idx], pad)
        labels = torch.full_like(ids, -100)
        for k, i in enumerate(idx):
            labels[k, :len(encoded[i][1])] = torch.as_tensor(encoded[i][1])
        return ids, attention, types, labels

    return LengthBatches([len(e[0]) for e in encoded], batch_size, collate, shuffle=shuffle,
                         seed=seed)


def token_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy over the labelled positions of ``(B, T, C)`` logits (-100: skipped)."""
    return TF.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def token_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Share of labelled positions (labels != -100) whose arg-max is the label."""
    keep = labels != -100
    return (logits.argmax(-1)[keep] == labels[keep]).float().mean()


def finetune(model, train, val, *, epochs: int, lr: float, warmup: float = 0.1,
             weight_decay: float = 0.01, seed: int = 0, tagging: bool = False, qa: bool = False,
             grad_clip: float | None = 1.0) -> FitResult:
    """Fine-tune a BERT with a head (P4): every weight trained, AdamW (decay on matrices),
    linear warm-up over ``warmup`` of the steps then cosine to 0, cross-entropy on the
    sequence label, on every labelled token (``tagging``) or on the answer's start and end
    (``qa``, :func:`qa_loss_step`; the metric is then the exact-span rate); validation after
    each epoch."""
    from deepnotes.metrics import accuracy
    from deepnotes.models import model_info
    from deepnotes.train.trainer import Trainer, TrainConfig

    opt = adamw(model, lr, weight_decay)
    total = epochs * len(train)
    sched = warmup_cosine(opt, max(1, int(warmup * total)), total) if total > 1 else None
    loss_step = None
    if qa:
        loss_fn, metrics, loss_step = TF.cross_entropy, {"accuracy": span_accuracy}, qa_loss_step
    elif tagging:
        loss_fn, metrics = token_loss, {"accuracy": token_accuracy}
    else:
        loss_fn, metrics = TF.cross_entropy, {"accuracy": accuracy}
    trainer = Trainer(model, opt, loss_fn, train, val, scheduler=sched, metrics=metrics,
                      config=TrainConfig(epochs=epochs, seed=seed, device="cpu",
                                         grad_clip=grad_clip, progress=None),
                      model_info=model_info(model), loss_step=loss_step)
    t0 = time.perf_counter()
    trainer.fit()
    return FitResult(model, trainer, time.perf_counter() - t0,
                     {"lr": lr, "epochs": epochs, "warmup": warmup,
                      "weight_decay": weight_decay})


def choose_finetune(make_model, train, val, candidates: Sequence[dict], *, seed: int = 0,
                    **fixed: Any) -> tuple[FitResult, list[dict]]:
    """Fine-tune one model per candidate setting (same initial weights, same data order) and
    keep the best by validation accuracy after the last epoch (ties: lower validation loss).
    Returns the winner and one row per candidate."""
    if not candidates:
        raise ConfigError("choose_finetune needs at least one candidate setting")
    best, key, rows = None, None, []
    for cand in candidates:
        torch.manual_seed(seed)
        fit = finetune(make_model(), train, val, seed=seed, **{**fixed, **cand})
        last = fit.history.last()
        rows.append({**cand, "val_accuracy": float(last["val_accuracy"]),
                     "val_loss": float(last["val_loss"]), "train_seconds": round(fit.seconds, 1),
                     "chosen": False})
        score = (rows[-1]["val_accuracy"], -rows[-1]["val_loss"])
        if key is None or score > key:
            best, key, best_row = fit, score, rows[-1]
    best_row["chosen"] = True
    return best, rows


@torch.no_grad()
def predict(model, batches) -> tuple[Tensor, Tensor]:
    """``(logits, labels)`` of every batch, concatenated in serving order (eval mode); for a
    tagger the labelled positions only, flattened."""
    model.eval()
    outs, ys = [], []
    for ids, attention, types, y in batches:
        logits = model(ids, attention, types)
        if logits.dim() == 3:
            keep = y != -100
            logits, y = logits[keep], y[keep]
        outs.append(logits)
        ys.append(y)
    return torch.cat(outs), torch.cat(ys)


# ---- a fine-tuned classifier as a Hugging Face folder -----------------------------------
def save_classifier(model, tokenizer, labels: Sequence[str], folder: str | os.PathLike,
                    max_length: int = 128) -> Path:
    """Write ``config.json`` (with ``id2label``), ``model.safetensors`` and ``tokenizer.json``:
    a folder that ``deepnotes classify`` and Hugging Face's
    ``BertForSequenceClassification.from_pretrained`` both read."""
    from deepnotes.models.bert import save_pretrained

    if len(labels) != model.config.num_labels:
        raise ConfigError(f"{len(labels)} label names for a model with "
                          f"{model.config.num_labels} outputs")
    return save_pretrained(model, folder, tokenizer,
                           id2label={str(i): str(n) for i, n in enumerate(labels)},
                           label2id={str(n): i for i, n in enumerate(labels)},
                           deepnotes={"max_length": int(max_length)})


def load_classifier(folder: str | os.PathLike, fused: bool = True):
    """``(model, tokenizer, label names, max_length)`` from :func:`save_classifier`'s folder
    (or any Hugging Face BERT sequence classifier saved as safetensors with a tokenizer.json
    or vocab.txt).

    Raises:
        DataMissingError: the folder or one of its files is missing (what to give instead).
    """
    import json

    from safetensors.torch import load_file

    from deepnotes.errors import DataMissingError
    from deepnotes.models.bert import BertConfig, BertForSequenceClassification
    from deepnotes.text import load_tokenizer

    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise DataMissingError(
            f"{folder} is not a fine-tuned classifier folder: it needs config.json and "
            f"model.safetensors (lessons write one, e.g. runs/bert-chinese/reviews-classifier)")
    raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config = BertConfig.from_hf(raw)
    id2label = raw.get("id2label") or {}
    config.num_labels = len(id2label) or config.num_labels
    config.fused = fused
    model = BertForSequenceClassification(config)
    state = load_file(str(folder / "model.safetensors"))
    state.pop("bert.embeddings.position_ids", None)
    model.load_state_dict(state, strict=True)
    labels = [id2label.get(str(i), str(i)) for i in range(config.num_labels)]
    tokenizer = load_tokenizer(folder)
    max_length = int((raw.get("deepnotes") or {}).get("max_length",
                                                      config.max_position_embeddings))
    return model.eval(), tokenizer, labels, max_length


@torch.no_grad()
def classify(model, tokenizer, texts: Sequence[str], max_length: int = 128,
             batch_size: int = 64) -> Tensor:
    """Class probabilities ``(N, C)`` of ``texts`` (softmax of the classifier's logits)."""
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer.encode_batch(list(texts[i:i + batch_size]), max_length=max_length)
        out.append(torch.softmax(model(enc["input_ids"], enc["attention_mask"],
                                       enc["token_type_ids"]), -1))
    return torch.cat(out)


# ---- extractive QA -----------------------------------------------------------------------
def encode_qa(tokenizer, question: str, context: str, answer: str | None, max_length: int = 192
              ) -> tuple[list[int], list[int], int, int]:
    """``[CLS] question [SEP] context [SEP]`` ids, type ids, and the answer's piece span
    ``(start, end)`` (inclusive): its last whole-word occurrence in the context, or ``(0, 0)``
    (the ``[CLS]`` position, "no answer here") when the context (cut at ``max_length``) does
    not hold it or no answer is given."""
    ids, types = tokenizer.encode_with_types(question, context, max_length=max_length)
    if not answer:
        return ids, types, 0, 0
    target = tokenizer.encode(answer, add_special_tokens=False)
    n = len(target)
    for s in range(len(ids) - n - 1, 0, -1):  # the last occurrence, [SEP] excluded
        if types[s] == 1 and ids[s:s + n] == target:
            after = tokenizer.id_to_token(ids[s + n]) if s + n < len(ids) else ""
            if not after.startswith("##"):  # a whole word, not the start of a longer one
                return ids, types, s, s + n - 1
    return ids, types, 0, 0


def qa_batches(encoded: Sequence[tuple[list[int], list[int], int, int]], batch_size: int,
               pad: int = 0, shuffle: bool = True, seed: int = 0):
    """Batches ``(input_ids, attention_mask, token_type_ids, allowed, start, end)`` of
    :func:`encode_qa` examples; ``allowed`` marks the context pieces (not ``[SEP]``)."""
    from deepnotes.data.chinese import LengthBatches

    def collate(idx: list[int]) -> tuple[Tensor, ...]:
        ids, types, attention = _pad([encoded[i][0] for i in idx], [encoded[i][1] for i in idx],
                                     pad)
        allowed = (types == 1) & (attention == 1)
        last = attention.sum(1) - 1  # the final [SEP]
        allowed[torch.arange(len(idx)), last] = False
        start = torch.tensor([encoded[i][2] for i in idx])
        end = torch.tensor([encoded[i][3] for i in idx])
        return ids, attention, types, allowed, start, end

    return LengthBatches([len(e[0]) for e in encoded], batch_size, collate, shuffle=shuffle,
                         seed=seed)


def qa_loss_step(model, loss_fn, batch):
    r"""The Trainer's step for a :class:`~deepnotes.models.bert.BertForQuestionAnswering`:
    softmax over the context pieces of the start scores :math:`\mathbf s^\top\mathbf h_t`
    and of the end scores :math:`\mathbf e^\top\mathbf h_t`, the mean of the two
    cross-entropies at the answer's first and last piece."""
    ids, attention, types, allowed, start, end = batch
    s, e = model(ids, attention, types)
    keep = allowed.clone()
    keep[torch.arange(len(ids)), start] = True  # a target outside the context ([CLS]) stays
    s, e = s.masked_fill(~keep, float("-inf")), e.masked_fill(~keep, float("-inf"))
    loss = (TF.cross_entropy(s, start) + TF.cross_entropy(e, end)) / 2
    return loss, (s, e), (start, end)


def span_accuracy(outputs, targets) -> Tensor:
    """Share of examples whose arg-max start and end are both the answer's."""
    (s, e), (start, end) = outputs, targets
    return ((s.argmax(-1) == start) & (e.argmax(-1) == end)).float().mean()


@torch.no_grad()
def qa_predict(model, tokenizer, batches, max_answer_len: int = 10) -> list[str]:
    """The answer text of every example (serving order): the best span of the context
    (:func:`~deepnotes.metrics.qa.best_span`) decoded to text."""
    from deepnotes.metrics.qa import best_span

    model.eval()
    out = []
    for ids, attention, types, allowed, _, _ in batches:
        s, e = model(ids, attention, types)
        i, j = best_span(s, e, max_answer_len, allowed)
        out += [tokenizer.decode(ids[b, i[b]:j[b] + 1].tolist()) for b in range(len(ids))]
    return out


# ---- figures -------------------------------------------------------------------------------
def plot_pretraining(rows: list[dict], objective: str, unigram: float, path, unit: str = "pieces",
                     title: str = "What pre-training learns") -> str:
    """Pre-training curves: training and validation loss; validation MLM accuracy (next to
    always guessing the most frequent ``unit``) and pair accuracy (next to chance)."""
    from deepnotes.figures import save_figure, subplots

    steps = [r["step"] for r in rows]
    fig, (a, b) = subplots(1, 2, figsize=(11, 4))
    a.plot(steps, [r["train_loss"] for r in rows], "o-", label="train (MLM + pair)")
    a.plot(steps, [r["val_loss"] for r in rows], "s-", label="validation")
    a.set(xlabel="update", ylabel="loss", title="Pre-training loss")
    a.legend()
    b.plot(steps, [r["val_mlm_accuracy"] for r in rows], "o-", label=f"MLM (masked {unit})")
    b.plot(steps, [r["val_pair_accuracy"] for r in rows], "s-",
           label=f"{objective.upper()} (sentence pairs)")
    b.axhline(unigram, color="gray", ls="--", lw=1, label=f"most frequent {unit.rstrip('s')}")
    b.axhline(0.5, color="gray", ls=":", lw=1, label="chance (pairs)")
    b.set(xlabel="update", ylabel="validation accuracy", ylim=(0, 1), title=title)
    b.legend(fontsize=8)
    return save_figure(fig, path)


def wordpiece_pairs(docs, cfg):
    """The English pre-training lessons' set-up: hold out ``cfg.val_documents`` documents,
    train a WordPiece vocabulary of ``cfg.vocab_size`` on the rest, build sentence pairs for
    ``cfg.objective`` (NSP/SOP) of both; ``(train_docs, val_docs, tokenizer, train_pairs,
    val_pairs)``."""
    from deepnotes.text import WordPieceTokenizer

    train_docs, val_docs = hold_out(docs, cfg.val_documents, cfg.seed)
    tokenizer = WordPieceTokenizer.train([s for d in train_docs for s in d], cfg.vocab_size)
    train_pairs = build_sentence_pairs(train_docs, tokenizer, cfg.objective, cfg.max_length,
                                       seed=cfg.seed)
    val_pairs = build_sentence_pairs(val_docs, tokenizer, cfg.objective, cfg.max_length,
                                     seed=cfg.seed + 1)
    return train_docs, val_docs, tokenizer, train_pairs, val_pairs
