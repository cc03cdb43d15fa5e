"""Copying names from the source: a pointer-generator translator, and guided attention.

Claim (notes A14): names, numbers and other words a translation keeps as they are are hard for
a decoder that must *generate* every word from its softmax — a rare name has a poorly trained
output row. A copy mechanism lets the decoder put the probability of an attended source word
straight on the same word in the output (pointer-generator: P(w) = p_gen P_vocab(w) + (1 −
p_gen) Σ_{j: x_j = w} α_j). The lesson trains the same Bahdanau translator on the English →
Spanish Bible verses three ways — plain, with copying, and with a guided-attention loss that
pulls the attention towards a monotonic alignment — for the same epochs, and measures test BLEU
and the *copy rate*: of the source words that reappear verbatim in the reference translation
(mostly names: Isaac, Gerar, Jerusalem), the share the model's translation contains.

Notes: A14 (copy mechanism, guided attention), A10.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.tasks.translation import (
    SMALL_TRANSLATOR,
    TranslatorSettings,
    bleu_rows,
    load_translation_corpus,
    train_translator,
    translate,
)

NAME = "copy-names"
SUMMARY = ("copying names from the source: pointer-generator and guided attention vs the plain "
           "Bahdanau translator, test BLEU and the copy rate of names (A14)")
CONCEPTS = ("A14", "A10")

VARIANTS = ("plain", "copy", "guided")


@dataclass
class Config(TranslatorSettings, LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = dict(SMALL_TRANSLATOR)

    guided_weight: float = 1.0  # λ of the guided-attention loss in the "guided" variant
    min_length: int = 3  # shared source/reference words shorter than this are not counted


def copy_rate(sources: list[list[str]], references: list[list[str]],
              outputs: list[list[str]], min_length: int = 3) -> tuple[float, int]:
    """Of the words of each source that reappear in its reference (at least ``min_length``
    characters), the share that the output contains too; and how many such words there are.

    Example:
        >>> copy_rate([["isaac", "lived", "in", "gerar"]], [["isaac", "habitó", "en", "gerar"]],
        ...           [["isaac", "vivió", "en", "gerara"]])
        (0.5, 2)
    """
    kept = total = 0
    for src, ref, out in zip(sources, references, outputs, strict=True):
        shared = {w for w in src if len(w) >= min_length} & set(ref)
        total += len(shared)
        kept += len(shared & set(out))
    return (kept / total if total else float("nan")), total


def run(cfg: Config, out_dir: Path) -> LessonResult:
    data = load_translation_corpus(cfg.corpus, cfg.max_words, cfg.batch_size, cfg.seed)
    split = data.test
    sources = [s.lower().split() for s in split.src_text]
    references = [r.lower().split() for r in split.tgt_text]
    rows, samples = [], []
    for variant in VARIANTS:
        settings = dataclasses.replace(
            cfg, guided_attention=cfg.guided_weight if variant == "guided" else 0.0)
        trained = train_translator("bahdanau", settings, out_dir / variant, data=data,
                                   copy=variant == "copy")
        model = trained["model"]
        bleu = bleu_rows(model, data, [("greedy", 1, 0.0)])[0]["test_bleu"]
        outs = translate(model, list(split.src_text), data.src_vocab, data.tgt_vocab,
                         num_steps=data.num_steps, max_len=data.num_steps,
                         codec=getattr(data, "codec", None))
        rate, shared = copy_rate(sources, references, [o.lower().split() for o in outs],
                                 cfg.min_length)
        rows.append({"variant": variant, "test_bleu": round(bleu, 2), "copy_rate": round(rate, 4),
                     "shared_words": shared, "train_seconds": round(trained["train_seconds"], 1),
                     "final_val_loss": round(float(trained["history"][-1].get("val_loss",
                                                                                float("nan"))),
                                             3)})
        samples += [{"variant": variant, "source": split.src_text[i],
                     "reference": split.tgt_text[i], "translation": outs[i]}
                    for i in range(min(6, len(outs)))]
    metrics: dict[str, float] = {"shared_words": float(rows[0]["shared_words"]),
                                 "test_pairs": float(len(split))}
    for row in rows:
        metrics[f"{row['variant']}_test_bleu"] = row["test_bleu"]
        metrics[f"{row['variant']}_copy_rate"] = row["copy_rate"]
    fig, ax = subplots(figsize=(6, 3.6))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["copy_rate"] for r in rows], 0.4, label="copy rate")
    ax2 = ax.twinx()
    ax2.bar([x + 0.2 for x in xs], [r["test_bleu"] for r in rows], 0.4, color="tab:orange",
            label="test BLEU")
    ax.set_xticks(list(xs), [r["variant"] for r in rows])
    ax.set(ylabel="share of shared source words kept", ylim=(0, 1),
           title="Bahdanau translator: plain, copying, guided attention")
    ax2.set_ylabel("test BLEU (greedy)")
    ax.legend(loc="upper left", fontsize=8), ax2.legend(loc="upper right", fontsize=8)
    figure = save_figure(fig, out_dir / "copy_names.png")
    claim = ("Copy rate of source words the reference keeps (names, numbers) / test BLEU: "
             + "; ".join(f"{r['variant']} {r['copy_rate']:.3f} / {r['test_bleu']:.2f}"
                         for r in rows)
             + f" ({rows[0]['shared_words']} shared words in {len(split)} test pairs).")
    return LessonResult(NAME, metrics, [figure], [], claim=claim,
                        tables={"variants": rows, "samples": samples})
