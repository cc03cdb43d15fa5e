"""Benchmark: subword tokenizers, deepnotes.text (Python) against Hugging Face tokenizers (Rust).

What it measures, on the non-empty lines of Jane Austen's novels (``--lines``, default all
~62,000; the built-in sample when the novels are not installed):

- **WordPiece encoding** with the MiniLM-L6 vocabulary (BERT uncased, 30,522 tokens): ours
  ``[tok.encode(line) for line in lines]`` against HF's ``encode_batch_fast`` (no offsets),
  both with ``[CLS]``/``[SEP]``;
- **byte-level BPE encoding** with an 8,000-token vocabulary (``--vocab``) trained on the same
  text (the vocabulary our trainer learns, which HF's trainer learns too: the script checks
  that the merges are identical and that every line gets the same ids);
- **BPE training** of that vocabulary (pre-tokenising, counting words, learning the merges).

Encoding is timed with a warm word cache (the steady state, after the first batch) and cold
(the cache emptied before each pass: every distinct word is tokenized once per pass), and on
``--random-lines`` lines of random letter strings, where nearly every word is new and the
cache never hits (the worst case for ours). HF runs
once single-threaded (``TOKENIZERS_PARALLELISM=false``, like ours) and once with its default
thread pool. Timed blocks alternate; the table shows medians of ``--repeats`` blocks and the
ratio of our time to HF's single-threaded time (above 1: ours is slower). ``--device`` is
accepted (``run_all.py`` passes it) and ignored.

Usage::

    python benchmarks/bench_tokenizers.py              # ~2 minutes on a quiet core
    python benchmarks/bench_tokenizers.py --lines 20000 --repeats 3 --json tok.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import tokenizers
import torch
from _common import check_sizes, compare_many, machine, markdown, report
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from deepnotes.data.corpora import load_documents
from deepnotes.errors import DataMissingError
from deepnotes.text import BPETokenizer, load_tokenizer
from deepnotes.text.tokenizer_io import minilm_dir

CPU = torch.device("cpu")


def austen_lines(limit: int | None) -> tuple[str, list[str]]:
    """The non-empty Austen lines (or the sample's), at most ``limit``."""
    try:
        name, docs = "Austen", load_documents("austen")
    except DataMissingError:
        name, docs = "the built-in sample", load_documents("sample")
    lines = [d for d in docs if d.strip()]
    return name, lines[:limit] if limit else lines


def single_threaded(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with HF's thread pool switched off (it reads the variable on every call)."""
    def run() -> Any:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        try:
            return fn()
        finally:
            os.environ["TOKENIZERS_PARALLELISM"] = "true"
    return run


def train_hf(lines: list[str], vocab: int) -> HFTokenizer:
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return tok


def bench_encoding(name: str, ours, hf: HFTokenizer, lines: list[str], repeats: int,
                   clear_hf: Callable[[], None], unique: bool = False) -> list[dict[str, Any]]:
    ids = [ours.encode(t) for t in lines]
    if ids != [e.ids for e in hf.encode_batch_fast(lines)]:
        raise SystemExit(f"{name}: ours and HF give different ids")
    tokens = sum(map(len, ids))

    def ours_pass(cold: bool) -> Callable[[], Any]:
        def run() -> Any:
            if cold:
                ours.model._cache.clear()
            return [ours.encode(t) for t in lines]
        return run

    def hf_pass(cold: bool) -> Callable[[], Any]:
        def run() -> Any:
            if cold:
                clear_hf()
            return hf.encode_batch_fast(lines)
        return run

    rows = []
    for cache in ("warm", "cold") if not unique else ("cold",):
        cold = cache == "cold"
        med = compare_many({"ours": ours_pass(cold), "hf1": single_threaded(hf_pass(cold)),
                            "hf": hf_pass(cold)}, CPU, repeats=repeats, inner=1, warmup=1)
        what = "random words, each new" if unique else f"{cache} cache"
        rows.append({"work": f"{name} encode, {what}", "lines": len(lines),
                     "tokens": tokens, "ours_s": med["ours"], "hf1_s": med["hf1"],
                     "hf_s": med["hf"], "ratio": med["ours"] / med["hf1"]})
    return rows


def random_word_lines(n: int, seed: int = 0) -> list[str]:
    """``n`` lines of 10 random lower-case "words" (4-12 letters): nearly every word is new, so
    the word cache never hits: the worst case for ours."""
    import random

    rng = random.Random(seed)
    return [" ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                             for _ in range(rng.randint(4, 12))) for _ in range(10))
            for _ in range(n)]


def bench_training(lines: list[str], vocab: int, repeats: int) -> dict[str, Any]:
    med = compare_many({"ours": lambda: BPETokenizer.train(lines, vocab_size=vocab),
                        "hf1": single_threaded(lambda: train_hf(lines, vocab)),
                        "hf": lambda: train_hf(lines, vocab)},
                       CPU, repeats=repeats, inner=1, warmup=0)
    return {"work": f"byte-level BPE training, {vocab:,} tokens", "lines": len(lines),
            "tokens": None, "ours_s": med["ours"], "hf1_s": med["hf1"], "hf_s": med["hf"],
            "ratio": med["ours"] / med["hf1"]}


def speed(row: dict[str, Any], key: str) -> str:
    seconds = row[key]
    if row["tokens"] is None:
        return f"{seconds:.2f} s"
    lines_per_s, tokens_per_s = row["lines"] / seconds, row["tokens"] / seconds
    return f"{lines_per_s / 1e3:,.1f}k lines/s, {tokens_per_s / 1e6:.2f}M tok/s"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = ["work", "ours", "HF, 1 thread", "HF, 2 threads", "ours/HF (1 thread)"]
    return markdown(header, [[r["work"], speed(r, "ours_s"), speed(r, "hf1_s"),
                              speed(r, "hf_s"), f"{r['ratio']:.2f}"] for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=0, help="lines of text (0: all)")
    parser.add_argument("--random-lines", type=int, default=20000,
                        help="lines of 10 random words for the no-cache-hit rows")
    parser.add_argument("--vocab", type=int, default=8000, help="BPE vocabulary size")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per measurement")
    parser.add_argument("--train-repeats", type=int, default=3, help="timed trainings each")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="ignored")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not check_sizes({"--repeats": args.repeats, "--train-repeats": args.train_repeats,
                        "--random-lines": args.random_lines}):
        return 2
    if args.vocab <= 256 or args.lines < 0:
        print(f"--vocab must exceed the 256 byte symbols (got {args.vocab}) and --lines be >= 0 "
              f"(got {args.lines}).", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    corpus, lines = austen_lines(args.lines or None)

    wordpiece = load_tokenizer("minilm")
    hf_wp = HFTokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    hf_wp.no_truncation()
    hf_wp.no_padding()
    rows = bench_encoding("WordPiece (MiniLM)", wordpiece, hf_wp, lines, args.repeats,
                          lambda: None)  # HF's WordPiece keeps no cache
    random_lines = random_word_lines(args.random_lines)
    rows += bench_encoding("WordPiece (MiniLM)", wordpiece, hf_wp, random_lines, args.repeats,
                           lambda: None, unique=True)

    bpe = BPETokenizer.train(lines, vocab_size=args.vocab)
    hf_bpe = train_hf(lines, args.vocab)
    hf_merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
                 for m in json.loads(hf_bpe.to_str())["model"]["merges"]]
    if hf_merges != bpe.model.merges:
        raise SystemExit("our trainer and HF's learned different merges")
    bpe_name = f"byte-level BPE ({args.vocab:,})"
    rows += bench_encoding(bpe_name, bpe, hf_bpe, lines, args.repeats, hf_bpe.model._clear_cache)
    rows += bench_encoding(bpe_name, bpe, hf_bpe, random_lines, args.repeats,
                           hf_bpe.model._clear_cache, unique=True)
    rows.append(bench_training(lines, args.vocab, args.train_repeats))
    info = machine()
    report(f"subword tokenizers on {len(lines):,} lines of {corpus} "
           f"({sum(map(len, lines)) / 1e6:.1f}M chars), tokenizers {tokenizers.__version__}, "
           f"Python {info['python']}, {info['processor']}, median of {args.repeats} passes "
           f"({args.train_repeats} trainings)", markdown_table(rows), t0, args.json,
           {"benchmark": "tokenizers", "lines": len(lines), "corpus": corpus,
            "vocab": args.vocab, "repeats": args.repeats, "tokenizers": tokenizers.__version__,
            "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
