"""A GPT on byte-level BPE against the same GPT on characters, in bits per byte (P7, E5).

Claim (notes E5, P7): subword units let a model with a fixed window read more text: a
64-token window of byte-level BPE pieces (GPT-2's tokeniser, trained here on the training
text) covers several times the 64 characters of a character model, and the model predicts a
piece at a time. Losses per token are not comparable across tokenisers, so both models are
scored in **bits per byte** on the same test text: the total negative log-likelihood of the
test text in bits divided by its UTF-8 bytes (for a character model on ASCII text, bits per
character).

Data: ``gpt-char``'s (Shakespeare's complete works, 90/5/5 in file order); the BPE vocabulary
(``bpe_vocab`` pieces, 256 of them single bytes) learnt from the training part only, each part
encoded line by line; the character model's symbols are every character of the text, as in
``gpt-char``. Both GPTs have ``gpt-char``'s configuration (4 × 4 × 128, context 64, batch
12, nanoGPT's optimiser settings) and the same number of updates, so they cost about the same
(the BPE model's output layer is wider); nothing is tuned. The BPE model is saved as a
Hugging Face GPT-2 folder with its ``tokenizer.json``: ``deepnotes generate RUN/hf "ROMEO:"``.
Quick mode (tests): 200,000 characters, 2 × 2 × 64 models, 500-piece vocabulary, 600 updates.

Notes: P7, E5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.figures import plot_curves
from deepnotes.lessons.base import LessonResult
from deepnotes.lessons.gpt_char import Config as CharConfig
from deepnotes.lessons.gpt_char import _text
from deepnotes.models import create
from deepnotes.models.gpt import generate, save_hf
from deepnotes.runtime import resolve_device
from deepnotes.tasks.gpt import char_baselines, full_loss, train_gpt
from deepnotes.text import BPETokenizer

NAME = "gpt-bpe"
SUMMARY = ("a GPT on byte-level BPE vs the same GPT on characters, Shakespeare: test bits "
           "per byte, text read per window (P7, E5)")
CONCEPTS = ("P7", "E5")


@dataclass
class Config(CharConfig):
    QUICK = {**CharConfig.QUICK, "bpe_vocab": 500}

    bpe_vocab: int = 2048  # BPE pieces (256 single bytes + merges)


def _encode(tok: BPETokenizer, text: str) -> torch.Tensor:
    ids = [i for line in text.splitlines(keepends=True)
           for i in tok.encode(line, add_special_tokens=False)]
    return torch.tensor(ids, dtype=torch.long)


def _bits_per_byte(model, ids: torch.Tensor, block: int, byte_len: torch.Tensor,
                   device) -> tuple[float, float]:
    """(bits per byte, nats per token) over the consecutive windows :func:`full_loss`
    scores: its tokens ``ids[1 : n·block + 1]``."""
    n = (len(ids) - 1) // block
    nats = full_loss(model, ids, block, 64, device)  # per scored token
    scored = ids[1:n * block + 1]
    return nats * len(scored) / math.log(2) / float(byte_len[scored].sum()), nats


def run(cfg: Config, out_dir: Path) -> LessonResult:
    device = resolve_device(cfg.device)
    text = _text(cfg)
    a = int(len(text) * 0.9)
    b = a + int(len(text) * 0.05)
    parts = {"train": text[:a], "val": text[a:b], "test": text[b:]}
    tok = BPETokenizer.train(parts["train"].splitlines(keepends=True), vocab_size=cfg.bpe_vocab,
                             byte_level=True)
    # byte-level pieces: every symbol of a piece stands for one byte
    byte_len = torch.tensor([len(tok.id_to_token(i)) for i in range(tok.vocab_size)])
    chars = sorted(set(text))  # as gpt-char: a character only the test has is never trained
    char_id = {c: i for i, c in enumerate(chars)}
    char_bytes = torch.tensor([len(c.encode("utf-8")) for c in chars])
    streams = {
        "bpe": {k: _encode(tok, t) for k, t in parts.items()},
        "char": {k: torch.tensor([char_id[c] for c in t]) for k, t in parts.items()},
    }
    vocab = {"bpe": tok.vocab_size, "char": len(chars)}
    lengths = {"bpe": byte_len, "char": char_bytes}
    test_bytes = float(len(parts["test"].encode("utf-8")))
    counts = char_baselines(streams["char"]["train"], streams["char"]["test"], len(chars))
    per_byte = len(streams["char"]["test"]) / test_bytes / math.log(2)  # nats/char -> bits/byte
    metrics: dict[str, float] = {"bpe_vocab": float(tok.vocab_size),
                                 "char_vocab": float(len(chars)), "test_bytes": test_bytes,
                                 "unigram_test_bits_per_byte": counts["unigram"] * per_byte,
                                 "bigram_test_bits_per_byte": counts["bigram"] * per_byte}
    rows, curves, history, models = [], {}, [], {}
    for kind in ("char", "bpe"):
        s = streams[kind]
        model = create("gpt", vocab_size=vocab[kind], block_size=cfg.block_size,
                       n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd,
                       dropout=cfg.dropout, bias=cfg.bias, fused=cfg.fused)
        r = train_gpt(model, s["train"], s["val"], max_iters=cfg.max_iters,
                      batch_size=cfg.batch_size, lr=cfg.lr, min_lr=cfg.min_lr,
                      warmup_iters=cfg.warmup_iters, weight_decay=cfg.weight_decay,
                      beta2=cfg.beta2, grad_clip=cfg.grad_clip, accumulate=cfg.accumulate,
                      eval_interval=cfg.eval_interval, eval_iters=cfg.eval_iters,
                      compile=cfg.compile, seed=cfg.seed, device=device,
                      progress=cfg.progress)
        models[kind] = model
        bpb, nats = _bits_per_byte(model, s["test"], cfg.block_size, lengths[kind], device)
        vbpb, _ = _bits_per_byte(model, s["val"], cfg.block_size, lengths[kind], device)
        window_bytes = float(lengths[kind][s["test"]].sum()) / len(s["test"]) * cfg.block_size
        metrics.update({f"{kind}_test_bits_per_byte": bpb, f"{kind}_val_bits_per_byte": vbpb,
                        f"{kind}_test_loss_per_token": nats,
                        f"{kind}_seconds": r.train_seconds,
                        f"{kind}_tokens_per_second": r.tokens_per_second,
                        f"{kind}_params": float(model.num_params()),
                        f"{kind}_window_bytes": window_bytes,
                        f"{kind}_train_tokens": float(len(s["train"])),
                        f"{kind}_bytes_read": window_bytes / cfg.block_size * r.tokens})
        rows.append({"model": f"GPT on {'characters' if kind == 'char' else 'BPE pieces'}",
                     "vocabulary": vocab[kind], "params": int(model.num_params()),
                     "updates": r.iters, "train_seconds": round(r.train_seconds, 1),
                     "bytes_per_window": round(window_bytes, 1),
                     "test_loss_per_token": round(nats, 4),
                     "val_bits_per_byte": round(vbpb, 4), "test_bits_per_byte": round(bpb, 4)})
        its = [h["iter"] for h in r.history]
        curves[kind] = (its, [h["val_loss"] for h in r.history])
        history += [{"model": kind, **h} for h in r.history]
    metrics["bytes_per_piece"] = metrics["bpe_window_bytes"] / cfg.block_size
    # the byte counts behind bits per byte, from each tokeniser's tables (tested against
    # the UTF-8 length of the test text)
    for kind in ("char", "bpe"):
        metrics[f"{kind}_test_bytes_counted"] = float(lengths[kind][streams[kind]["test"]].sum())
    folder = save_hf(models["bpe"], out_dir / "hf")
    tok.save(folder)
    prompt = tok.encode(cfg.prompt, add_special_tokens=False) or [0]
    out = generate(models["bpe"], prompt, max(1, cfg.sample_chars // 4),
                   temperature=cfg.temperature, top_k=cfg.top_k or None, seed=cfg.seed)
    sample = tok.decode(out[0].tolist())
    (out_dir / "samples.txt").write_text(f"--- BPE GPT, temperature {cfg.temperature} ---\n"
                                         f"{sample}\n", encoding="utf-8")
    figures = [plot_curves({"characters (nats per character)": curves["char"],
                            "BPE (nats per piece)": curves["bpe"]},
                           out_dir / "gpt_bpe_val_loss.png", "update",
                           "validation loss per token", "Same GPT, two tokenisers")]
    better = "BPE" if metrics["bpe_test_bits_per_byte"] < metrics["char_test_bits_per_byte"] \
        else "characters"
    claim = (f"On Shakespeare ({len(text):,} characters), with the same GPT and {cfg.max_iters:,} "
             f"updates each, a {tok.vocab_size:,}-piece byte-level BPE puts "
             f"{metrics['bytes_per_piece']:.2f} bytes in a piece ({metrics['bpe_window_bytes']:.0f}"
             f" bytes per {cfg.block_size}-token window against {metrics['char_window_bytes']:.0f})"
             f"; test bits per byte: BPE {metrics['bpe_test_bits_per_byte']:.3f}, characters "
             f"{metrics['char_test_bits_per_byte']:.3f} ({better} lower); letter-pair counts "
             f"{metrics['bigram_test_bits_per_byte']:.3f}.")
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=history,
                        claim=claim, tables={"bits_per_byte": rows,
                                             "samples": [{"text": sample}]})
