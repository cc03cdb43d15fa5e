"""Benchmark: corpus BLEU, deepnotes.metrics.corpus_bleu against sacrebleu.corpus_bleu.

What it measures: the wall time of one corpus-BLEU call (tokenising, n-gram counting and the
score) on a seeded synthetic test set of ``--sentences`` sentence pairs (default 3,000):
references are 8–30 words drawn from a Zipf-distributed vocabulary with punctuation, numbers
and hyphenated words; hypotheses are noisy copies (words dropped, replaced, swapped), so the
score lands in a realistic 20–50 range. Three settings: the ``13a`` tokenizer with one and
with two references per sentence, and pre-split text (``tokenize="none"``). Both libraries
get the same strings and must give the same score (checked to 1e-6 and printed). Timed
blocks of the two alternate; the table shows the median over ``--repeats`` blocks and the
ratio ours/sacrebleu (below 1: ours is faster). BLEU is pure Python on the CPU; ``--device``
is accepted (``run_all.py`` passes it to every script) and ignored.

Usage::

    python benchmarks/bench_bleu.py                  # ~30 s on a quiet core
    python benchmarks/bench_bleu.py --sentences 10000 --json bleu.json
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import sacrebleu
import torch
from _common import check_sizes, compare, machine, markdown, report
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from deepnotes.metrics import corpus_bleu

PUNCT = [",", ".", "?", "!", ";", ":", "(", ")", '"', "-", "'s"]


def make_corpus(n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """``n`` hypotheses and two reference streams, as detokenised English-like text."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)] + ["3.5", "1,000", "well-known", "e-mail", "U.S."]
    weights = [1.0 / (r + 1) for r in range(len(vocab))]  # Zipf: the r-th word ∝ 1/r

    def sentence() -> list[str]:
        words = rng.choices(vocab, weights, k=rng.randint(8, 30))
        for _ in range(rng.randint(0, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(PUNCT))
        return words

    def noisy(ref: list[str]) -> list[str]:
        out = []
        for w in ref:
            u = rng.random()
            if u < 0.10:
                continue  # dropped
            out.append(rng.choices(vocab, weights)[0] if u < 0.25 else w)  # replaced or kept
        for _ in range(rng.randint(0, 2)):  # swap neighbours
            if len(out) > 1:
                i = rng.randrange(len(out) - 1)
                out[i], out[i + 1] = out[i + 1], out[i]
        return out

    detok = lambda ws: " ".join(ws).replace(" ,", ",").replace(" .", ".")
    refs1 = [sentence() for _ in range(n)]
    refs2 = [noisy(r) for r in refs1]  # a second, paraphrase-like reference
    hyps = [noisy(r) for r in refs1]
    return [detok(h) for h in hyps], [detok(r) for r in refs1], [detok(r) for r in refs2]


def bench_setting(name: str, hyps, refs, tokenize: str, repeats: int) -> dict[str, Any]:
    ours_score = corpus_bleu(hyps, refs, tokenize=tokenize).score
    peer_score = sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize).score
    if abs(ours_score - peer_score) > 1e-6:
        raise SystemExit(f"{name}: BLEU differs: ours {ours_score} vs sacrebleu {peer_score}")
    ours_s, peer_s = compare(
        lambda: corpus_bleu(hyps, refs, tokenize=tokenize),
        lambda: sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize),
        torch.device("cpu"),
        repeats=repeats,
        inner=1,
        warmup=1,
    )
    return {
        "setting": name,
        "bleu": ours_score,
        "abs_diff": abs(ours_score - peer_score),
        "ours_s": ours_s,
        "sacrebleu_s": peer_s,
        "ratio": ours_s / peer_s,
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = ["setting", "BLEU", "abs diff", "ours (ms)", "sacrebleu (ms)", "ours/sacrebleu"]
    return markdown(header, [[r["setting"], f"{r['bleu']:.4f}", f"{r['abs_diff']:.1e}",
                              f"{r['ours_s'] * 1e3:,.1f}", f"{r['sacrebleu_s'] * 1e3:,.1f}",
                              f"{r['ratio']:.2f}"] for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=3000, help="sentence pairs")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per library")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="ignored")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not check_sizes({"--sentences": args.sentences, "--repeats": args.repeats}):
        return 2
    t0 = time.perf_counter()
    hyps, ref1, ref2 = make_corpus(args.sentences, args.seed)
    tok = Tokenizer13a()
    pre, pre_ref = [tok(s) for s in hyps], [tok(s) for s in ref1]  # already split text
    rows = [
        bench_setting("13a, 1 reference", hyps, [ref1], "13a", args.repeats),
        bench_setting("13a, 2 references", hyps, [ref1, ref2], "13a", args.repeats),
        bench_setting("pre-split, 1 reference", pre, [pre_ref], "none", args.repeats),
    ]
    info = machine()
    report(f"corpus BLEU on {args.sentences:,} sentences, sacrebleu {sacrebleu.__version__}, "
           f"Python {info['python']}, {info['processor']}, median of {args.repeats} calls",
           markdown_table(rows), t0,
           args.json, {"benchmark": "corpus-bleu", "sentences": args.sentences,
                      "repeats": args.repeats, "sacrebleu": sacrebleu.__version__,
                      "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
