"""Counting language models: unigram, bigram and trigram with Laplace smoothing.

Claim (notes R2, R8): estimating P(x_t | previous words) by counting works only with smoothing:
with ε = 0 a held-out text always contains some word pair (or word) never counted, so its
probability is 0 and its perplexity ∞ (words seen once in training become ``<unk>``, so the
unigram model has counts for unknown words and stays finite). With the notes' Laplace smoothing

    P(x) = (n(x) + ε1/m) / (n + ε1),  P(x'|x) = (n(x,x') + ε2 P(x')) / (n(x) + ε2), ...

(each order's ε chosen on a validation text, the lower orders' ε fixed at their best) the
perplexity on the test text is finite, and a longer context helps: the bigram beats the
unigram on held-out text. Longer n-grams are sparse: their counts follow Zipf's law too (smaller exponent,
a long flat tail) and most held-out trigrams were never seen, so a trigram that falls back
straight to the unigram (the notes' ε3 formula) gains little or nothing over the bigram; falling
back to the bigram instead does help. On the training text the perplexity keeps falling with the
order (memorising), which is why the comparison is made on held-out text.

Also measured: the same models on characters (d2l's preprocessing: lower-case letters and
spaces, 28 tokens) on a slice of the text as long as d2l's The Time Machine (170,580 chars),
a baseline for the character-level RNNs (R8); samples drawn from each model.

Data: full mode, the six Jane Austen novels (janeaustenr); quick mode the package's sample text
(chapters 1-2 of Pride and Prejudice). The last 10% of the tokens is held out: its first half
is the validation text (ε is chosen there), its second half the test text (reported).

Notes: R2, R8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnotes.data import load_corpus
from deepnotes.data.corpora import d2l_style_chars
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.tasks.lm import TIME_MACHINE_CHARS
from deepnotes.text import (
    NGramLM,
    ngram_counts,
    rank_frequency,
    tokenize,
    zipf_fit,
)

NAME = "ngram-lm"
SUMMARY = "unigram/bigram/trigram LMs with Laplace smoothing: held-out perplexity vs ε, Zipf (R2)"
CONCEPTS = ("R2", "R8")


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "sample"}  # the built-in 8.8 KB text (tests)

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    held_out_fraction: float = 0.1  # last fraction of the tokens held out: validation, then test
    eps_values: tuple[float, ...] = (0.0, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0,
                                     1000.0, 3000.0, 10000.0)  # ε values tried for each order
    min_freq: int = 2  # rarer training words become <unk>, so <unk> has counts of its own
    char_chars: int = TIME_MACHINE_CHARS  # length of the character-level slice (0: skip it)
    sample_tokens: int = 25  # tokens sampled from each model
    zipf_ranks: tuple[int, int] = (10, 1000)  # rank range of the Zipf fits


def _split(tokens: list, fraction: float) -> tuple[list, list, list]:
    """Training text, then the held-out ``fraction`` cut in two: validation, test."""
    cut = int(len(tokens) * (1 - fraction))
    mid = cut + (len(tokens) - cut) // 2
    return tokens[:cut], tokens[cut:mid], tokens[mid:]


MODELS = (("unigram", 1, "unigram"), ("bigram", 2, "unigram"), ("trigram", 3, "unigram"),
          ("trigram_bigram_backoff", 3, "bigram"))


def _tune(base: NGramLM, val: list, test: list, eps_values) -> tuple[list[dict], dict[str, dict]]:
    """Sweep each order's own ε on the validation text, the lower orders' ε fixed at their best.

    Returns the rows of every sweep and, per model, the row of the ε chosen on validation with
    its test perplexity added (``test_ppl``); the test text chooses nothing.
    """
    rows, best = [], {}
    fixed = [0.0, 0.0, 0.0]
    for name, order, backoff in MODELS:
        sweep = []
        for eps in eps_values:
            e = list(fixed)
            e[order - 1] = eps
            lm = base.with_eps(tuple(e), order=order, trigram_backoff=backoff)
            sweep.append({"model": name, "order": order, "eps": eps, "eps1": e[0], "eps2": e[1],
                          "eps3": e[2], "val_ppl": lm.perplexity(val)})
        best[name] = min(sweep, key=lambda r: r["val_ppl"])
        best[name]["test_ppl"] = _model(base, best[name]).perplexity(test)
        if name in ("unigram", "bigram"):
            fixed[order - 1] = best[name]["eps"]
        rows += sweep
    return rows, best


def _model(base: NGramLM, row: dict) -> NGramLM:
    backoff = "bigram" if row["model"] == "trigram_bigram_backoff" else "unigram"
    return base.with_eps((row["eps1"], row["eps2"], row["eps3"]), order=row["order"],
                         trigram_backoff=backoff)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    text = load_corpus(cfg.corpus)
    words = [t for line in tokenize(text, kind="word") for t in line]
    train, val, test = _split(words, cfg.held_out_fraction)
    base = NGramLM(train, order=3, min_freq=cfg.min_freq)
    rows, best = _tune(base, val, test, cfg.eps_values)
    zero = {r["model"]: _model(base, r).perplexity(test) for r in rows if r["eps"] == 0}
    for r in best.values():
        r["train_ppl"] = _model(base, r).perplexity(train)

    # Zipf for unigrams, bigrams, trigrams of the training text
    zipf, freqs = {}, {}
    for n in (1, 2, 3):
        freqs[n] = rank_frequency(ngram_counts(train, n))
        hi = min(cfg.zipf_ranks[1], len(freqs[n]))
        lo = min(cfg.zipf_ranks[0], max(1, hi // 10))
        zipf[n] = zipf_fit(freqs[n], min_rank=lo, max_rank=hi)
    seen3 = set(ngram_counts(train, 3))
    held = val + test
    held3 = list(zip(held, held[1:], held[2:]))
    unseen_trigrams = float(np.mean([g not in seen3 for g in held3]))

    # samples from each model at its best ε
    prefix = ["it", "is", "a"]
    samples = []
    for name, r in best.items():
        out = _model(base, r).sample(cfg.sample_tokens, prefix=prefix, seed=cfg.seed)
        samples.append({"model": name, "eps": r["eps"], "sample": " ".join(prefix + out)})

    metrics: dict[str, float] = {"train_tokens": float(len(train)),
                                 "val_tokens": float(len(val)),
                                 "test_tokens": float(len(test)),
                                 "vocab_size": float(base.vocab_size),
                                 "held_out_unseen_trigram_fraction": unseen_trigrams}
    for name, r in best.items():
        metrics[f"{name}_val_ppl"] = r["val_ppl"]
        metrics[f"{name}_test_ppl"] = r["test_ppl"]
        metrics[f"{name}_best_eps"] = r["eps"]
        metrics[f"{name}_train_ppl"] = r["train_ppl"]
    for name, ppl in zero.items():
        metrics[f"{name}_eps0_test_ppl"] = ppl
    for n in (1, 2, 3):
        metrics[f"zipf_alpha_{n}gram"] = zipf[n][0]
        metrics[f"distinct_{n}grams"] = float(len(freqs[n]))

    char_rows = []
    if cfg.char_chars > 0:
        chars = list(d2l_style_chars(text)[:cfg.char_chars])
        ctrain, cval, ctest = _split(chars, cfg.held_out_fraction)
        char_rows, char_best = _tune(NGramLM(ctrain, order=3), cval, ctest, cfg.eps_values)
        metrics["char_tokens"] = float(len(chars))
        for name, r in char_best.items():
            metrics[f"char_{name}_val_ppl"] = r["val_ppl"]
            metrics[f"char_{name}_test_ppl"] = r["test_ppl"]

    figures = [_plot_sweep(rows, out_dir), _plot_zipf(freqs, zipf, out_dir)]
    claim = (f"ε=0 gives test perplexity {zero['unigram']:.3g}/{zero['bigram']:.3g}/"
             f"{zero['trigram']:.3g} (uni/bi/tri); "
             f"smoothed (ε chosen on validation), the test perplexities are unigram "
             f"{best['unigram']['test_ppl']:.0f}, "
             f"bigram {best['bigram']['test_ppl']:.0f}, trigram (notes' unigram fallback) "
             f"{best['trigram']['test_ppl']:.0f}, trigram with bigram fallback "
             f"{best['trigram_bigram_backoff']['test_ppl']:.0f}; "
             f"{unseen_trigrams:.0%} of held-out trigrams were never seen; Zipf alpha "
             f"{zipf[1][0]:.2f}/{zipf[2][0]:.2f}/{zipf[3][0]:.2f}.")
    return LessonResult(name=NAME, metrics=metrics, figures=figures, claim=claim,
                        tables={"eps_sweep": rows, "char_eps_sweep": char_rows, "samples": samples})


def _plot_sweep(rows: list[dict], out_dir: Path) -> str:
    fig, ax = subplots(figsize=(6.5, 4.2))
    labels = {"unigram": "unigram (ε1)", "bigram": "bigram (ε2; best ε1)",
              "trigram": "trigram, ε3 mixes unigram (notes)",
              "trigram_bigram_backoff": "trigram, ε3 mixes bigram"}
    for name, label in labels.items():
        sel = [r for r in rows if r["model"] == name and r["eps"] > 0]
        ax.loglog([r["eps"] for r in sel], [r["val_ppl"] for r in sel], "o-", label=label)
    ax.set_xlabel("ε of the model's own order")
    ax.set_ylabel("validation perplexity")
    ax.set_title("Laplace smoothing (ε = 0 gives ∞ for unseen events)")
    ax.legend(fontsize=8)
    return save_figure(fig, Path(out_dir) / "ngram_eps_sweep.png")


def _plot_zipf(freqs: dict, zipf: dict, out_dir: Path) -> str:
    fig, ax = subplots(figsize=(6.5, 4.2))
    for n, name in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        f = freqs[n]
        ax.loglog(np.arange(1, len(f) + 1), f, label=f"{name} (α = {zipf[n][0]:.2f})")
    ax.set_xlabel("rank")
    ax.set_ylabel("frequency")
    ax.set_title("Zipf's law for n-grams")
    ax.legend()
    return save_figure(fig, Path(out_dir) / "ngram_zipf.png")
