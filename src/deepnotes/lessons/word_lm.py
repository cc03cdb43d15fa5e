"""A word-level LSTM language model against smoothed word n-grams.

Claim (notes R2, R8; d2l 9.3, 9.5): the same recurrent LM that reads characters can read words —
the vocabulary grows from 28 symbols to thousands, rare words become ``<unk>`` (R1), and an
embedding replaces the one-hot input. Its validation perplexity beats the Laplace-smoothed word
unigram, bigram and trigram models (R2) fitted to the same training words, because its state
carries more than the last two words and its embeddings share strength between similar words.
Perplexity is exp(mean NLL) over the validation words (R8): the vocabulary size is a uniform guess.
Measured (full mode, 235 s of training on one shared CPU core): V = 3,666, validation
perplexity 93.6 (102.6 in windows from a zero state) against 134.7 for the best smoothed word
n-gram (trigram falling back on the bigram), 145.1 bigram, 373.0 unigram. In quick mode (the
first 30,000 words, a smaller model, 8 epochs) it beats the best n-gram too: 93.8 and 95.1 for
seeds 0 and 1 against 110.9.

Data: full mode, the first 200,000 word tokens (words and punctuation marks, lower-cased) of the
Jane Austen novels (janeaustenr), words seen fewer than 3 times → ``<unk>``, the last 10% as
validation text; quick mode the first 30,000 words with a small model. The model is saved with its vocabulary, so ``deepnotes generate RUN_FOLDER
"it is a truth"`` continues a prefix word by word.

Notes: R1, R2, R5, R8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepnotes.figures import plot_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.runtime import resolve_device
from deepnotes.tasks.lm import (
    generate,
    load_text,
    ngram_baseline,
    perplexity,
    save_lm,
    train_lm,
    word_corpus,
)

NAME = "word-lm"
SUMMARY = "word-level LSTM LM on Austen vs Laplace-smoothed word n-grams: perplexity (R8)"
CONCEPTS = ("R1", "R2", "R5", "R8")


@dataclass
class Config(LessonConfig):
    # quick: the first 30,000 words of Austen, H=64, embedding 32, 8 epochs (tests); the
    # 8.8 KB sample text is too short for a word LM to beat the bigram
    QUICK = {"max_tokens": 30_000, "hidden": 64, "embedding": 32, "epochs": 8, "lr": 0.01,
             "batch_size": 16, "num_steps": 20}

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    max_tokens: int = 200_000  # word tokens of the corpus used
    min_freq: int = 3  # rarer words become <unk> (R1)
    val_fraction: float = 0.1  # the last fraction of the tokens is the validation text
    cell: str = "lstm"  # rnn | gru | lstm
    hidden: int = 256  # H, hidden units per layer
    embedding: int = 128  # word embedding width
    num_layers: int = 1  # stacked recurrent layers
    dropout: float = 0.3  # between layers and before the output layer
    epochs: int = 6  # passes over the training words
    batch_size: int = 32  # B rows of text per minibatch
    num_steps: int = 35  # T words per row (the BPTT length)
    lr: float = 3e-3  # Adam learning rate (decayed to 0 along a cosine)
    grad_clip: float = 1.0  # clip the gradient norm (O11)
    prefix: str = "it is a truth universally acknowledged"  # prefix of the generated samples
    sample_words: int = 25  # words generated per sample
    fused: bool = True  # torch's recurrent kernels (False: our step-by-step loops)
    device: str = "cpu"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    raw, source = load_text(cfg.corpus, f"the first {cfg.max_tokens:,} words")
    sizes = {"hidden": cfg.hidden, "embedding": cfg.embedding, "epochs": cfg.epochs,
             "min_freq": cfg.min_freq, "lr": cfg.lr, "batch_size": cfg.batch_size,
             "num_steps": cfg.num_steps}
    ids, vocab, tokens = word_corpus(raw, max_tokens=cfg.max_tokens, min_freq=sizes["min_freq"])
    cut = int(len(ids) * (1 - cfg.val_fraction))
    train_ids, val_ids = ids[:cut], ids[cut:]
    unk = vocab.to_indices("<unk>")
    metrics: dict[str, float] = {
        "vocab_size": float(len(vocab)), "train_tokens": float(cut),
        "val_tokens": float(len(ids) - cut),
        "val_unk_rate": float((val_ids == unk).float().mean()),
    }
    # the n-grams see the same <unk>-mapped words as the network
    mapped = vocab.to_tokens(ids.tolist())
    counts = ngram_baseline(mapped[:cut], mapped[cut:])
    metrics.update(counts)
    device = resolve_device(cfg.device)
    model = create("rnn-lm", vocab_size=len(vocab), cell=cfg.cell, hidden=sizes["hidden"],
                   num_layers=cfg.num_layers, embedding=sizes["embedding"],
                   dropout=cfg.dropout, fused=cfg.fused).to(device)
    r = train_lm(model, train_ids, val_ids, epochs=sizes["epochs"],
                 batch_size=sizes["batch_size"], num_steps=sizes["num_steps"],
                 lr=sizes["lr"], grad_clip=cfg.grad_clip, cosine=True, seed=cfg.seed,
                 progress=cfg.progress, label=f"word {cfg.cell.upper()}")
    windowed = perplexity(model, val_ids, sizes["num_steps"], carry_state=False)
    samples = [{"temperature": t, "text": generate(model, vocab, cfg.prefix, cfg.sample_words,
                                                   temperature=t, seed=cfg.seed, kind="none",
                                                   tokens="word")}
               for t in (0.0, 0.8)]
    metrics.update({"val_ppl": r.val_ppl, "val_ppl_windowed": windowed,
                    "train_ppl": r.history[-1]["train_ppl"], "train_seconds": r.seconds,
                    "params": float(sum(p.numel() for p in model.parameters()))})
    rows = [{"model": f"word {cfg.cell.upper()} (H={sizes['hidden']}, E={sizes['embedding']})",
             "val_ppl": round(r.val_ppl, 2), "val_ppl_windowed": round(windowed, 2),
             "train_seconds": round(r.seconds, 1)}]
    rows += [{"model": f"word {n} (Laplace, ε tuned)", "val_ppl": round(counts[f"{n}_val_ppl"], 2)}
             for n in ("unigram", "bigram", "trigram", "trigram_bigram_backoff")]
    checkpoint = save_lm(model, vocab, out_dir / "checkpoint", kind="none", tokens="word",
                         extra={"corpus": source, "words": len(tokens)})
    series = {"LSTM": ([h["epoch"] for h in r.history], [h["val_ppl"] for h in r.history])}
    refs = {f"word {n}": counts[f"{n}_val_ppl"] for n in ("unigram", "bigram")}
    figure = plot_curves(series, out_dir / "word_lm_val_ppl.png", "epoch", "validation perplexity",
                         f"Word LM on {cfg.corpus}", refs=refs)
    best_ngram = min(counts[f"{n}_val_ppl"] for n in ("unigram", "bigram", "trigram",
                                                       "trigram_bigram_backoff"))
    metrics["best_ngram_val_ppl"] = best_ngram
    claim = (f"On {source} (V = {len(vocab):,}, {metrics['val_unk_rate']:.1%} <unk> in validation) "
             f"the word {cfg.cell.upper()} reaches validation perplexity {r.val_ppl:.1f} "
             f"({windowed:.1f} in windows from a zero state) against {best_ngram:.1f} for the best "
             f"smoothed word n-gram and {counts['unigram_val_ppl']:.1f} for the unigram.")
    return LessonResult(name=NAME, metrics=metrics, figures=[figure], history=r.history,
                        claim=claim, tables={"perplexity": rows, "samples": samples},
                        checkpoint=checkpoint)
