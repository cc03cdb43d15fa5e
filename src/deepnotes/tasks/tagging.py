r"""The sequence-tagging task (many-to-many, one label per token): words in, one tag per word out.

Works for any model called as ``model(words (B, T), lengths (B,), chars (B, T, 2)) -> logits
(B, T, K)`` (the registry's ``bilstm-tagger``):

- **data**: tagged sentences ``(words, tags)`` → :class:`TaggedSentences`, the index tensors of
  the words, of each word's first and last characters (cheap clues about unseen words) and of
  the tags → :meth:`TaggedSentences.batches`, minibatches of sentences of similar lengths padded
  at the end, with their true lengths;
- **training** (:func:`train_tagger`): the masked cross-entropy over the valid tokens
  :math:`-\frac{1}{\sum_b \ell_b}\sum_b\sum_{t<\ell_b}\log p(y_{b,t} \mid x_b)`, Adam with cosine
  decay to 0 and gradient clipping; the held-out batches are evaluated after every epoch (only
  observed);
- **evaluation**: :func:`tag_accuracy` (share of valid tokens tagged right) and
  :func:`predict_tags` (the tags of every sentence, in sentence order);
- **baseline**: :func:`most_frequent_tags`, each word's most frequent training tag.

Notes: R9 (many-to-many, sequence labelling), R4, R5.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.data.chinese import LengthBatches, pad_sequences
from deepnotes.errors import ConfigError
from deepnotes.functional import fused_masked_cross_entropy, sequence_mask
from deepnotes.models import model_info
from deepnotes.optim import create_optimizer
from deepnotes.tasks.classification import cosine_over
from deepnotes.text import Vocab
from deepnotes.train import TrainConfig, Trainer

__all__ = [
    "Sentence", "TaggedSentences", "most_frequent_tags", "predict_tags", "tag_accuracy",
    "tagging_loss_step", "train_tagger",
]

Sentence = tuple[list[str], list[str]]  # (words, their tags)


def most_frequent_tags(train: Sequence[Sentence]) -> tuple[dict[str, str], str]:
    """The most frequent tag of every training word, and the most frequent tag overall.

    Ties go to the alphabetically first tag, so the result does not depend on the order.

    Example:
        >>> most_frequent_tags([(["研究", "研究", "我"], ["v", "vn", "r"]), (["研究"], ["vn"])])
        ({'研究': 'vn', '我': 'r'}, 'vn')
    """
    per_word: dict[str, Counter] = {}
    overall: Counter = Counter()
    for words, tags in train:
        for w, t in zip(words, tags):
            per_word.setdefault(w, Counter())[t] += 1
            overall[t] += 1

    def best(c: Counter) -> str:
        return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    return {w: best(c) for w, c in per_word.items()}, best(overall)


class TaggedSentences:
    """Index tensors of tagged sentences: words, (first, last) characters, tags.

    Args:
        sents: ``(words, tags)`` pairs, every sentence at least one word long.
        words, chars, tags: the vocabularies (words unseen in them → ``<unk>``).

    Example:
        >>> s = [(["我", "研究"], ["r", "v"])]
        >>> v = Vocab([w for w, _ in s])
        >>> c = Vocab([[x for w in ws for x in (w[0], w[-1])] for ws, _ in s])
        >>> t = Vocab([ts for _, ts in s], reserved=("<unk>",))
        >>> w, lengths, ch, y = TaggedSentences(s, v, c, t).collate([0])
        >>> w.shape, lengths.tolist(), ch.shape, t.to_tokens(y[0].tolist())
        (torch.Size([1, 2]), [2], torch.Size([1, 2, 2]), ['r', 'v'])
    """

    def __init__(self, sents: Sequence[Sentence], words: Vocab, chars: Vocab, tags: Vocab) -> None:
        self.words = [torch.tensor(words.to_indices(w)) for w, _ in sents]
        self.chars = [torch.tensor([[chars[x[0]], chars[x[-1]]] for x in w]) for w, _ in sents]
        self.tags = [torch.tensor(tags.to_indices(t)) for _, t in sents]
        self.pad = words.pad

    def __len__(self) -> int:
        return len(self.words)

    def collate(self, idx: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One batch: ``words (B, T)``, ``lengths (B,)``, ``chars (B, T, 2)``, ``tags (B, T)``."""
        w, lengths = pad_sequences([self.words[i] for i in idx], self.pad)  # (B, T), (B,)
        y, _ = pad_sequences([self.tags[i] for i in idx], 0)  # (B, T)
        c = torch.full((*w.shape, 2), self.pad, dtype=torch.long)  # (B, T, 2)
        for row, i in enumerate(idx):
            c[row, : len(self.chars[i])] = self.chars[i]
        return w, lengths, c, y

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> LengthBatches:
        """Minibatches of sentences of similar lengths (``shuffle``: reshuffled every epoch;
        without it, in length order)."""
        return LengthBatches([len(s) for s in self.words], batch_size, self.collate,
                             shuffle=shuffle, seed=seed)


