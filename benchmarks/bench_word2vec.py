"""Benchmark: word2vec, fastText (and GloVe), ours (deepnotes.tasks.embeddings) vs gensim.

What it measures: both libraries train on the same tokenised English corpus with the same
settings, and both sets of vectors are scored by the same code, gensim's ``KeyedVectors``:

- **analogy**: ``evaluate_word_analogies(questions-words.txt)``, the share of the answered
  questions (all four words in the vocabulary) whose answer is the nearest word to
  b - a + c (3CosAdd);
- **WS-353 / SimLex-999**: ``evaluate_word_pairs``, Spearman's ρ between the cosine of each
  pair and human scores (pairs with an unknown word skipped);
- **words/s**: in-vocabulary corpus tokens × epochs / training seconds (gensim's ``train()``
  call; ours from the first to the last step), vocabulary building left out of both.

Our vectors reach gensim through the word2vec text format (``WordVectors.save_word2vec`` ->
``KeyedVectors.load_word2vec_format``), gensim's take the same road, so both are scored on
identical terms. The corpus (``--corpus english``): Austen's novels, the WEB and KJV Bibles
and Shakespeare, one sentence per line (``deepnotes.data.load_documents``), tokenised by
``deepnotes.text.tokenize`` (words and punctuation, lower-cased). Variants: skip-gram and
CBOW with negative sampling and with the hierarchical softmax, fastText's skip-gram; then our
GloVe (its own defaults: window 10, 25 AdaGrad epochs; no gensim peer) and the pretrained
GloVe 6B-50d vectors (trained on 6B tokens: the ceiling, not a peer). Settings follow gensim's
defaults: ``--dim 100 --window 5 --negative 5 --epochs 5 --min-count 5 --sample 1e-3``,
lr 0.025 -> 0.0001, ``--workers 2`` threads for both libraries (ours: lock-free threads, one
torch thread each). Each library trains once (one seed), so a quality difference below about
0.01 (analogy) or 0.03 (ρ) is noise on a 3.8M-token corpus.

Usage::

    python benchmarks/bench_word2vec.py                      # ~15 min on 2 cores
    python benchmarks/bench_word2vec.py --variants sg-ns,cbow-ns --epochs 1 --no-glove
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_common_args, machine, markdown, prepare, report

VARIANTS = {  # name -> (label, gensim keyword arguments)
    "sg-ns": ("skip-gram, negative sampling", {"sg": 1, "hs": 0}),
    "cbow-ns": ("CBOW, negative sampling", {"sg": 0, "hs": 0}),
    "sg-hs": ("skip-gram, hierarchical softmax", {"sg": 1, "hs": 1}),
    "cbow-hs": ("CBOW, hierarchical softmax", {"sg": 0, "hs": 1}),
    "fasttext": ("fastText skip-gram (n-grams 3-6)", {"sg": 1, "hs": 0}),
}


def load_sentences(corpus: str, max_sentences: int | None) -> list[list[str]]:
    """One token list per non-empty line of the corpus (words, lower-cased), as the lessons."""
    from deepnotes.tasks.embeddings import load_sentences as load

    return load(corpus, max_sentences)


def evaluate(kv: Any) -> dict[str, float]:
    """gensim's analogy accuracy and word-pair Spearman ρ of a ``KeyedVectors``."""
    from deepnotes.data.word_vectors import embedding_eval_path

    score, sections = kv.evaluate_word_analogies(str(embedding_eval_path("questions-words")))
    total = next(s for s in sections if s["section"] == "Total accuracy")
    out = {"analogy": score, "answered": len(total["correct"]) + len(total["incorrect"])}
    for name in ("wordsim353", "simlex999"):
        _, spearman, oov = kv.evaluate_word_pairs(str(embedding_eval_path(name)))
        out[name] = float(spearman.statistic)
        out[f"{name}_oov"] = float(oov)
    return out


def through_text(save: Any, folder: Path, name: str) -> Any:
    """Save vectors in the word2vec text format with ``save(path)`` and read them back."""
    from gensim.models import KeyedVectors

    path = folder / f"{name}.txt"
    save(path)
    return KeyedVectors.load_word2vec_format(str(path))


def run_gensim(variant: str, sentences: list[list[str]], args: argparse.Namespace,
               folder: Path) -> tuple[dict[str, float], float, int]:
    from gensim.models import FastText, Word2Vec

    kind = FastText if variant == "fasttext" else Word2Vec
    extra = {"min_n": 3, "max_n": 6, "bucket": args.buckets} if variant == "fasttext" else {}
    flags = VARIANTS[variant][1]
    model = kind(vector_size=args.dim, window=args.window, min_count=args.min_count,
                 sample=args.sample, negative=0 if flags["hs"] else args.negative,
                 workers=args.workers, alpha=0.025, min_alpha=0.0001, seed=args.seed + 1,
                 **flags, **extra)
    model.build_vocab(sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=args.epochs)
    seconds = time.perf_counter() - start
    kv = through_text(lambda p: model.wv.save_word2vec_format(str(p)), folder, f"gensim-{variant}")
    return evaluate(kv), seconds, len(model.wv)


def run_ours(variant: str, corpus: Any, args: argparse.Namespace, folder: Path
             ) -> tuple[dict[str, float], float, int]:
    from deepnotes.tasks.embeddings import train_fasttext, train_word2vec

    common = dict(dim=args.dim, window=args.window, negative=args.negative, sample=args.sample,
                  epochs=args.epochs, lr=0.025, min_lr=0.0001, seed=args.seed,
                  workers=args.workers, batch_size=args.batch_size, progress=args.progress)
    if variant == "fasttext":
        run = train_fasttext(corpus, buckets=args.buckets, **common)
    else:
        flags = VARIANTS[variant][1]
        run = train_word2vec(corpus, architecture="skipgram" if flags["sg"] else "cbow",
                             objective="hierarchical" if flags["hs"] else "negative", **common)
    kv = through_text(run.vectors.save_word2vec, folder, f"ours-{variant}")
    return evaluate(kv), run.seconds, len(run.vectors)


