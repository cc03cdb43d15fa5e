"""Character-level RNN language models: RNN, GRU, LSTM and a 2-layer GRU against d2l's numbers.

Claim (notes R8; d2l 9.5-10.3): a recurrent network that reads characters one by one predicts the
next character far better than counting: on a text the size of d2l's The Time Machine the
d2l book reaches validation perplexity RNN ≈ 7.2, GRU ≈ 6.6, LSTM ≈ 6.7 and 2-layer GRU ≈ 6.1
(H = 32, 50-100 epochs over 10,000 windows of 32 characters: 16-32 M training tokens). Our
models (H = 256, Adam with cosine decay, gradient clipping at norm 1, truncated BPTT over
sequential partitions, 8 epochs: about 1.2 M training tokens) aim lower at less training. The
smoothed character trigram (R2) is the counting baseline in the same table (its ε chosen on the
validation text, which flatters it). Perplexity is exp(mean NLL) (R8): 1 is perfect, 28 (the
vocabulary) a uniform guess. We report it two ways: ``val_ppl`` reads the validation text in
order, carrying the state (every prediction sees all earlier text); ``val_ppl_windowed`` scores
windows of 35 characters from a zero state, as d2l's validation does (harder: early positions
have no context). Measured (full mode, 4.5-7 min of training on one shared CPU core): RNN 4.57,
GRU 3.79, LSTM 4.16, 2-layer GRU 3.52 (windowed 4.99, 4.21, 4.52, 3.92); char trigram 6.24.

Data: full mode, the first 170,580 characters (The Time Machine's length) of the Jane Austen novels
(janeaustenr), preprocessed as d2l does (lower-case letters and spaces: 26 letters + space +
``<unk>`` = 28 tokens), 90% training / 10% validation (the last 17,058 characters); quick mode the
package's sample text (chapters 1-2 of Pride and Prejudice, 8k characters) with H = 64.
The best model is saved with its vocabulary, so ``deepnotes generate RUN_FOLDER "time
traveller"`` continues any prefix.

Notes: R4, R5, R6, R7, R8, O11.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepnotes.figures import plot_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.runtime import resolve_device
from deepnotes.tasks.lm import (
    TIME_MACHINE_CHARS,
    char_corpus,
    generate,
    load_text,
    ngram_baseline,
    perplexity,
    save_lm,
    train_lm,
)

NAME = "rnn-lm"
SUMMARY = "char-level RNN/GRU/LSTM/2-layer GRU LMs: val perplexity vs d2l's and a char trigram (R8)"
CONCEPTS = ("R4", "R5", "R6", "R7", "R8", "O11")

# model key -> (label, cell, layers, d2l book perplexity, d2l epochs over 10,000 windows of 32)
MODELS = {
    "rnn": ("RNN", "rnn", 1, 7.2, 100),
    "gru": ("GRU", "gru", 1, 6.6, 50),
    "lstm": ("LSTM", "lstm", 1, 6.7, 50),
    "gru_2layer": ("2-layer GRU", "gru", 2, 6.1, 100),
}
D2L_WINDOWS, D2L_STEPS, D2L_HIDDEN = 10_000, 32, 32


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "sample", "hidden": 64, "epochs": 12, "lr": 0.02}  # 8k chars (tests)

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    chars: int = TIME_MACHINE_CHARS  # characters of the corpus used (d2l's Time Machine length)
    val_fraction: float = 0.1  # the last fraction of the characters is the validation text
    models: tuple[str, ...] = ("rnn", "gru", "lstm", "gru_2layer")  # which of MODELS to train
    hidden: int = 256  # H, hidden units per layer
    embedding: int = 0  # 0: one-hot input as in d2l; > 0: a learned embedding of this width
    dropout: float = 0.0  # between layers and before the output layer
    epochs: int = 8  # passes over the training text
    batch_size: int = 32  # B rows of text per minibatch
    num_steps: int = 35  # T characters per row (the BPTT length)
    sampling: str = "sequential"  # sequential (state carried, detached) | random (fresh state)
    optimizer: str = "adam"  # any deepnotes.optim name
    lr: float = 5e-3  # learning rate (decayed to 0 along a cosine)
    grad_clip: float = 1.0  # clip the gradient norm (O11)
    prefix: str = "time traveller"  # prefix for the generated samples
    sample_chars: int = 60  # characters generated per sample
    fused: bool = True  # torch's recurrent kernels (False: our step-by-step loops)
    device: str = "cpu"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    raw, source = load_text(cfg.corpus, f"the first {cfg.chars:,} characters")
    ids, vocab, text = char_corpus(raw, max_chars=cfg.chars)
    cut = int(len(ids) * (1 - cfg.val_fraction))
    train_ids, val_ids = ids[:cut], ids[cut:]
    s = {"hidden": cfg.hidden, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr}
    device = resolve_device(cfg.device)
    metrics: dict[str, float] = {"vocab_size": float(len(vocab)), "train_chars": float(cut),
                                 "val_chars": float(len(ids) - cut)}
    counts = ngram_baseline(list(text[:cut]), list(text[cut:]))
    metrics.update(counts)
    rows, history, series, timed, samples, runs = [], [], {}, {}, [], {}
    for key in cfg.models:
        label, cell, layers, d2l_ppl, d2l_epochs = MODELS[key]
        model = create("rnn-lm", vocab_size=len(vocab), cell=cell, hidden=s["hidden"],
                       num_layers=layers, embedding=cfg.embedding, dropout=cfg.dropout,
                       fused=cfg.fused).to(device)
        r = train_lm(model, train_ids, val_ids, epochs=s["epochs"], batch_size=s["batch_size"],
                     num_steps=cfg.num_steps, sampling=cfg.sampling, optimizer=cfg.optimizer,
                     lr=s["lr"], grad_clip=cfg.grad_clip, cosine=True, seed=cfg.seed,
                     progress=cfg.progress, label=label)
        runs[key] = r
        windowed = perplexity(model, val_ids, cfg.num_steps, carry_state=False)
        params = sum(p.numel() for p in model.parameters())
        tokens = r.steps * s["batch_size"] * cfg.num_steps
        metrics.update({f"{key}_val_ppl": r.val_ppl, f"{key}_val_ppl_windowed": windowed,
                        f"{key}_train_ppl": r.history[-1]["train_ppl"],
                        f"{key}_seconds": r.seconds, f"{key}_params": float(params),
                        f"{key}_train_tokens": float(tokens)})
        rows.append({"model": label, "hidden": s["hidden"], "layers": layers,
                     "params": params, "epochs": len(r.history), "train_tokens": tokens,
                     "train_seconds": round(r.seconds, 1), "val_ppl": round(r.val_ppl, 3),
                     "val_ppl_windowed": round(windowed, 3), "d2l_book_ppl": d2l_ppl,
                     "d2l_hidden": D2L_HIDDEN,
                     "d2l_train_tokens": d2l_epochs * D2L_WINDOWS * D2L_STEPS})
        history += r.history
        series[label] = ([h["epoch"] for h in r.history], [h["val_ppl"] for h in r.history])
        timed[label] = ([h["seconds"] for h in r.history], [h["val_ppl"] for h in r.history])
        for temperature in (0.0, 0.7):
            samples.append({"model": label, "temperature": temperature,
                            "text": generate(model, vocab, cfg.prefix, cfg.sample_chars,
                                             temperature=temperature, seed=cfg.seed)})
    for name, label in (("unigram", "char unigram"), ("bigram", "char bigram"),
                        ("trigram", "char trigram (notes' ε3: unigram fallback)"),
                        ("trigram_bigram_backoff", "char trigram (bigram fallback)")):
        rows.append({"model": label, "val_ppl": round(counts[f"{name}_val_ppl"], 3)})
    best = min(runs, key=lambda k: runs[k].val_ppl)
    checkpoint = save_lm(runs[best].model, vocab, out_dir / "checkpoint",
                         extra={"corpus": source, "chars": len(text)})
    metrics["total_train_seconds"] = sum(r.seconds for r in runs.values())

    refs: dict = {f"d2l book {MODELS[k][0]} {MODELS[k][3]}": (MODELS[k][3], MODELS[k][0])
                  for k in cfg.models}
    refs["char trigram"] = counts["trigram_bigram_backoff_val_ppl"]
    figures = [
        plot_curves(series, out_dir / "rnn_lm_val_ppl.png", "epoch", "validation perplexity",
                    f"Character LMs on {cfg.corpus}", refs=refs),
        plot_curves(timed, out_dir / "rnn_lm_val_ppl_time.png", "training seconds",
                    "validation perplexity", "Perplexity against training time"),
    ]
    got = ", ".join(f"{MODELS[k][0]} {metrics[f'{k}_val_ppl']:.2f} "
                    f"({metrics[f'{k}_val_ppl_windowed']:.2f} windowed)" for k in cfg.models)
    claim = (f"On {source} ({len(text):,} chars, d2l preprocessing, {1 - cfg.val_fraction:.0%}/"
             f"{cfg.val_fraction:.0%} split), {s['epochs']} epochs (H={s['hidden']}, "
             f"{metrics['total_train_seconds']:.0f} s of training in all) give validation "
             f"perplexity {got}; d2l's book: RNN 7.2, GRU 6.6, LSTM 6.7, 2-layer GRU 6.1 after "
             f"16-32 M training tokens; char trigram {counts['trigram_bigram_backoff_val_ppl']:.2f}, "
             f"unigram {counts['unigram_val_ppl']:.2f}.")
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=history, claim=claim,
                        tables={"perplexity": rows, "samples": samples}, checkpoint=checkpoint)
