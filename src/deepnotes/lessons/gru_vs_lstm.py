"""GRU against LSTM (and the plain RNN): same budget, perplexity, time, and memory over a gap.

Claim (notes R5, R6; d2l 10.1-10.2): gates let a recurrent network keep information for many
steps, which the plain (Elman) RNN, whose gradient through time shrinks step by step, does not
learn to do. The GRU does it with two gates and 3 weight blocks, the LSTM with three gates, a
memory cell and 4 blocks, so the GRU has 3/4 of the LSTM's recurrent parameters (its time per
step depends on the kernel: torch's CPU GRU is not faster than its LSTM, we measure it); on a
language model the two end close to each other. Torch's initialisation starts the LSTM's forget
gate half closed, and in the memory probe's budget it does not learn to remember until the gate
starts open.

Two experiments with the same number of steps for every cell:

1. Character language model (d2l's preprocessing), validation perplexity per epoch against
   steps and against seconds.
2. Memory probe: sequences ``k f_1 … f_G ? k`` — a key k (one of 4 symbols), G random filler
   symbols, a marker, and the key again; the loss is on the recalled key only, so the network
   must carry k across G steps (chance: 1/4). Also an LSTM whose forget gate starts open
   (``forget_bias`` = 2 added to its bias: f_t ≈ σ(2) ≈ 0.88 instead of torch's ≈ 0.5, with
   which a memory halves every step at first).

Measured (full mode, H=128, 1,370 steps, about 2 minutes on one shared CPU core): validation
perplexity GRU 4.06 (19 ms/step), LSTM 4.29 (17 ms/step), RNN 4.86 (8 ms/step); the probe
(400 steps) is recalled by the RNN and the default LSTM only at gap 5, by the open-forget-gate
LSTM up to gap 15, by the GRU up to gap 50.

Data: full mode, the first 170,580 characters of the Jane Austen novels (janeaustenr) and gaps
(5, 15, 30, 50); quick mode the package's sample text (Pride and Prejudice ch. 1-2) and gap 15.

Notes: R4, R5, R6, R7.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.figures import plot_curves
from deepnotes.functional import clip_grad_norm_
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import create_optimizer
from deepnotes.tasks.lm import TIME_MACHINE_CHARS, char_corpus, load_text, train_lm

NAME = "gru-vs-lstm"
SUMMARY = "GRU vs LSTM vs RNN: same-budget LM perplexity and time, memory across a gap (R5, R6)"
CONCEPTS = ("R4", "R5", "R6", "R7")
CELLS = ("rnn", "gru", "lstm")
KEYS, FILLERS = 4, 4  # probe symbols: keys 0..3, fillers 4..7, marker 8


@dataclass
class Config(LessonConfig):
    # quick: the sample text, H=64, 10 epochs; probe gap 15, 150 steps (tests)
    QUICK = {"corpus": "sample", "hidden": 64, "lr": 0.02, "gaps": (15,), "probe_steps": 150}

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    chars: int = TIME_MACHINE_CHARS  # characters used (d2l's Time Machine length)
    hidden: int = 128  # H of the language models
    epochs: int = 10  # LM epochs (the same for every cell)
    batch_size: int = 32  # B rows of text per step
    num_steps: int = 35  # T, the BPTT length
    lr: float = 5e-3  # Adam learning rate (cosine decay)
    gaps: tuple[int, ...] = (5, 15, 30, 50)  # probe gaps G (full mode)
    probe_hidden: int = 32  # H of the probe networks
    probe_steps: int = 400  # Adam steps per probe network
    probe_batch: int = 64  # sequences per probe step
    probe_lr: float = 0.01  # probe learning rate
    open_forget_bias: float = 2.0  # forget-gate bias of the "open forget gate" LSTM


def _probe_batch(B: int, gap: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    key = torch.randint(0, KEYS, (B, 1), generator=g)
    fill = torch.randint(KEYS, KEYS + FILLERS, (B, gap), generator=g)
    marker = torch.full((B, 1), KEYS + FILLERS)
    seq = torch.cat([key, fill, marker, key], dim=1)  # (B, G + 3)
    return seq[:, :-1], seq[:, -1]  # inputs (B, G + 2), the key to recall (B,)


def _probe(cell: str, gap: int, cfg: Config, steps: int, forget_bias: float = 0.0
           ) -> tuple[float, float]:
    """Recall accuracy on 1,000 fresh sequences after ``steps`` Adam steps, and seconds."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    model = create("rnn-lm", vocab_size=KEYS + FILLERS + 1, cell=cell, hidden=cfg.probe_hidden,
                   forget_bias=forget_bias)
    opt = create_optimizer("adam", model.parameters(), lr=cfg.probe_lr)
    loss_fn = CrossEntropyLoss()
    started = time.perf_counter()
    for _ in range(steps):
        X, k = _probe_batch(cfg.probe_batch, gap, g)
        logits, _ = model(X)  # (B, G + 2, V)
        # only the last prediction is determined: -log P(k | k f_1 .. f_G ?)
        loss = loss_fn(logits[:, -1], k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    seconds = time.perf_counter() - started
    X, k = _probe_batch(1000, gap, torch.Generator().manual_seed(10_000 + cfg.seed))
    with torch.no_grad():
        acc = (model(X)[0][:, -1].argmax(-1) == k).float().mean().item()
    return acc, seconds


def run(cfg: Config, out_dir: Path) -> LessonResult:
    raw, source = load_text(cfg.corpus, f"{cfg.chars:,} chars")
    hidden, epochs, lr, gaps = cfg.hidden, cfg.epochs, cfg.lr, tuple(cfg.gaps)
    probe_steps = cfg.probe_steps
    ids, vocab, _ = char_corpus(raw, max_chars=cfg.chars)
    cut = int(len(ids) * 0.9)
    metrics: dict[str, float] = {}
    history, by_epoch, by_time, rows, probe_rows = [], {}, {}, [], []
    for cell in CELLS:
        torch.manual_seed(cfg.seed)
        model = create("rnn-lm", vocab_size=len(vocab), cell=cell, hidden=hidden)
        r = train_lm(model, ids[:cut], ids[cut:], epochs=epochs, batch_size=cfg.batch_size,
                     num_steps=cfg.num_steps, lr=lr, cosine=True, seed=cfg.seed,
                     progress=False, label=cell)
        recurrent = sum(p.numel() for p in model.rnn.parameters())
        metrics.update({f"{cell}_val_ppl": r.val_ppl, f"{cell}_steps": float(r.steps),
                        f"{cell}_seconds": r.seconds,
                        f"{cell}_ms_per_step": 1000 * r.seconds / max(r.steps, 1),
                        f"{cell}_recurrent_params": float(recurrent)})
        rows.append({"cell": cell, "hidden": hidden, "recurrent_params": recurrent,
                     "steps": r.steps, "seconds": round(r.seconds, 2),
                     "ms_per_step": round(1000 * r.seconds / max(r.steps, 1), 2),
                     "val_ppl": round(r.val_ppl, 3)})
        history += r.history
        by_epoch[cell] = ([h["step"] for h in r.history], [h["val_ppl"] for h in r.history])
        by_time[cell] = ([h["seconds"] for h in r.history], [h["val_ppl"] for h in r.history])
    probes = [(c, c, 0.0) for c in CELLS] + [("lstm_open_forget", "lstm", cfg.open_forget_bias)]
    acc: dict[str, list[float]] = {name: [] for name, _, _ in probes}
    for gap in gaps:
        for name, cell, fb in probes:
            a, secs = _probe(cell, gap, cfg, probe_steps, fb)
            acc[name].append(a)
            probe_rows.append({"network": name, "gap": gap, "recall_accuracy": a,
                               "seconds": round(secs, 2)})
    for name, accs in acc.items():
        for gap, a in zip(gaps, accs):
            metrics[f"{name}_recall_gap{gap}"] = a
    g0 = 15 if 15 in gaps else gaps[0]
    for name in acc:
        metrics[f"{name}_recall"] = metrics[f"{name}_recall_gap{g0}"]
    figures = [
        plot_curves(by_epoch, out_dir / "gru_vs_lstm_steps.png", "training steps",
                    "validation perplexity", f"Same budget on {source}"),
        plot_curves(by_time, out_dir / "gru_vs_lstm_seconds.png", "training seconds",
                    "validation perplexity", "Perplexity against time"),
        plot_curves({n: (list(gaps), acc[n]) for n in acc}, out_dir / "gru_vs_lstm_memory.png",
                    "gap G (random symbols between key and recall)", "recall accuracy",
                    "Memory probe (chance 0.25)", refs={"chance": 1 / KEYS}),
    ]
    claim = (f"Same {int(metrics['gru_steps'])} steps on {source}: validation perplexity GRU "
             f"{metrics['gru_val_ppl']:.2f} ({metrics['gru_ms_per_step']:.1f} ms/step), LSTM "
             f"{metrics['lstm_val_ppl']:.2f} ({metrics['lstm_ms_per_step']:.1f} ms/step), RNN "
             f"{metrics['rnn_val_ppl']:.2f}; GRU has "
             f"{metrics['gru_recurrent_params'] / metrics['lstm_recurrent_params']:.2f} of the "
             f"LSTM's recurrent parameters. Recalling a key across {g0} random symbols: GRU "
             f"{metrics['gru_recall']:.2f}, LSTM {metrics['lstm_recall']:.2f} (forget gate open at "
             f"init: {metrics['lstm_open_forget_recall']:.2f}), RNN {metrics['rnn_recall']:.2f} "
             f"(chance 0.25).")
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=history, claim=claim,
                        tables={"language_model": rows, "memory_probe": probe_rows})
