"""GPT vs LSTM: two character language models given the same training time (P7, R6).

Claim (notes P7 vs R6): self-attention reads a whole window at once where a recurrent network
steps through it character by character, so on the same CPU time a Transformer decoder sees
more text per second; the question this lesson measures is whether that buys a lower
perplexity on held-out text at an equal time budget, or whether the LSTM, which carries its
state over the whole text, keeps the edge on a small corpus.

Data: ``rnn-lm``'s text (the first 170,580 characters of the Austen novels, d2l's
preprocessing: 26 letters, space and ``<unk>``): the first 80 % train, the next 10 % validate,
the last 10 % (``rnn-lm``'s validation text) test. Each model ends with the weights of its
best validation point (the LSTM is checked after every epoch, the GPT ten times), as a user
would keep the best checkpoint: at an equal time budget the faster model makes many more
passes over 137k training characters and would otherwise be judged after over-fitting. No
other setting is tuned.
Models: ``rnn-lm``'s LSTM (H = 256, one-hot input, Adam 5e-3 with cosine decay, clipping at 1,
truncated BPTT over 35 characters, batch 32) and a GPT (4 layers × 4 heads × 128, context 64,
dropout 0.1, AdamW 1e-3 with warm-up and cosine, batch 32). The budget is wall time: each
model's speed is measured on 20 updates of a throw-away copy (after 20 to warm up), and its
number of updates set to fill ``seconds``; the actual training times (the GPT's validation
estimates left out) are reported.

Perplexity is reported two ways each: with the context each model can use (the LSTM reads
the test text in order carrying its state; the GPT slides its 64-character window by 32,
so each character is predicted from the 33-64 before it) and, the same for both, in separate
64-character windows from no context.

Quick mode (tests): the built-in sample text (8k characters), small models, 4 s each.

Notes: P7, R6, A11.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.errors import ConfigError
from deepnotes.figures import plot_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import perplexity
from deepnotes.models import create
from deepnotes.runtime import resolve_device
from deepnotes.tasks.gpt import full_loss, sliding_loss, train_gpt
from deepnotes.tasks.lm import TIME_MACHINE_CHARS, char_corpus, load_text, train_lm

NAME = "gpt-vs-lstm"
SUMMARY = ("a GPT and an LSTM character LM given the same CPU time on rnn-lm's Austen text: "
           "held-out perplexity with and without context (P7)")
CONCEPTS = ("P7", "R6", "A11")

PROBE = 20  # updates timed to set each model's budget


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "sample", "seconds": 4.0, "hidden": 64, "n_layer": 2, "n_embd": 64,
             "n_head": 2, "block_size": 32, "window": 32, "dropout": 0.0}

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    chars: int = TIME_MACHINE_CHARS  # characters used (rnn-lm's)
    val_fraction: float = 0.1  # the last fraction tests, the one before validates
    seconds: float = 240.0  # training time of each model
    hidden: int = 256  # the LSTM's H
    lstm_lr: float = 5e-3
    num_steps: int = 35  # the LSTM's BPTT length
    n_layer: int = 4  # the GPT's blocks
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64  # the GPT's context
    dropout: float = 0.1  # the GPT's (153k training characters overfit without it)
    gpt_lr: float = 1e-3
    batch_size: int = 32  # both
    window: int = 64  # characters of the no-context windows (both models)
    device: str = "cpu"
    progress: bool | None = None


def _per_update(seconds_of) -> float:
    """Seconds per update: ``seconds_of(n)`` trains a throw-away model for n updates and
    returns its training time; the first round only warms up (threads, kernels, caches)."""
    seconds_of(PROBE)
    return seconds_of(PROBE) / PROBE


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if cfg.seconds <= 0:
        raise ConfigError(f"seconds must be > 0, got {cfg.seconds}")
    if cfg.window > cfg.block_size:
        raise ConfigError(f"window={cfg.window} must be at most block_size={cfg.block_size}: "
                          f"both models are scored in windows the GPT can read")
    device = resolve_device(cfg.device)
    raw, source = load_text(cfg.corpus, f"the first {cfg.chars:,} characters")
    ids, vocab, text = char_corpus(raw, max_chars=cfg.chars)
    cut = int(len(ids) * (1 - cfg.val_fraction))
    cut0 = int(len(ids) * (1 - 2 * cfg.val_fraction))
    train, val, held = ids[:cut0], ids[cut0:cut], ids[cut:]
    V = len(vocab)

    def lstm():
        torch.manual_seed(cfg.seed)
        return create("rnn-lm", vocab_size=V, cell="lstm", hidden=cfg.hidden).to(device)

    def gpt():
        torch.manual_seed(cfg.seed)
        return create("gpt", vocab_size=V, block_size=cfg.block_size, n_layer=cfg.n_layer,
                      n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout)

    def fit_lstm(model, steps, check=False):
        return train_lm(model, train, val if check else None, epochs=10_000, max_steps=steps,
                        batch_size=cfg.batch_size, num_steps=cfg.num_steps, lr=cfg.lstm_lr,
                        grad_clip=1.0, cosine=True, seed=cfg.seed, progress=False,
                        keep_best=check)

    def fit_gpt(model, steps, progress=False, log=None, check=False):
        return train_gpt(model, train, val, max_iters=steps, batch_size=cfg.batch_size,
                         lr=cfg.gpt_lr, min_lr=cfg.gpt_lr / 10,
                         warmup_iters=min(100, steps // 10),
                         eval_interval=max(1, steps // 10) if check else steps,
                         eval_iters=20 if check else 1, seed=cfg.seed, device=device,
                         progress=progress, log=log, keep_best=check)

    lstm_step = _per_update(lambda n: fit_lstm(lstm(), n).seconds)
    gpt_step = _per_update(lambda n: fit_gpt(gpt(), n).train_seconds)
    lstm_steps = max(PROBE, round(cfg.seconds / lstm_step))
    gpt_steps = max(PROBE, round(cfg.seconds / gpt_step))

    m_lstm = lstm()
    r_lstm = fit_lstm(m_lstm, lstm_steps, check=True)
    m_gpt = gpt()
    lines: list[str] = []
    r_gpt = fit_gpt(m_gpt, gpt_steps, cfg.progress, lines.append, check=True)

    gpt_seconds = r_gpt.train_seconds  # its validation estimates left out, like the LSTM's
    lstm_ctx = perplexity(m_lstm, held, cfg.num_steps, carry_state=True)
    lstm_win = perplexity(m_lstm, held, cfg.window, carry_state=False)
    gpt_ctx = math.exp(sliding_loss(m_gpt, held, cfg.block_size, device=device))
    gpt_win = math.exp(full_loss(m_gpt, held, cfg.window, device=device))
    params = {"lstm": sum(p.numel() for p in m_lstm.parameters()),
              "gpt": sum(p.numel() for p in m_gpt.parameters())}
    tokens = {"lstm": r_lstm.steps * cfg.batch_size * cfg.num_steps, "gpt": r_gpt.tokens}
    metrics = {"lstm_ppl": lstm_ctx, "lstm_ppl_windowed": lstm_win, "gpt_ppl": gpt_ctx,
               "gpt_ppl_windowed": gpt_win, "lstm_seconds": r_lstm.seconds,
               "gpt_seconds": gpt_seconds, "lstm_updates": float(r_lstm.steps),
               "gpt_updates": float(r_gpt.iters), "lstm_params": float(params["lstm"]),
               "gpt_params": float(params["gpt"]), "lstm_train_tokens": float(tokens["lstm"]),
               "gpt_train_tokens": float(tokens["gpt"]),
               "lstm_tokens_per_second": tokens["lstm"] / r_lstm.seconds,
               "gpt_tokens_per_second": tokens["gpt"] / gpt_seconds,
               "lstm_best_epoch": float(r_lstm.best_epoch),
               "lstm_epochs": float(len(r_lstm.history)),
               "gpt_best_update": float(r_gpt.best_iter),
               "vocab_size": float(V), "train_chars": float(len(train)),
               "val_chars": float(len(val)), "test_chars": float(len(held))}
    rows = [{"model": f"LSTM H={cfg.hidden}", "params": params["lstm"],
             "updates": r_lstm.steps, "train_tokens": tokens["lstm"],
             "train_seconds": round(r_lstm.seconds, 1),
             "ppl_with_context": round(lstm_ctx, 3),
             f"ppl_{cfg.window}_char_windows": round(lstm_win, 3)},
            {"model": f"GPT {cfg.n_layer}×{cfg.n_head}×{cfg.n_embd}, context {cfg.block_size}",
             "params": params["gpt"], "updates": r_gpt.iters, "train_tokens": tokens["gpt"],
             "train_seconds": round(gpt_seconds, 1), "ppl_with_context": round(gpt_ctx, 3),
             f"ppl_{cfg.window}_char_windows": round(gpt_win, 3)}]
    its = [h["iter"] for h in r_gpt.history]
    figures = [plot_curves(
        {"GPT (estimate on 20 validation batches)": ([h["seconds"] for h in r_gpt.history],
                                                  [math.exp(h["val_loss"])
                                                   for h in r_gpt.history])},
        out_dir / "gpt_vs_lstm.png", "seconds (validation estimates included)",
        "validation perplexity",
        "GPT against time; the LSTM's best on validation",
        refs={f"LSTM best epoch: {min(h['val_ppl'] for h in r_lstm.history if 'val_ppl' in h):.2f}":
              min(h["val_ppl"] for h in r_lstm.history if "val_ppl" in h)})] if its else []
    better = "GPT" if gpt_ctx < lstm_ctx else "LSTM"
    claim = (f"On {source} ({len(text):,} characters, {V} symbols), given about "
             f"{cfg.seconds:.0f} s each, the LSTM ({params['lstm']:,} parameters) read "
             f"{tokens['lstm']:,} characters in {r_lstm.seconds:.0f} s and the GPT "
             f"({params['gpt']:,}) {tokens['gpt']:,} in {gpt_seconds:.0f} s; with the weights "
             f"of their best validation point (LSTM epoch {r_lstm.best_epoch} of "
             f"{len(r_lstm.history)}, GPT update {r_gpt.best_iter:,} of {r_gpt.iters:,}), "
             f"test perplexity with context LSTM {lstm_ctx:.3f} vs GPT {gpt_ctx:.3f} ({better} "
             f"lower), in {cfg.window}-character windows from no context LSTM {lstm_win:.3f} "
             f"vs GPT {gpt_win:.3f}.")
    history = [{"model": "gpt", **h} for h in r_gpt.history] + r_lstm.history
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=history,
                        claim=claim, tables={"perplexity": rows,
                                             "log": [{"line": x} for x in lines]})