def run_glove(corpus: Any, args: argparse.Namespace, folder: Path) -> tuple[dict, float]:
    from deepnotes.tasks.embeddings import train_glove

    run = train_glove(corpus, dim=args.dim, epochs=args.glove_epochs, seed=args.seed,
                      progress=args.progress)
    return evaluate(through_text(run.vectors.save_word2vec, folder, "ours-glove")), run.seconds


def pretrained_glove(vocabulary: list[str] | None = None) -> dict[str, float]:
    """The pretrained GloVe 6B-50d scores; with ``vocabulary``, only those words are kept, so
    that the same questions and pairs are answered as for the vectors trained here."""
    from gensim.models import KeyedVectors

    from deepnotes.data.word_vectors import load_glove

    wv = load_glove("6B-50d")
    words = wv.words
    if vocabulary is not None:
        words = [w for w in vocabulary if w in wv]
    kv = KeyedVectors(wv.dim)
    kv.add_vectors(words, wv.vectors[[wv.index[w] for w in words]].numpy())
    return evaluate(kv)


def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="english",
                        help="english (austen + bibles + shakespeare) or one corpus name")
    parser.add_argument("--max-sentences", type=int, default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--buckets", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2, help="training threads, both libraries")
    parser.add_argument("--batch-size", type=int, default=512, help="ours: centres per step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true", help="our progress bars")
    parser.add_argument("--no-glove", dest="glove", action="store_false",
                        help="skip our GloVe and the pretrained GloVe rows")
    parser.add_argument("--glove-epochs", type=int, default=25,
                        help="our GloVe's AdaGrad epochs (0: only the pretrained GloVe rows; "
                             "the glove lesson trains the same GloVe)")
    add_common_args(parser, repeats=None, inner=None, warmup=None)
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    device = prepare(args, {"--dim": args.dim, "--window": args.window, "--epochs": args.epochs,
                            "--min-count": args.min_count, "--workers": args.workers,
                            "--batch-size": args.batch_size, "--buckets": args.buckets})
    if device is None:
        return 2
    import gensim

    from deepnotes.tasks.embeddings import build_corpus

    start = time.perf_counter()
    sentences = load_sentences(args.corpus, args.max_sentences)
    corpus = build_corpus(sentences, min_count=args.min_count)
    tokens = len(corpus)
    print(f"corpus: {len(sentences):,} sentences, {tokens:,} tokens in the vocabulary of "
          f"{len(corpus.words):,} words (min_count {args.min_count}), gensim {gensim.__version__}",
          flush=True)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for v in variants:
            g, g_sec, g_vocab = run_gensim(v, sentences, args, folder)
            o, o_sec, o_vocab = run_ours(v, corpus, args, folder)
            assert g_vocab == o_vocab, (g_vocab, o_vocab)
            g_wps, o_wps = tokens * args.epochs / g_sec, tokens * args.epochs / o_sec
            results[v] = {"gensim": {**g, "seconds": g_sec, "words_per_sec": g_wps},
                          "ours": {**o, "seconds": o_sec, "words_per_sec": o_wps}}
            print(f"{v}: {results[v]}", flush=True)
            rows.append([VARIANTS[v][0],
                         f"{fmt(o['analogy'])} / {fmt(g['analogy'])}",
                         f"{fmt(o['wordsim353'])} / {fmt(g['wordsim353'])}",
                         f"{fmt(o['simlex999'])} / {fmt(g['simlex999'])}",
                         f"{o_wps / 1e3:,.0f}k / {g_wps / 1e3:,.0f}k",
                         f"{g_wps / o_wps:.2f}"])
        if args.glove and args.glove_epochs > 0:
            o, o_sec = run_glove(corpus, args, folder)
            results["glove"] = {"ours": {**o, "seconds": o_sec}}
            rows.append([f"GloVe (ours; window 10, {args.glove_epochs} epochs; no gensim peer)",
                         fmt(o["analogy"]), fmt(o["wordsim353"]), fmt(o["simlex999"]),
                         f"{tokens * args.glove_epochs / o_sec / 1e3:,.0f}k (with counting)",
                         "-"])
        if args.glove:
            for label, vocab in [("our vocabulary", corpus.words), ("all 400k words", None)]:
                p = pretrained_glove(vocab)
                results[f"glove-6B-50d, {label}"] = p
                rows.append([f"pretrained GloVe 6B-50d, {label} (reference; "
                             f"{p['answered']:,} questions)", fmt(p["analogy"]),
                             fmt(p["wordsim353"]), fmt(p["simlex999"]), "-", "-"])
    answered = next(iter(results.values()))
    answered = answered.get("ours", answered)
    table = markdown(["vectors", "analogy (ours / gensim)", "WS-353 ρ", "SimLex-999 ρ",
                      "words/s (ours / gensim)", "gensim speed / ours"], rows)
    title = (f"word2vec and fastText vs gensim, {args.corpus} corpus ({tokens:,} tokens, "
             f"{len(corpus.words):,} words), dim {args.dim}, window {args.window}, negative "
             f"{args.negative}, {args.epochs} epochs, sample {args.sample:g}, {args.workers} "
             f"workers; {answered['answered']:,} analogy questions answered")
    report(title, table, start, args.json, {"machine": machine(device), "args": vars(args),
                                            "tokens": tokens, "words": len(corpus.words),
                                            "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
