r"""One-hot input vs a learned word embedding in the same word-level LSTM LM, at equal size.

Claim (notes A1): a word LM can feed its recurrent layer the one-hot vector of each word
(length V, all words orthogonal: every cosine between two different words is 0) or a row of a
learned embedding table :math:`E \in \mathbb{R}^{V \times d}`. Multiplying a one-hot vector by
the input weights :math:`W_{ih}` (gates·H × V) just picks a column, so the one-hot model learns
an embedding too — one of width gates·H, tied to the gate inputs, that costs V·gates·H
parameters. A separate table is a rank-d factorisation :math:`W_{ih} E^\top` of that matrix,
and at the **same parameter count** it leaves room for a larger hidden state. With the same
data, the same number of updates and each model's learning rate chosen on validation, the
embedding model reaches the lower validation and test perplexity (exp(mean NLL), R8), and
words used alike get nearby vectors.

Measured (full mode, 7 min on one CPU thread shared with other jobs): V = 3,666; one-hot input,
H = 128: 2,416,466 parameters; 256-d embedding, H = 257: 2,413,744 (-0.1 %); 568 updates each
at lr 0.01 (both pilots' choice). Validation / test perplexity: one-hot 115.2 / 121.8, embedding
96.0 / 97.9; the one-hot model also takes 1.35x as long per update (its input is a dense
V-wide matmul). Cosine neighbours in the learned table: *she* → he, *mrs* → mr, *had* → has,
have, having, *very* → tolerably, extremely, uncommonly, *elinor* → lucy, marianne, elizabeth,
*mother* → sister, (land), brother, *day* → evening, (conversation), fortnight. The one-hot
model's columns of :math:`W_{ih}` give similar neighbours (she → he, mrs → mr, had → has):
what it lacks is not similarity but room — its V·4H input matrix eats the budget of the state.
The table starts at U(-0.1, 0.1), the scale of :math:`W_{ih}` (torch's ``word_language_model``
does the same); with ``nn.Embedding``'s N(0, 1) start, 568 updates barely move the rows and
their neighbours stay random (cosine ≈ 0.2) although the perplexity still wins (104.3 vs 107.7
in a 5-epoch run with a 3-rate pilot). In quick mode (V = 1,153, 0.19 M parameters, 222
updates) the ordering holds for seeds 0 and 1: validation 136.8 vs 202.2 and 141.5 vs 193.6.

Design: the registry's ``rnn-lm`` (an LSTM, dropout before the output layer) with
``embedding=0`` (one-hot, hidden ``onehot_hidden``) against ``embedding=d`` with the hidden size
solved so the two parameter counts match (:func:`matching_hidden`). Each model gets a pilot run
(``pilot_steps`` updates, cosine decay) per learning rate of ``lrs``; the rate with the lowest
validation perplexity trains the full run (same epochs and minibatches for both), which keeps
the weights of its best validation epoch. Test perplexity is read once, at the end.

Data: full mode, the first 200,000 word tokens (words and punctuation marks, lower-cased) of the
Jane Austen novels (janeaustenr), words seen fewer than 3 times → ``<unk>`` (V = 3,666),
80 % train / 10 % validation / 10 % test in text order; quick mode the first 30,000 words with
small models (seconds).

Notes: A1 (one-hot vs learned word embeddings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from deepnotes.errors import ConfigError
from deepnotes.figures import plot_curves, save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import nearest_neighbors
from deepnotes.models import create
from deepnotes.runtime import resolve_device, seed_everything
from deepnotes.tasks.lm import load_text, perplexity, train_lm, word_corpus
from deepnotes.text.vectors import WordVectors

NAME = "one-hot-vs-embedding"
SUMMARY = "word LSTM LM, one-hot input vs learned embedding at equal parameter count (A1)"
CONCEPTS = ("A1",)

GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # gate blocks stacked in weight_ih / weight_hh
LABELS = {"onehot": "one-hot input", "embedding": "learned embedding"}


@dataclass
class Config(LessonConfig):
    # quick: the first 30,000 words, models of 0.19 M parameters, 3 epochs (seconds)
    QUICK = {"max_tokens": 30_000, "onehot_hidden": 32, "embedding": 32, "epochs": 3,
             "batch_size": 16, "num_steps": 20, "pilot_steps": 20, "pca_words": 25}

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    max_tokens: int = 200_000  # word tokens of the corpus used
    min_freq: int = 3  # rarer words become <unk> (R1)
    val_fraction: float = 0.1  # the fraction before the last test_fraction: validation text
    test_fraction: float = 0.1  # the last fraction of the tokens: test text (read once)
    cell: str = "lstm"  # recurrent layer of both models: rnn | gru | lstm
    onehot_hidden: int = 128  # H of the one-hot model (its input matrix is gates·H × V)
    embedding: int = 256  # d of the embedding model; its H is solved to match the parameters
    embedding_init: float = 0.1  # table drawn from U(-a, a), the scale of W_ih (0: N(0, 1))
    dropout: float = 0.3  # dropout before the output layer (both models)
    epochs: int = 4  # passes over the training words in the full runs (both models)
    batch_size: int = 32  # B rows of text per minibatch
    num_steps: int = 35  # T words per row (the BPTT length)
    lrs: tuple[float, ...] = (3e-3, 1e-2)  # Adam rates tried in each model's pilot
    pilot_steps: int = 100  # updates per pilot run (cosine decay); 0: use lrs[0], no pilot
    grad_clip: float = 1.0  # clip the gradient norm (O11)
    queries: tuple[str, ...] = ("she", "mrs", "had", "very", "elinor", "mother", "good",
                                "day")  # words whose nearest neighbours are reported
    k: int = 5  # neighbours per query word
    pca_words: int = 60  # most frequent alphabetic words drawn in the 2-D PCA figure
    fused: bool = True  # torch's recurrent kernels (False: our step-by-step loops)
    device: str = "cpu"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def lm_params(vocab_size: int, hidden: int, embedding: int = 0, cell: str = "lstm") -> int:
    """Parameters of a one-layer ``rnn-lm``: embedding table, recurrent layer, output layer.

    .. math:: P = V d + g H (I + H) + 2 g H + (H + 1) V, \\quad I = d \\text{ or } V

    (``g`` gate blocks, both of torch's bias vectors; ``I = V`` for one-hot input).

    Example:
        >>> lm_params(3666, 128), lm_params(3666, 256, embedding=256)
        (2416466, 2406994)
    """
    g = GATES[cell]
    width = embedding or vocab_size
    return vocab_size * embedding + g * hidden * (width + hidden) + 2 * g * hidden + \
        (hidden + 1) * vocab_size


def matching_hidden(target: int, vocab_size: int, embedding: int, cell: str = "lstm") -> int:
    """The hidden size H of the embedding model whose parameter count is nearest ``target``."""
    if lm_params(vocab_size, 1, embedding, cell) > target:
        raise ConfigError(f"embedding={embedding} alone exceeds the one-hot model's {target:,} "
                          f"parameters; choose a smaller embedding or a larger onehot_hidden")
    h = 1
    # P(H) grows with H: step until it passes the target, then take the nearer side
    while lm_params(vocab_size, h + 1, embedding, cell) <= target:
        h += 1
    below, above = lm_params(vocab_size, h, embedding, cell), lm_params(vocab_size, h + 1,
                                                                        embedding, cell)
    return h if target - below <= above - target else h + 1


def _build(cfg: Config, vocab_size: int, hidden: int, embedding: int, device: Any):
    seed_everything(cfg.seed)  # the same seed for every model, whatever ran before it
    model = create("rnn-lm", vocab_size=vocab_size, cell=cfg.cell, hidden=hidden,
                   embedding=embedding, dropout=cfg.dropout, fused=cfg.fused)
    if model.embedding is not None and cfg.embedding_init > 0:
        # as torch's word_language_model example: small rows, like W_ih's U(-1/√H, 1/√H)
        torch.nn.init.uniform_(model.embedding.weight, -cfg.embedding_init, cfg.embedding_init)
    return model.to(device)


def _word_vectors(model: Any, words: list[str]) -> WordVectors:
    """The input representation the model learned for each word, one row per word."""
    if model.embedding is not None:
        return WordVectors(words, model.embedding.weight.detach().clone())  # (V, d)
    # one-hot x_t times W_ih picks column x_t: the one-hot model's implicit embedding
    return WordVectors(words, model.rnn.weight_ih_l0.detach().t().contiguous())  # (V, gH)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if cfg.val_fraction <= 0 or cfg.test_fraction <= 0:
        raise ConfigError(f"val_fraction and test_fraction must be > 0, got {cfg.val_fraction} "
                          f"and {cfg.test_fraction}")
    if cfg.val_fraction + cfg.test_fraction >= 1:
        raise ConfigError(f"val_fraction + test_fraction must be < 1, got "
                          f"{cfg.val_fraction} + {cfg.test_fraction}")
    if not cfg.lrs:
        raise ConfigError("lrs must name at least one learning rate")
    raw, source = load_text(cfg.corpus, f"the first {cfg.max_tokens:,} words")
    ids, vocab, _ = word_corpus(raw, max_tokens=cfg.max_tokens, min_freq=cfg.min_freq)
    n = len(ids)
    cut_val, cut_test = int(n * (1 - cfg.val_fraction - cfg.test_fraction)), \
        int(n * (1 - cfg.test_fraction))
    train_ids, val_ids, test_ids = ids[:cut_val], ids[cut_val:cut_test], ids[cut_test:]
    V = len(vocab)
    words = vocab.to_tokens(list(range(V)))
    device = resolve_device(cfg.device)

    sizes = {"onehot": (cfg.onehot_hidden, 0)}
    target = lm_params(V, cfg.onehot_hidden, 0, cfg.cell)
    sizes["embedding"] = (matching_hidden(target, V, cfg.embedding, cfg.cell), cfg.embedding)
    metrics: dict[str, float] = {"vocab_size": float(V), "train_tokens": float(len(train_ids)),
                                 "val_tokens": float(len(val_ids)),
                                 "test_tokens": float(len(test_ids))}
    train_kw = {"batch_size": cfg.batch_size, "num_steps": cfg.num_steps,
                "grad_clip": cfg.grad_clip, "cosine": True, "seed": cfg.seed,
                "progress": cfg.progress}
    pilot_rows, rows, history, series, vectors, runs = [], [], [], {}, {}, {}
    for key, (hidden, emb) in sizes.items():
        label = LABELS[key]
        # the learning rate: a short pilot run per rate, judged on the validation text
        lr, pilot_seconds = cfg.lrs[0], 0.0
        if cfg.pilot_steps > 0 and len(cfg.lrs) > 1:
            scores = []
            for rate in cfg.lrs:
                model = _build(cfg, V, hidden, emb, device)
                p = train_lm(model, train_ids, val_ids, epochs=cfg.epochs,
                             max_steps=cfg.pilot_steps, lr=rate, label=f"{label} pilot",
                             **train_kw)
                pilot_seconds += p.seconds
                scores.append((p.val_ppl if math.isfinite(p.val_ppl) else math.inf, rate))
                pilot_rows.append({"model": label, "lr": rate, "steps": p.steps,
                                   "val_ppl": round(p.val_ppl, 2)})
            lr = min(scores)[1]
        model = _build(cfg, V, hidden, emb, device)
        params = sum(p.numel() for p in model.parameters())
        if params != lm_params(V, hidden, emb, cfg.cell):  # the formula the sizes came from
            raise RuntimeError(f"rnn-lm has {params:,} parameters, lm_params says "
                               f"{lm_params(V, hidden, emb, cfg.cell):,}")
        r = train_lm(model, train_ids, val_ids, epochs=cfg.epochs, lr=lr, label=label,
                     keep_best=True, **train_kw)
        runs[key] = r
        val_ppl = perplexity(model, val_ids, cfg.num_steps)  # the kept (best-epoch) weights
        test_ppl = perplexity(model, test_ids, cfg.num_steps)
        metrics.update({f"{key}_params": float(params), f"{key}_hidden": float(hidden),
                        f"{key}_input_width": float(emb or V), f"{key}_lr": lr,
                        f"{key}_val_ppl": val_ppl, f"{key}_test_ppl": test_ppl,
                        f"{key}_train_ppl": r.history[-1]["train_ppl"],
                        f"{key}_best_epoch": float(r.best_epoch), f"{key}_steps": float(r.steps),
                        f"{key}_seconds": r.seconds, f"{key}_pilot_seconds": pilot_seconds})
        rows.append({"model": label, "input": f"one-hot ({V})" if not emb else f"embedding {emb}",
                     "hidden": hidden, "params": params, "lr": lr, "updates": r.steps,
                     "best_epoch": r.best_epoch, "train_seconds": round(r.seconds, 1),
                     "val_ppl": round(val_ppl, 2), "test_ppl": round(test_ppl, 2)})
        history += r.history
        series[f"{label} (H={hidden}, {params / 1e6:.2f} M params)"] = (
            [h["epoch"] for h in r.history], [h["val_ppl"] for h in r.history])
        vectors[key] = _word_vectors(model, words)
    metrics["param_ratio"] = metrics["embedding_params"] / metrics["onehot_params"]

    # one-hot vectors: e_i · e_j = 0 for i ≠ j, so every cosine between two words is 0
    eye = torch.eye(V)  # (V, V)
    metrics["onehot_max_cosine"] = float((eye @ eye.t() - eye).abs().max())
    neighbours, top1 = [], []
    for word in (q for q in cfg.queries if q in vocab):
        learned = nearest_neighbors(vectors["embedding"], word, k=cfg.k)
        implicit = nearest_neighbors(vectors["onehot"], word, k=cfg.k)
        top1.append(learned[0][1])
        neighbours.append({"word": word,
                           "embedding": ", ".join(f"{w} {c:.2f}" for w, c in learned),
                           "onehot_input_weights": ", ".join(f"{w} {c:.2f}" for w, c in implicit),
                           "onehot_vectors": "cosine 0 with every other word"})
    metrics["neighbour_queries"] = float(len(neighbours))
    if top1:
        metrics["embedding_mean_top1_cosine"] = sum(top1) / len(top1)

    figures = [plot_curves(series, out_dir / "onehot_vs_embedding_val_ppl.png", "epoch",
                           "validation perplexity",
                           f"Word {cfg.cell.upper()} LM on {cfg.corpus}: equal parameter counts"),
               _pca_figure(vectors["embedding"], words, cfg.pca_words,
                           out_dir / "embedding_pca.png")]
    o, e = (metrics[f"{k}_val_ppl"] for k in ("onehot", "embedding"))
    ot, et = (metrics[f"{k}_test_ppl"] for k in ("onehot", "embedding"))
    claim = (f"On {source} (V = {V:,}), at {metrics['onehot_params'] / 1e6:.2f} M vs "
             f"{metrics['embedding_params'] / 1e6:.2f} M parameters and {runs['onehot'].steps} "
             f"updates each, one-hot input (H={sizes['onehot'][0]}) reaches validation / test "
             f"perplexity {o:.1f} / {ot:.1f} and a learned {cfg.embedding}-d embedding "
             f"(H={sizes['embedding'][0]}) {e:.1f} / {et:.1f}; one-hot vectors are mutually "
             f"orthogonal (cosine 0) while the learned vectors put words used alike together.")
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=history,
                        claim=claim, tables={"perplexity": rows, "pilot": pilot_rows,
                                             "neighbours": neighbours})


def _pca_figure(vectors: WordVectors, words: list[str], count: int, path: Path) -> str:
    """The ``count`` most frequent alphabetic words' embeddings projected on their 2 top PCs."""
    chosen = [i for i, w in enumerate(words) if w.isalpha()][:count]  # vocab is by frequency
    X = vectors.vectors[chosen]  # (N, d)
    X = X - X.mean(0, keepdim=True)
    # principal axes: the top right singular vectors of the centred matrix
    _, _, Vt = torch.linalg.svd(X, full_matrices=False)  # Vt: (d, d)
    Z = X @ Vt[:2].t()  # (N, 2)
    fig, ax = subplots(figsize=(7, 5.5))
    ax.scatter(Z[:, 0], Z[:, 1], s=8, color="tab:blue")
    for (x, y), i in zip(Z.tolist(), chosen):
        ax.annotate(words[i], (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"Learned word embeddings: the {len(chosen)} most frequent words (PCA)")
    return save_figure(fig, path)
