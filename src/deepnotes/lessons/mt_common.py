"""Shared code of the translation lessons: data (Bible pairs, or a built-in fixture), training,
BLEU tables, sample translations and attention heat maps.

The quick fixture is a made-up English -> Spanish corpus generated in code (no data needed):
``the small cat sees the red house .`` -> ``el gato pequeño ve a la casa roja.``. Spanish puts
the adjective after the noun and makes article and adjective agree with the noun's gender, so a
word-by-word copy fails and the model has to reorder. Some words have several translations
picked at random (``car`` -> ``coche`` or ``carro``), so even a perfect model is unsure; the
intransitive verbs are the notes' greedy trap (S5): ``waits`` -> ``espera`` (0.4), or ``está
esperando``, ``está aguardando``, ``está quieto`` (0.2 each), so greedy search takes the likelier
first word ``está`` (0.6) and ends with probability 0.2, while beam search finds ``espera``
(0.4). Small enough to learn in seconds, hard enough that BLEU separates a
trained model from the baselines.

Notes: S1, S2, S4, A10.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

from deepnotes.data.parallel import TranslationData, load_translation_data
from deepnotes.metrics import corpus_bleu
from deepnotes.train.seq2seq import (
    decode,
    evaluate_bleu,
    save_seq2seq,
    teacher_forcing_inputs,
    translate,
)

# noun -> (Spanish, gender); adjective -> (masculine, feminine); verb -> Spanish
NOUNS = {"cat": ("gato", "m"), "dog": ("perro", "m"), "boy": ("niño", "m"),
         "book": ("libro", "m"), "man": ("hombre", "m"), "horse": ("caballo", "m"),
         "house": ("casa", "f"), "girl": ("niña", "f"), "table": ("mesa", "f"),
         "woman": ("mujer", "f"), "city": ("ciudad", "f"), "car": ("coche|carro", "m")}
ADJECTIVES = {"small": ("pequeño", "pequeña"), "red": ("rojo", "roja"), "new": ("nuevo", "nueva"),
              "old": ("viejo", "vieja"), "white": ("blanco", "blanca"),
              "black": ("negro", "negra"), "pretty": ("bonito", "bonita"), "big": ("grande", "grande")}
VERBS = {"sees": "ve|mira", "likes": "quiere", "finds": "encuentra|halla", "follows": "sigue"}
INTRANSITIVE = {"sleeps": "duerme|está durmiendo|está dormido|está descansando",
                "runs": "corre|va corriendo|va deprisa|va rápido",
                "waits": "espera|está esperando|está aguardando|está quieto", "eats": "come"}
# "a|b": either translation, chosen at random per sentence (irreducible uncertainty);
# "a|b|c|d" with probabilities 0.4, 0.2, 0.2, 0.2 (b, c, d share their first word: greedy's trap)


@dataclass
class RNNTranslatorSettings:
    """Data, model and training settings the RNN translation lessons share (their ``Config``s
    add their own fields to these)."""

    max_words: int = 15  # keep pairs with at most this many tokens a side
    embed_size: int = 128  # word embedding width
    num_hiddens: int = 256  # GRU hidden size (and attention width)
    num_layers: int = 2  # GRU layers (encoder and decoder)
    dropout: float = 0.3  # dropout on embeddings and between layers
    bidirectional: bool = False  # bidirectional encoder
    epochs: int = 20  # passes over the training pairs
    batch_size: int = 64  # pairs per minibatch
    lr: float = 0.003  # Adam learning rate
    clip: float = 1.0  # max gradient norm
    scheduled_sampling: float = 0.0  # > 0: feed own predictions, up to this probability (A14)
    threads: int = 1  # torch CPU threads (0: leave as is)
    device: str = "auto"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)
    seed: int = 0  # controls initialisation, dropout and shuffling


def _either(rng: random.Random, word: str) -> str:
    options = word.split("|")
    weights = (0.4, 0.2, 0.2, 0.2) if len(options) == 4 else (1.0,) * len(options)
    return rng.choices(options, weights)[0]


def _noun_phrase(rng: random.Random, obj: bool) -> tuple[str, str]:
    noun = rng.choice(sorted(NOUNS))
    es_noun, gender = NOUNS[noun]
    es_noun = _either(rng, es_noun)
    words_en, words_es = ["the"], [("al" if obj else "el") if gender == "m" else
                                   ("a la" if obj else "la")]
    if rng.random() < 0.7:
        adj = rng.choice(sorted(ADJECTIVES))
        words_en += [adj, noun]
        words_es += [es_noun, ADJECTIVES[adj][gender == "f"]]
    else:
        words_en.append(noun)
        words_es.append(es_noun)
    return " ".join(words_en), " ".join(words_es)


def fixture_pairs(n: int = 600, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` made-up (English, Spanish) sentence pairs, reproducible from ``seed``.

    Example:
        >>> fixture_pairs(1, seed=3)
        [('the white cat eats.', 'el gato blanco come.')]
    """
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        subj_en, subj_es = _noun_phrase(rng, obj=False)
        if rng.random() < 0.6:
            verb = rng.choice(sorted(VERBS))
            obj_en, obj_es = _noun_phrase(rng, obj=True)
            es_verb = _either(rng, VERBS[verb])
            pairs.append((f"{subj_en} {verb} {obj_en}.", f"{subj_es} {es_verb} {obj_es}."))
        else:
            verb = rng.choice(sorted(INTRANSITIVE))
            es_verb = _either(rng, INTRANSITIVE[verb])
            pairs.append((f"{subj_en} {verb}.", f"{subj_es} {es_verb}."))
    return pairs


