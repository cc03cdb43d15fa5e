"""A character-level GPT on Shakespeare at nanoGPT's CPU configuration (P7).

Claim (notes P7): a decoder-only Transformer trained only to predict the next token learns to
write: after 2,000 updates of nanoGPT's CPU configuration (4 layers, 4 heads, width 128,
context 64 characters, batch 12, no dropout, AdamW lr 1e-3 warmed up for 100 updates then
cosine to 1e-4, β2 0.99, weight decay 0.1, clipping at 1) its validation loss is far below
what counting letter pairs gives, and its samples have the shape of a play. nanoGPT reports
validation loss ≈ 1.88 nats per character for this configuration on its 1.1M-character
``shakespeare_char`` (about 3 minutes on a laptop CPU).

Data: Shakespeare's complete works (``deepnotes data get shakespeare``: 42 plays and poems in
modern spelling, 5.06M characters; nanoGPT reads a 1.1M-character selection of the plays),
characters as they are, cut in file order into 90 % training, 5 % validation, 5 % test (the
last works). Hyperparameters are nanoGPT's; none is tuned here, so the validation loss is only
watched, and the test loss is reported. Baselines: unigram and bigram character counts fit on
the training text. The model is saved with its vocabulary, so
``deepnotes generate RUN_FOLDER/checkpoint "ROMEO:"`` continues any prompt, and as a
Hugging Face GPT-2 folder (``hf/``) that ``transformers`` opens. Quick mode (tests): the first
200,000 characters, a 2-layer width-64 GPT, 600 updates at lr 2e-3.

Notes: P7, A11, A14.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


from deepnotes.data.shakespeare import load_shakespeare
from deepnotes.figures import plot_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.models.gpt import generate, save_hf
from deepnotes.runtime import resolve_device
from deepnotes.tasks.gpt import char_baselines, estimate_loss, split_stream, train_gpt
from deepnotes.tasks.lm import char_corpus, save_lm

NAME = "gpt-char"
SUMMARY = ("a character-level GPT on Shakespeare's complete works at nanoGPT's CPU "
           "configuration: test loss vs letter counts, samples (P7)")
CONCEPTS = ("P7", "A11", "A14", "O7")

NANOGPT_CPU_VAL_LOSS = 1.88  # nanoGPT README, CPU configuration, shakespeare_char (1.1M chars)


@dataclass
class Config(LessonConfig):
    QUICK = {"chars": 200_000, "n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 32,
             "max_iters": 600, "lr": 2e-3, "eval_interval": 200, "eval_iters": 10,
             "warmup_iters": 30,
             "sample_chars": 80, "test_iters": 20}

    chars: int = 0  # characters of the complete works read (0: all, 5.06M)
    n_layer: int = 4  # nanoGPT's CPU configuration ...
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64  # characters of context
    dropout: float = 0.0
    bias: bool = False  # nanoGPT's train.py default
    batch_size: int = 12
    accumulate: int = 1  # micro-batches per update (gradient accumulation)
    max_iters: int = 2000  # updates
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250  # updates between validation estimates
    eval_iters: int = 20  # batches per validation estimate (nanoGPT's CPU run: 20)
    test_iters: int = 0  # batches of the test estimate (0: every window of the test text)
    compile: bool = False  # torch.compile the model (benchmarks/bench_gpt.py measures it)
    fused: bool = True  # torch's SDPA / GELU / LayerNorm (False: our formula)
    prompt: str = "ROMEO:"  # prompt of the samples
    sample_chars: int = 500  # characters generated per sample
    temperature: float = 0.8  # of the samples (0: greedy)
    top_k: int = 0  # of the samples (0: all characters)
    device: str = "cpu"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def _text(cfg: Config) -> str:
    text = "\n".join(line for _, line in load_shakespeare())
    return text[:cfg.chars] if cfg.chars else text


def run(cfg: Config, out_dir: Path) -> LessonResult:
    device = resolve_device(cfg.device)
    ids, vocab, text = char_corpus(_text(cfg), kind="none")
    train, val, test = split_stream(ids, (0.9, 0.05, 0.05))
    counts = char_baselines(train, test, len(vocab))
    model = create("gpt", vocab_size=len(vocab), block_size=cfg.block_size,
                   n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd,
                   dropout=cfg.dropout, bias=cfg.bias, fused=cfg.fused)
    lines: list[str] = []
    r = train_gpt(model, train, val, max_iters=cfg.max_iters, batch_size=cfg.batch_size,
                  lr=cfg.lr, min_lr=cfg.min_lr, warmup_iters=cfg.warmup_iters,
                  weight_decay=cfg.weight_decay, beta2=cfg.beta2, grad_clip=cfg.grad_clip,
                  accumulate=cfg.accumulate, eval_interval=cfg.eval_interval,
                  eval_iters=cfg.eval_iters, compile=cfg.compile, seed=cfg.seed, device=device,
                  progress=cfg.progress, log=lines.append)
    test_loss = estimate_loss(model, test, cfg.block_size, 64, cfg.test_iters, cfg.seed + 2,
                              device)
    last = r.history[-1]
    metrics = {"val_loss": last["val_loss"], "train_loss": last["train_loss"],
               "test_loss": test_loss, "test_bits_per_char": test_loss / math.log(2),
               "unigram_test_loss": counts["unigram"], "bigram_test_loss": counts["bigram"],
               "train_seconds": r.train_seconds, "estimate_seconds": r.eval_seconds,
               "tokens_per_second": r.tokens_per_second,
               "params": float(model.num_params()), "vocab_size": float(len(vocab)),
               "train_chars": float(len(train)), "val_chars": float(len(val)),
               "test_chars": float(len(test)), "iters": float(r.iters),
               "train_tokens": float(r.tokens)}
    # samples: the prompt's characters the vocabulary lacks are dropped
    prompt = [vocab.to_indices(c) for c in cfg.prompt if c in vocab] or [vocab.to_indices("\n")]
    samples = []
    for t in sorted({0.0, cfg.temperature}):
        out = generate(model, prompt, cfg.sample_chars, temperature=t,
                       top_k=cfg.top_k or None, seed=cfg.seed)
        samples.append({"temperature": t, "text": "".join(vocab.to_tokens(out[0].tolist()))})
    with open(out_dir / "samples.txt", "w", encoding="utf-8") as f:
        for s in samples:
            f.write(f"--- temperature {s['temperature']} ---\n{s['text']}\n\n")
    checkpoint = save_lm(model, vocab, out_dir / "checkpoint", kind="none",
                         extra={"corpus": "shakespeare", "chars": len(text)})
    save_hf(model, out_dir / "hf")
    its = [h["iter"] for h in r.history]
    figures = [plot_curves({"training (mean since last point)": (its, [h["train_loss"]
                                                                       for h in r.history]),
                            "validation": (its, [h["val_loss"] for h in r.history])},
                           out_dir / "gpt_char_loss.png", "update", "loss (nats per character)",
                           "Character GPT on Shakespeare",
                           refs={f"char bigram {counts['bigram']:.2f}": counts["bigram"],
                                 f"nanoGPT CPU run {NANOGPT_CPU_VAL_LOSS}":
                                     NANOGPT_CPU_VAL_LOSS})]
    rows = [{"model": f"GPT {cfg.n_layer}×{cfg.n_head}×{cfg.n_embd}, block {cfg.block_size}",
             "params": int(metrics["params"]), "updates": r.iters,
             "train_seconds": round(r.train_seconds, 1),
             "val_loss": round(last["val_loss"], 4),
             "test_loss": round(test_loss, 4)},
            {"model": "character bigram (counts)", "test_loss": round(counts["bigram"], 4)},
            {"model": "character unigram (counts)", "test_loss": round(counts["unigram"], 4)}]
    claim = (f"On Shakespeare's complete works ({len(text):,} characters, {len(vocab)} symbols, "
             f"90/5/5 split in file order), a GPT of {metrics['params'] / 1e6:.2f}M parameters "
             f"trained for {r.iters:,} updates ({r.train_seconds:.0f} s) reaches validation loss "
             f"{last['val_loss']:.3f} and test loss {test_loss:.3f} nats per character "
             f"({metrics['test_bits_per_char']:.2f} bits), against {counts['bigram']:.3f} for "
             f"letter-pair counts and {counts['unigram']:.3f} for letter counts; nanoGPT reports "
             f"≈ {NANOGPT_CPU_VAL_LOSS} on its 1.1M-character subset at this configuration.")
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=r.history,
                        claim=claim, tables={"loss": rows, "samples": samples,
                                             "log": [{"line": x} for x in lines]},
                        checkpoint=checkpoint)