def tagging_loss_step(model: nn.Module, loss_fn: Any, batch: Sequence[Tensor]):
    """The Trainer's ``loss_step``: ``loss_fn(logits, tags, lengths)`` over the valid tokens."""
    words, lengths, chars, tags = batch
    logits = model(words, lengths, chars)  # (B, T, K)
    return loss_fn(logits, tags, lengths), None, None


def train_tagger(model: nn.Module, train: Any, val: Any | None, *, epochs: int, lr: float,
                 seed: int = 0, grad_clip: float | None = None, device: str = "cpu"
                 ) -> tuple[Trainer, float]:
    """Train a tagger with the masked cross-entropy and Adam (peak ``lr``, cosine decay to 0);
    evaluate the loss on ``val`` after every epoch. Returns the Trainer and the seconds taken."""
    opt = create_optimizer("adam", model.parameters(), lr=lr)
    trainer = Trainer(model, opt, fused_masked_cross_entropy, train, val,
                      scheduler=cosine_over(epochs, len(train))(opt),
                      loss_step=tagging_loss_step, model_info=model_info(model),
                      config=TrainConfig(epochs=epochs, seed=seed, device=device,
                                         grad_clip=grad_clip, progress=False))
    t0 = time.perf_counter()
    trainer.fit()
    return trainer, time.perf_counter() - t0


@torch.no_grad()
def tag_accuracy(model: nn.Module, batches: Any) -> tuple[float, list[Tensor]]:
    r"""Share of valid tokens tagged right, :math:`\frac{1}{\sum_b \ell_b}\sum_b\sum_{t<\ell_b}
    [\hat y_{b,t} = y_{b,t}]`, and the per-sentence predictions (in batch order)."""
    model.eval()
    right = total = 0
    preds = []
    for words, lengths, chars, tags in batches:
        pred = model(words, lengths, chars).argmax(-1)  # (B, T)
        mask = sequence_mask(lengths, words.shape[1])  # (B, T)
        right += int(((pred == tags) & mask).sum())
        total += int(mask.sum())
        preds += [p[:n] for p, n in zip(pred, lengths.tolist())]
    return right / total, preds


def predict_tags(model: nn.Module, batches: LengthBatches, tags: Vocab
                 ) -> tuple[float, list[list[str]]]:
    """Token accuracy and the predicted tags of every sentence, in sentence order.

    ``batches`` must not shuffle (its batch plan is read back to undo the length sort).
    """
    if batches.shuffle:
        raise ConfigError("predict_tags needs batches with shuffle=False (their order is fixed)")
    acc, preds = tag_accuracy(model, batches)
    order = [i for b in batches.batches(0) for i in b]  # sentence index of every prediction
    by_sentence: list[list[str]] = [[] for _ in order]
    for i, p in zip(order, preds):
        by_sentence[i] = tags.to_tokens(p.tolist())
    return acc, by_sentence