def load_mt_data(quick: bool, out_dir: Path, max_words: int = 15, batch_size: int = 64,
                 seed: int = 0, fixture_size: int = 600, min_freq: int = 2) -> TranslationData:
    """Quick: the fixture written to ``out_dir/fixture-en-es.tsv``; full: the Bible pairs.

    Both go through :func:`~deepnotes.data.parallel.load_translation_data` (tokens, vocabularies
    from the training split, the hash split, ``num_steps = max_words + 1``).
    """
    if quick:
        path = Path(out_dir) / "fixture-en-es.tsv"
        path.write_text("".join(f"{s}\t{t}\n" for s, t in fixture_pairs(fixture_size, seed)),
                        encoding="utf-8")
        return load_translation_data(path=path, max_words=max_words, batch_size=batch_size,
                                     seed=seed, min_freq=1, fractions=(0.8, 0.1, 0.1))
    return load_translation_data(max_words=max_words, batch_size=batch_size, seed=seed,
                                 min_freq=min_freq)


def copy_baseline_bleu(split: Any) -> float:
    """Corpus BLEU of copying each source sentence as its 'translation' (lower-cased)."""
    return float(corpus_bleu(list(split.src_text), [list(split.tgt_text)], lowercase=True).score)


def bleu_rows(model: nn.Module, data: TranslationData, settings: Sequence[tuple[str, int, float]],
              max_len: int | None = None) -> list[dict[str, Any]]:
    """One row per ``(method, beam_size, alpha)``: test BLEU, notes' BLEU, mean log P, time."""
    rows = []
    for method, k, alpha in settings:
        t0 = time.perf_counter()
        r = evaluate_bleu(model, data.test, data.src_vocab, data.tgt_vocab, method=method,
                          beam_size=k, alpha=alpha, max_len=max_len or data.num_steps)
        lengths = [len(h.split()) for h in r["hypotheses"]]
        rows.append({"decoding": method if method == "greedy" else f"beam k={k} α={alpha:g}",
                     "method": method, "beam_size": k if method == "beam" else 1, "alpha": alpha,
                     "test_bleu": r["bleu"], "test_notes_bleu": r["notes_bleu"],
                     "mean_log_prob": r["mean_log_prob"],
                     "mean_words": sum(lengths) / max(len(lengths), 1),
                     "seconds": time.perf_counter() - t0})
    return rows


def sample_rows(model: nn.Module, data: TranslationData, n: int = 6, method: str = "greedy",
                beam_size: int = 4) -> list[dict[str, str]]:
    """The first ``n`` test sentences: source, reference and the model's translation."""
    src = list(data.test.src_text[:n])
    out = translate(model, src, data.src_vocab, data.tgt_vocab, method=method,
                    beam_size=beam_size, num_steps=data.num_steps, max_len=data.num_steps)
    return [{"source": s, "reference": r, "translation": t}
            for s, r, t in zip(src, data.test.tgt_text[:n], out)]


