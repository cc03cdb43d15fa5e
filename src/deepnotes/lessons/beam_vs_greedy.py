"""Beam search vs greedy search on one trained translator: probability found, BLEU, cost.

Claim (notes S5; d2l 10.8): greedy search takes the most probable token at every step, which
need not give the most probable sequence (the notes' example: 0.5·0.4·0.4·0.6 = 0.048 for
greedy, 0.5·0.3·0.6·0.6 = 0.054 for a better sequence). Beam search keeps k prefixes and, ranked
by plain log-probability (α = 0), finds sequences of higher mean :math:`\\log P` than greedy for
k = 2, 4, 8, at about k times the cost. The length penalty :math:`\\frac{1}{L^\\alpha}\\log P`
(α = 0.75) trades some of that probability for longer outputs. Whether the extra probability
turns into BLEU depends on the model: the table reports test BLEU (sacrebleu-compatible) for
every setting.
Measured (full mode, the ``bahdanau`` lesson's checkpoint, 166 test verses): mean log P
-10.07 greedy vs -9.07 / -8.67 / -8.36 for beam k = 2 / 4 / 8 (α = 0), at least as probable
as greedy's on 90 / 95 / 98 % of the verses; test BLEU 8.3 greedy, 9.1 / 9.1 / 9.1 (α = 0) and
9.0 / 8.8 / 8.8 (α = 0.75); decoding time 0.5 s greedy vs 1.2 / 2.1 / 2.3 s.

Data: the model of the ``bahdanau`` lesson (trained here with the same settings, or loaded from
``checkpoint``) on the English -> Spanish Bible test split; quick mode: the made-up
``toy-en-es`` corpus of :mod:`deepnotes.data.toy_mt`, whose intransitive verbs are the notes' trap for greedy
search (``espera`` 0.4 vs ``está esperando`` / ``está aguardando`` / ``está quieto`` 0.2 each).

Notes: S5, S3, S4.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.tasks.translation import (
    SMALL_TRANSLATOR,
    TranslatorSettings,
    copy_baseline_bleu,
    evaluate_bleu,
    load_seq2seq,
    load_translation_corpus,
    train_translator,
)

NAME = "beam-vs-greedy"
SUMMARY = "beam search (k = 2, 4, 8; α = 0.75 and 0) vs greedy: log P and test BLEU (S5)"
CONCEPTS = ("S5", "S3", "S4")


@dataclass
class Config(TranslatorSettings, LessonConfig):
    QUICK = SMALL_TRANSLATOR  # the toy corpus, a tiny model (tests)

    checkpoint: str = ""  # a translator checkpoint (e.g. the bahdanau lesson's) instead of training
    model: str = "bahdanau"  # model trained when no checkpoint is given
    beam_sizes: tuple[int, ...] = (2, 4, 8)  # k values compared with greedy
    alphas: tuple[float, ...] = (0.75, 0.0)  # length-penalty exponents


def _model_and_data(cfg: Config, out_dir: Path):
    if not cfg.checkpoint:
        trained = train_translator(cfg.model, cfg, out_dir)
        return trained["model"], trained["data"], trained["checkpoint"], trained["train_seconds"]
    model, src_vocab, tgt_vocab, info = load_seq2seq(cfg.checkpoint)
    max_words = (info.get("num_steps") or cfg.max_words + 1) - 1
    data = load_translation_corpus(cfg.corpus, max_words, cfg.batch_size, cfg.seed)
    if data.src_vocab != src_vocab or data.tgt_vocab != tgt_vocab:
        raise ConfigError(f"checkpoint {cfg.checkpoint} was trained on other vocabularies than "
                          f"this corpus ({cfg.corpus}, max_words={max_words}); use a "
                          "checkpoint from the same corpus or leave checkpoint empty")
    return model, data, cfg.checkpoint, 0.0


def _figure(rows: list[dict], path: Path) -> str:
    labels = [r["decoding"] for r in rows]
    fig, axes = subplots(1, 2, figsize=(11, 4))
    axes[0].bar(labels, [r["test_bleu"] for r in rows], color="tab:blue")
    axes[0].set_ylabel("test BLEU (sacrebleu, lower-cased)")
    axes[1].bar(labels, [r["mean_log_prob"] for r in rows], color="tab:orange")
    axes[1].set_ylabel("mean log P of the decoded sequence")
    for ax in axes:
        ax.tick_params(axis="x", rotation=60)
    fig.suptitle("greedy vs beam search")
    return save_figure(fig, path)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    settings = [("greedy", 1, 0.0)] + [("beam", k, a) for a in cfg.alphas for k in cfg.beam_sizes]
    rows, per_sentence = [], {}
    model, data, checkpoint, train_seconds = _model_and_data(cfg, out_dir)
    for method, k, alpha in settings:
        t0 = time.perf_counter()
        r = evaluate_bleu(model, data.test, data.src_vocab, data.tgt_vocab, method=method,
                          beam_size=k, alpha=alpha, max_len=data.num_steps)
        key = "greedy" if method == "greedy" else f"beam{k}_alpha{alpha:g}"
        per_sentence[key] = r["log_probs"]
        rows.append({"decoding": "greedy" if method == "greedy" else f"beam k={k} α={alpha:g}",
                     "key": key, "beam_size": k, "alpha": alpha, "test_bleu": r["bleu"],
                     "test_notes_bleu": r["notes_bleu"], "mean_log_prob": r["mean_log_prob"],
                     "mean_words": sum(len(h.split()) for h in r["hypotheses"])
                     / max(len(r["hypotheses"]), 1),
                     "seconds": time.perf_counter() - t0})
    greedy = per_sentence["greedy"]
    metrics: dict[str, float] = {"train_seconds": float(train_seconds),
                                 "test_pairs": float(len(data.test)),
                                 "copy_source_test_bleu": copy_baseline_bleu(data.test)}
    for row in rows:
        key = row["key"]
        metrics[f"test_bleu_{key}"] = float(row["test_bleu"])
        metrics[f"mean_log_prob_{key}"] = float(row["mean_log_prob"])
        metrics[f"decode_seconds_{key}"] = float(row["seconds"])
        if key != "greedy":
            lp = per_sentence[key]
            # share of test sentences where beam's sequence is at least as probable as greedy's
            metrics[f"share_beam_ge_greedy_{key}"] = sum(
                b >= g - 1e-9 for b, g in zip(lp, greedy)) / max(len(lp), 1)
    best = max(rows[1:], key=lambda r: r["test_bleu"])
    k0 = [r for r in rows if r["alpha"] == 0.0 and r["key"] != "greedy"]
    claim = (f"beam search finds more probable translations than greedy: mean log P "
             f"{metrics['mean_log_prob_greedy']:.3f} (greedy) vs "
             + ", ".join(f"{r['mean_log_prob']:.3f} (k={r['beam_size']}, α=0)" for r in k0)
             + f"; test BLEU greedy {metrics['test_bleu_greedy']:.1f}, best beam "
             f"{best['test_bleu']:.1f} ({best['decoding']})")
    return LessonResult(NAME, metrics, [_figure(rows, out_dir / "beam_vs_greedy.png")], [],
                        claim=claim, tables={"decoding": rows}, checkpoint=checkpoint)
