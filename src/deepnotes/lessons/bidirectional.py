"""Why a bidirectional RNN cannot be a language model: it learns to read the answer.

Claim (notes R4; d2l 10.4): a bidirectional RNN feeds the output at step t with a forward state
that has read x_1..x_t and a backward state that has read x_T..x_t. Trained to predict
x_{t+1} at step t, the backward half only has to pass on the token it read one step earlier —
the answer — so the training perplexity drops to about 1, and "validation" perplexity computed
the same way (whole window visible) is just as good. But that future is exactly what a language
model does not have when it is used: scored causally (token t+1 from x_1..x_t only, each prefix
fed separately) the same network is worse than a plain unidirectional one trained identically,
and its generated text degenerates. Bidirectional layers are for tasks that see the whole input
(tagging, encoding a source sentence), not for predicting the next token.

Measured (full mode, H=128, 5 epochs): bidirectional training perplexity 1.06 (validation with
the future visible 1.06) but 7.42 scored causally, against 4.30 for the unidirectional GRU
(training 3.93); its greedy samples loop on "the was the was".

Data: full mode, the first 170,580 characters of the Jane Austen novels (janeaustenr) with d2l's
preprocessing; quick mode the package's sample text (Pride and Prejudice ch. 1-2). GRU layers,
random sampling (windows of 35 characters, each from a zero state), Adam.

Notes: R4, R8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.figures import plot_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.lm import (
    TIME_MACHINE_CHARS,
    causal_perplexity,
    char_corpus,
    generate,
    load_text,
    perplexity,
    train_lm,
)

NAME = "bidirectional"
SUMMARY = "a BiRNN trained as a next-token LM cheats (train ppl ~1) but fails causally (R4)"
CONCEPTS = ("R4", "R8")


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "sample", "hidden": 64, "epochs": 10, "lr": 0.02}  # (tests)

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    chars: int = TIME_MACHINE_CHARS  # characters used
    cell: str = "gru"  # rnn | gru | lstm
    hidden: int = 128  # H per direction (full mode)
    epochs: int = 5  # passes over the text (full mode)
    batch_size: int = 32  # B windows per step
    num_steps: int = 35  # T, the window length
    lr: float = 0.01  # Adam learning rate
    prefix: str = "it is a truth"  # prefix of the generated samples
    sample_chars: int = 60  # characters generated per sample


def run(cfg: Config, out_dir: Path) -> LessonResult:
    raw, source = load_text(cfg.corpus, f"{cfg.chars:,} chars")
    hidden, epochs, lr = cfg.hidden, cfg.epochs, cfg.lr
    ids, vocab, _ = char_corpus(raw, max_chars=cfg.chars)
    cut = int(len(ids) * 0.9)
    train_ids, val_ids = ids[:cut], ids[cut:]
    metrics: dict[str, float] = {"vocab_size": float(len(vocab))}
    history, curves, samples = [], {}, []
    for key, bi in (("uni", False), ("bi", True)):
        torch.manual_seed(cfg.seed)
        model = create("rnn-lm", vocab_size=len(vocab), cell=cfg.cell, hidden=hidden,
                       bidirectional=bi)
        r = train_lm(model, train_ids, val_ids, epochs=epochs, batch_size=cfg.batch_size,
                     num_steps=cfg.num_steps, sampling="random", lr=lr, seed=cfg.seed,
                     progress=False, label=f"{'bi' if bi else 'uni'}directional")
        T = cfg.num_steps
        # windows of T from a zero state, the whole window visible (how it was trained)
        seen = perplexity(model, val_ids, T, carry_state=False)
        causal = causal_perplexity(model, val_ids, T)
        metrics.update({f"{key}_train_ppl": r.history[-1]["train_ppl"],
                        f"{key}_val_ppl": seen, f"{key}_causal_val_ppl": causal,
                        f"{key}_seconds": r.seconds})
        history += r.history
        curves[f"{key}directional, train"] = ([h["epoch"] for h in r.history],
                                              [h["train_ppl"] for h in r.history])
        text = generate(model, vocab, cfg.prefix, cfg.sample_chars)
        samples.append({"model": f"{key}directional", "greedy_sample": text,
                        "distinct_chars_generated": len(set(text[len(cfg.prefix):]))})
        metrics[f"{key}_sample_distinct_chars"] = float(samples[-1]["distinct_chars_generated"])
    rows = [{"model": f"{k}directional {cfg.cell.upper()}",
             "train_ppl": round(metrics[f"{k}_train_ppl"], 3),
             "val_ppl_future_visible": round(metrics[f"{k}_val_ppl"], 3),
             "val_ppl_causal": round(metrics[f"{k}_causal_val_ppl"], 3)} for k in ("uni", "bi")]
    figure = plot_curves(curves, out_dir / "bidirectional_train_ppl.png", "epoch",
                         "training perplexity", "Training perplexity: the BiRNN reads the answer",
                         refs={"bidirectional, validation scored causally":
                               (metrics["bi_causal_val_ppl"], "bidirectional, train"),
                               "unidirectional, validation":
                               (metrics["uni_causal_val_ppl"], "unidirectional, train")})
    claim = (f"On {source}, a bidirectional {cfg.cell.upper()} trained to predict the next "
             f"character reaches training perplexity {metrics['bi_train_ppl']:.2f} (validation, "
             f"future visible: {metrics['bi_val_ppl']:.2f}) against {metrics['uni_train_ppl']:.2f} "
             f"for the unidirectional one, but scored causally its validation perplexity is "
             f"{metrics['bi_causal_val_ppl']:.2f}, worse than the unidirectional "
             f"{metrics['uni_causal_val_ppl']:.2f}; it cannot be used to generate text.")
    return LessonResult(name=NAME, metrics=metrics, figures=[figure], history=history, claim=claim,
                        tables={"perplexity": rows, "samples": samples})