@torch.no_grad()
def attention_heatmap(model: nn.Module, data: TranslationData, index: int, path: Path) -> str:
    """Plot the decoder's attention weights while it translates test sentence ``index``.

    Decodes greedily, then re-reads the output with teacher forcing so ``attention_weights``
    ``(1, T, S)`` holds one row per output token.
    """
    model.eval()
    split = data.test
    src, n = split.src[index:index + 1], split.src_valid_len[index:index + 1]
    bos, eos = data.tgt_vocab.bos, data.tgt_vocab.eos
    out = decode(model, src, n, bos, eos, max_len=data.num_steps).tokens[0]
    tgt_in = teacher_forcing_inputs(torch.tensor([out]), bos)
    model(src, n, tgt_in)
    w = model.attention_weights[0, :, : int(n)].cpu()  # (T, S)
    fig, ax = plt.subplots(figsize=(0.5 * int(n) + 2.5, 0.4 * len(out) + 2))
    image = ax.imshow(w.numpy(), cmap="Reds", vmin=0.0)
    fig.colorbar(image, ax=ax, fraction=0.04)
    ax.set_xticks(range(int(n)), data.src_vocab.to_tokens(src[0, : int(n)]), rotation=60)
    ax.set_yticks(range(len(out)), data.tgt_vocab.to_tokens(out))
    ax.set_xlabel("source (keys)")
    ax.set_ylabel("output (queries)")
    ax.set_title("Bahdanau attention weights")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def loss_figure(history: list[dict[str, Any]], path: Path, title: str) -> str:
    """Training and validation loss per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["train_loss"] for r in history], label="train")
    if all("val_loss" in r for r in history):
        ax.plot(epochs, [r["val_loss"] for r in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked cross-entropy per token")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def save_translator(model: nn.Module, data: TranslationData, out_dir: Path) -> str:
    """``out_dir/checkpoint.safetensors`` with both vocabularies (``deepnotes translate`` reads it)."""
    return str(save_seq2seq(Path(out_dir) / "checkpoint", model, data.src_vocab, data.tgt_vocab,
                            data.num_steps))


# quick mode: a model and schedule that learn the fixture in a few seconds on one core
QUICK = {"embed_size": 32, "num_hiddens": 64, "num_layers": 1, "dropout": 0.0, "epochs": 8,
         "lr": 0.01, "batch_size": 48, "max_words": 15, "fixture_size": 600}


def train_translator(model_name: str, cfg: Any, out_dir: Path, data: TranslationData | None = None,
                     **model_extra: Any) -> dict[str, Any]:
    """Load the data, build ``model_name``, train it with ``cfg``'s fields, time it, save it.

    ``cfg`` needs quick, seed, max_words, batch_size, embed_size, num_hiddens, num_layers,
    dropout, bidirectional, epochs, lr, clip, scheduled_sampling, device, progress; in quick
    mode :data:`QUICK` replaces the sizes. ``data`` skips loading (the same corpus again). Returns ``{"model", "data", "history",
    "train_seconds", "untrained_bleu", "copy_bleu", "checkpoint", "settings"}``.
    """
    from deepnotes.models import create
    from deepnotes.train.seq2seq import ScheduledSampling, train_seq2seq

    s = {k: getattr(cfg, k) for k in ("embed_size", "num_hiddens", "num_layers", "dropout",
                                      "epochs", "lr", "batch_size", "max_words")}
    if cfg.quick:
        s.update(QUICK)
    if data is None:
        data = load_mt_data(cfg.quick, out_dir, s["max_words"], s["batch_size"], cfg.seed,
                            fixture_size=QUICK["fixture_size"])
    model = create(model_name, src_vocab_size=len(data.src_vocab),
                   tgt_vocab_size=len(data.tgt_vocab), embed_size=s["embed_size"],
                   num_hiddens=s["num_hiddens"], num_layers=s["num_layers"],
                   dropout=s["dropout"], bidirectional=cfg.bidirectional, **model_extra)
    untrained = bleu_rows(model, data, [("greedy", 1, 0.0)])[0]["test_bleu"]
    sampling = (ScheduledSampling(cfg.scheduled_sampling) if cfg.scheduled_sampling > 0 else None)
    t0 = time.perf_counter()
    history = train_seq2seq(model, data, epochs=s["epochs"], lr=s["lr"], clip=cfg.clip,
                            scheduled_sampling=sampling, device=cfg.device,
                            progress=cfg.progress, seed=cfg.seed)
    seconds = time.perf_counter() - t0
    model.cpu()
    return {"model": model, "data": data, "history": history, "train_seconds": seconds,
            "untrained_bleu": untrained, "copy_bleu": copy_baseline_bleu(data.test),
            "checkpoint": save_translator(model, data, out_dir), "settings": s}


def translator_metrics(run: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, float]:
    """The numbers every translation lesson reports about its trained model."""
    h, data, model = run["history"], run["data"], run["model"]
    metrics = {
        "first_epoch_train_loss": float(h[0]["train_loss"]),
        "final_train_loss": float(h[-1]["train_loss"]),
        "final_val_loss": float(h[-1].get("val_loss", float("nan"))),
        "train_seconds": float(run["train_seconds"]),
        "tokens_per_sec": float(sum(r["tokens_per_sec"] for r in h) / len(h)),
        "epochs": float(len(h)),
        "train_pairs": float(len(data.train)),
        "test_pairs": float(len(data.test)),
        "src_vocab": float(len(data.src_vocab)),
        "tgt_vocab": float(len(data.tgt_vocab)),
        "parameters": float(sum(p.numel() for p in model.parameters())),
        "untrained_test_bleu": float(run["untrained_bleu"]),
        "copy_source_test_bleu": float(run["copy_bleu"]),
    }
    for r in rows:
        key = "greedy" if r["method"] == "greedy" else f"beam{r['beam_size']}_alpha{r['alpha']:g}"
        metrics[f"test_bleu_{key}"] = float(r["test_bleu"])
        metrics[f"test_notes_bleu_{key}"] = float(r["test_notes_bleu"])
        metrics[f"mean_log_prob_{key}"] = float(r["mean_log_prob"])
    return metrics
