r"""The text-classification task (many-to-one): a token sequence in, one class out.

Works for any model called as ``model(tokens (B, T), lengths (B,)) -> logits (B, C)`` (the
registry's ``lstm-classifier`` and ``bag-of-tokens``):

- **data**: texts → tokens (:func:`tokenize_texts`: characters, or snownlp's Chinese word
  segmenter) → vocabulary indices → :func:`text_batches`, minibatches of reviews of similar
  lengths padded at the end (so little is spent on padding), with their true lengths;
- **splits**: :func:`split_indices` cuts a seeded shuffle into (train, held-out); the lessons cut
  the test split first and then a validation split from the training part;
- **training** (:func:`train_text_classifier`): Adam with cosine decay to 0, cross-entropy,
  optional gradient clipping and L2; the validation set is evaluated after every epoch;
- **choosing settings** (:func:`choose_on_validation`): train one model per candidate setting
  and keep the one with the best *validation* accuracy. The test split plays no part in the
  choice, so the caller may report the chosen model's test accuracy, measured once, as an
  estimate of its accuracy on new texts (G3);
- **prediction**: :func:`predict_proba` gives class probabilities softmax(o) for index lists.

Notes: R9 (many-to-one), B7 (softmax, cross-entropy), G3 (validation vs test).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.data.chinese import LengthBatches, pad_sequences
from deepnotes.errors import ConfigError
from deepnotes.metrics import accuracy
from deepnotes.models import model_info
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import create_optimizer
from deepnotes.tasks.classification import cosine_over
from deepnotes.text import tokenize
from deepnotes.train import History, TrainConfig, Trainer

__all__ = [
    "TextFit", "choose_on_validation", "predict_proba", "split_indices", "text_batches",
    "tokenize_texts", "train_text_classifier",
]


def split_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of ``range(n)`` cut into (kept, held out); the same seed, the same split.

    ``round(n · fraction)`` indices (at least 1) are held out.

    Example:
        >>> kept, held = split_indices(10, 0.2, seed=0)
        >>> len(kept), len(held), sorted(kept + held) == list(range(10))
        (8, 2, True)
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"a held-out fraction must be in (0, 1), got {fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_held = max(1, round(n * fraction))
    return order[n_held:], order[:n_held]


def tokenize_texts(texts: Sequence[str], kind: str) -> list[list[str]]:
    """``"char"``: one token per character; ``"word"``: snownlp's Chinese word segmenter (its
    HMM, lower-cased input; slower, about 3 minutes for 17k reviews)."""
    if kind == "char":
        return tokenize(list(texts), kind="char")
    if kind == "word":
        from snownlp import seg  # snownlp's own HMM segmenter (a dependency of the data)

        return [seg.seg(t.lower()) for t in texts]
    raise ConfigError(f"unknown tokens={kind!r}; use 'char' or 'word'")


def text_batches(ids: Sequence[Sequence[int]], labels: Sequence[int], pad: int, max_len: int,
                 batch_size: int, shuffle: bool = False, seed: int = 0) -> LengthBatches:
    """Minibatches ``(tokens (B, T), lengths (B,), labels (B,))`` of texts of similar lengths.

    Every text is cut to its first ``max_len`` tokens and padded with ``pad`` at the end to the
    longest of its batch. ``shuffle`` reshuffles every epoch (training); without it the batches
    come in length order (evaluation).
    """
    y = torch.tensor(list(labels))

    def collate(idx: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        tokens, lengths = pad_sequences([ids[i] for i in idx], pad, max_len)
        return tokens, lengths, y[idx]  # (B, T), (B,), (B,)

    return LengthBatches([min(len(s), max_len) for s in ids], batch_size, collate,
                         shuffle=shuffle, seed=seed)


@dataclass
class TextFit:
    """A trained text classifier: the model, its Trainer (history, evaluate), the setting it was
    trained with and its training time."""

    model: nn.Module
    trainer: Trainer
    setting: dict[str, Any]
    seconds: float

    @property
    def history(self) -> History:
        return self.trainer.history


def train_text_classifier(model: nn.Module, train: Any, val: Any | None, *, epochs: int,
                          lr: float, seed: int = 0, grad_clip: float | None = None,
                          weight_decay: float = 0.0, device: str = "cpu") -> TextFit:
    r"""Train ``model`` on ``train`` batches with cross-entropy and Adam (peak ``lr``, cosine
    decay to 0 over the run); evaluate loss and accuracy on ``val`` after every epoch.

    ``weight_decay`` is Adam's L2 penalty (:math:`\lambda w` added to the gradient);
    ``grad_clip`` clips the global gradient norm (O11). ``val`` is only observed.
    """
    opt = create_optimizer("adam", model.parameters(), lr=lr, weight_decay=weight_decay)
    trainer = Trainer(model, opt, CrossEntropyLoss(), train, val,
                      scheduler=cosine_over(epochs, len(train))(opt),
                      metrics={"accuracy": accuracy}, model_info=model_info(model),
                      config=TrainConfig(epochs=epochs, seed=seed, device=device,
                                         grad_clip=grad_clip, progress=False))
    t0 = time.perf_counter()
    trainer.fit()
    setting = {"lr": lr, "epochs": epochs, "weight_decay": weight_decay}
    return TextFit(model, trainer, setting, time.perf_counter() - t0)


def choose_on_validation(make_model: Callable[[], nn.Module], train: Any, val: Any,
                         candidates: Sequence[dict[str, Any]], *, seed: int = 0,
                         **fixed: Any) -> tuple[TextFit, list[dict[str, Any]]]:
    """Train one model per candidate setting and keep the best on the validation batches.

    Every candidate starts from the same initial weights (``torch.manual_seed(seed)`` before
    ``make_model()``) and the same data order. The winner has the highest validation accuracy
    after its last epoch (ties: the lower validation loss, then the earlier candidate).

    Args:
        make_model: builds a fresh untrained model.
        train, val: training and validation batches (e.g. :func:`text_batches`).
        candidates: settings to try, each a dict of :func:`train_text_classifier` keywords
            (e.g. ``{"lr": 5e-3, "epochs": 8}``).
        seed: seeds the initial weights and the data order.
        fixed: keywords shared by every candidate (``grad_clip``, ``weight_decay``, ...).

    Returns:
        ``(the chosen fit, one row per candidate)``; a row holds the setting, ``val_accuracy``,
        ``val_loss``, ``train_accuracy``, ``train_seconds`` and ``chosen``.
    """
    if not candidates:
        raise ConfigError("choose_on_validation needs at least one candidate setting")
    best: TextFit | None = None
    rows, key = [], None
    for cand in candidates:
        torch.manual_seed(seed)
        fit = train_text_classifier(make_model(), train, val, seed=seed, **{**fixed, **cand})
        last = fit.history.last()
        rows.append({**cand, "val_accuracy": float(last["val_accuracy"]),
                     "val_loss": float(last["val_loss"]),
                     "train_accuracy": float(last["train_accuracy"]),
                     "train_seconds": round(fit.seconds, 2), "chosen": False})
        score = (float(last["val_accuracy"]), -float(last["val_loss"]))
        if key is None or score > key:
            best, key, best_row = fit, score, rows[-1]
    best_row["chosen"] = True
    return best, rows


@torch.no_grad()
def predict_proba(model: nn.Module, ids: Sequence[Sequence[int]], pad: int,
                  max_len: int | None = None) -> Tensor:
    """Class probabilities ``softmax(model(tokens, lengths))`` ``(B, C)`` for index lists (each
    cut to ``max_len`` tokens), in eval mode."""
    model.eval()
    tokens, lengths = pad_sequences(list(ids), pad, max_len)
    return torch.softmax(model(tokens, lengths), dim=-1)  # (B, C)
