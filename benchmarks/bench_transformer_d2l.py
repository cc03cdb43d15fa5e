"""Benchmark: our Transformer translator's training step against the d2l package's Transformer.

Same configuration on both sides (vocabularies, width, FFN width, heads, blocks, dropout,
batch, sequence length; d2l's book defaults: d=256, FFN 64, 4 heads, 2 blocks, dropout 0.2),
float32, ``train()`` mode, one optimizer step of Adam per call:

- ``encoder``: forward + backward of the encoder alone: ours (``transformer-mt``'s encoder,
  fused and formula paths) vs ``d2l.TransformerEncoder`` (``d2l==1.0.3``);
- ``train step``: encoder + decoder + masked cross-entropy + backward + Adam step: ours vs
  ``d2l.TransformerEncoder`` + a decoder assembled from d2l's own blocks
  (``d2l.MultiHeadAttention``, ``AddNorm``, ``PositionWiseFFN``, ``PositionalEncoding``, wired
  as the book's ``TransformerDecoderBlock``: the package ships no decoder class) with d2l's
  ``MaskedSoftmaxCELoss``.

``d2l.torch`` imports torchvision, IPython, matplotlib_inline and requests at import time;
those that are not installed are replaced by empty stub modules first (no d2l function that
needs them runs here). The contenders alternate block by block; each timing is a block of
``--inner`` steps divided by ``--inner``, the table gives the median of ``--repeats`` blocks
and the ratios ours/d2l (below 1: ours is faster).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_transformer_d2l.py          # CPU, about 1 min
    python benchmarks/bench_transformer_d2l.py --device cuda --json transformer_d2l.json
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
import types
from typing import Any

import torch
from _common import add_common_args, compare_many, describe, machine, markdown, prepare, report
from torch import nn as tnn

from deepnotes.functional.sequence import fused_masked_cross_entropy
from deepnotes.models import create
from deepnotes.tasks.translation import teacher_forcing_inputs

STUBBED = ("torchvision", "torchvision.transforms", "IPython", "IPython.display",
           "matplotlib_inline", "matplotlib_inline.backend_inline", "requests")


def import_d2l() -> tuple[Any, list[str]]:
    """``d2l.torch`` with empty stand-ins for the imports it cannot find; (module, stubbed)."""
    stubbed = []
    for name in STUBBED:
        try:
            importlib.import_module(name)
        except ImportError:
            stub = types.ModuleType(name)
            sys.modules[name] = stub
            parent, _, child = name.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, stub)
            stubbed.append(name)
    return importlib.import_module("d2l.torch"), stubbed


def d2l_decoder(d2l: Any, vocab_size: int, d: int, ffn: int, heads: int, blocks: int,
                dropout: float) -> tnn.Module:
    """The book's Transformer decoder (d2l 11.7) wired from the package's own building blocks."""

    class Block(tnn.Module):
        def __init__(self, i: int) -> None:
            super().__init__()
            self.i = i
            self.attention1 = d2l.MultiHeadAttention(d, heads, dropout)
            self.addnorm1 = d2l.AddNorm(d, dropout)
            self.attention2 = d2l.MultiHeadAttention(d, heads, dropout)
            self.addnorm2 = d2l.AddNorm(d, dropout)
            self.ffn = d2l.PositionWiseFFN(ffn, d)
            self.addnorm3 = d2l.AddNorm(d, dropout)

        def forward(self, x, state):
            enc_outputs, enc_valid_lens = state[0], state[1]
            # training: the whole target at once, causal valid lengths 1..T per row
            b, t, _ = x.shape
            dec_valid_lens = torch.arange(1, t + 1, device=x.device).repeat(b, 1)
            x2 = self.attention1(x, x, x, dec_valid_lens)
            y = self.addnorm1(x, x2)
            y2 = self.attention2(y, enc_outputs, enc_outputs, enc_valid_lens)
            z = self.addnorm2(y, y2)
            return self.addnorm3(z, self.ffn(z)), state

    class Decoder(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.d = d
            self.embedding = tnn.Embedding(vocab_size, d)
            self.pos_encoding = d2l.PositionalEncoding(d, dropout)
            self.blks = tnn.Sequential(*(Block(i) for i in range(blocks)))
            self.dense = tnn.LazyLinear(vocab_size)

        def forward(self, x, enc_outputs, enc_valid_lens):
            h = self.pos_encoding(self.embedding(x) * math.sqrt(self.d))
            state = (enc_outputs, enc_valid_lens)
            for blk in self.blks:
                h, state = blk(h, state)
            return self.dense(h)

    return Decoder()


def make_batch(batch: int, steps: int, src_vocab: int, tgt_vocab: int, seed: int = 0):
    """Random token batches with valid lengths between T/2 and T (padding id 1, bos 2, eos 3)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, src_vocab, (batch, steps), generator=g)
    tgt = torch.randint(4, tgt_vocab, (batch, steps), generator=g)
    src_len = torch.randint(steps // 2, steps + 1, (batch,), generator=g)
    tgt_len = torch.randint(steps // 2, steps + 1, (batch,), generator=g)
    src[torch.arange(steps)[None, :] >= src_len[:, None]] = 1
    tgt[torch.arange(steps)[None, :] >= tgt_len[:, None]] = 1
    return src, src_len, tgt, tgt_len


def bench_rows(args: argparse.Namespace, device: torch.device) -> tuple[list[dict[str, Any]],
                                                                         list[str]]:
    d2l, stubbed = import_d2l()
    cfg = {"embed_dim": args.hiddens, "num_heads": args.heads, "ffn_hidden": args.ffn,
           "num_layers": args.blocks, "dropout": args.dropout}
    src, src_len, tgt, tgt_len = (t.to(device) for t in make_batch(
        args.batch, args.steps, args.src_vocab, args.tgt_vocab))
    tgt_in = teacher_forcing_inputs(tgt, 2)

    ours = {}
    for fused in (True, False):
        torch.manual_seed(0)
        ours["fused" if fused else "scratch"] = create(
            "transformer-mt", src_vocab_size=args.src_vocab, tgt_vocab_size=args.tgt_vocab,
            fused=fused, **cfg).to(device).train()
    torch.manual_seed(0)
    d2l_enc = d2l.TransformerEncoder(args.src_vocab, args.hiddens, args.ffn, args.heads,
                                     args.blocks, args.dropout).to(device).train()
    d2l_dec = d2l_decoder(d2l, args.tgt_vocab, args.hiddens, args.ffn, args.heads, args.blocks,
                          args.dropout).to(device).train()
    with torch.no_grad():  # materialise d2l's lazy layers before the optimizer sees them
        d2l_dec(tgt_in, d2l_enc(src, src_len), src_len)
    d2l_loss = d2l.MaskedSoftmaxCELoss()

    def encoder_step(enc, call):
        def fn():
            enc.zero_grad(set_to_none=True)
            call().square().mean().backward()
        return fn

    contenders = {name: encoder_step(m.encoder, lambda m=m: m.encoder(src, src_len))
                  for name, m in ours.items()}
    contenders["d2l"] = encoder_step(d2l_enc, lambda: d2l_enc(src, src_len))
    rows = [("encoder fwd+bwd", compare_many(contenders, device, args.repeats, args.inner,
                                             args.warmup))]

    opts = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in ours.items()}
    d2l_params = list(d2l_enc.parameters()) + list(d2l_dec.parameters())
    opts["d2l"] = torch.optim.Adam(d2l_params, lr=1e-3)

    def our_step(name):
        model, opt = ours[name], opts[name]

        def fn():
            loss = fused_masked_cross_entropy(model(src, src_len, tgt_in), tgt, tgt_len)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return fn

    def d2l_step():
        logits = d2l_dec(tgt_in, d2l_enc(src, src_len), src_len)
        loss = d2l_loss(logits, tgt, tgt_len).sum()
        opts["d2l"].zero_grad(set_to_none=True)
        loss.backward()
        opts["d2l"].step()

    contenders = {"fused": our_step("fused"), "scratch": our_step("scratch"), "d2l": d2l_step}
    rows.append(("train step", compare_many(contenders, device, args.repeats, args.inner,
                                            args.warmup)))
    n_ours = sum(p.numel() for p in ours["fused"].parameters())
    n_d2l = sum(p.numel() for p in d2l_params)
    shape = (f"B={args.batch} T={args.steps} d={args.hiddens} ffn={args.ffn} h={args.heads} "
             f"N={args.blocks}")
    out = [{"shape": shape, "pass": what, "fused_s": med["fused"], "scratch_s": med["scratch"],
            "d2l_s": med["d2l"], "fused_over_d2l": med["fused"] / med["d2l"],
            "scratch_over_d2l": med["scratch"] / med["d2l"],
            "parameters_ours": n_ours, "parameters_d2l": n_d2l} for what, med in rows]
    return out, stubbed


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = ["shape", "pass", "ours fused (ms)", "ours scratch (ms)", "d2l (ms)",
              "fused/d2l", "scratch/d2l"]
    return markdown(header, [[r["shape"], r["pass"],
                              *(f"{r[k] * 1e3:,.2f}" for k in ("fused_s", "scratch_s", "d2l_s")),
                              f"{r['fused_over_d2l']:.2f}", f"{r['scratch_over_d2l']:.2f}"]
                             for r in rows], text_columns=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="sentence pairs per step (B)")
    parser.add_argument("--steps", type=int, default=16, help="padded sequence length T")
    parser.add_argument("--src-vocab", type=int, default=2000, help="source vocabulary size")
    parser.add_argument("--tgt-vocab", type=int, default=2000, help="target vocabulary size")
    parser.add_argument("--hiddens", type=int, default=256, help="model width d")
    parser.add_argument("--ffn", type=int, default=64, help="FFN hidden width")
    parser.add_argument("--heads", type=int, default=4, help="attention heads")
    parser.add_argument("--blocks", type=int, default=2, help="encoder = decoder blocks")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout (both sides)")
    add_common_args(parser, repeats=5, inner=3, warmup=2, unit="steps", per="contender")
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch, "--steps": args.steps,
                            "--src-vocab": args.src_vocab, "--tgt-vocab": args.tgt_vocab,
                            "--hiddens": args.hiddens, "--ffn": args.ffn, "--heads": args.heads,
                            "--blocks": args.blocks})
    if device is None:
        return 2
    if args.hiddens % args.heads or min(args.src_vocab, args.tgt_vocab) < 5:
        print(f"--heads {args.heads} must divide --hiddens {args.hiddens} and the vocabularies "
              "need at least 5 tokens.", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows, stubbed = bench_rows(args, device)
    info = machine(device)
    report(f"Transformer MT training step vs d2l==1.0.3, float32, {describe(device, info)}, "
           f"torch {info['torch']}, median of {args.repeats} blocks x {args.inner} steps",
           markdown_table(rows), t0, args.json,
           {"benchmark": "transformer_d2l", "device": args.device, **{
               k: getattr(args, k) for k in ("batch", "steps", "src_vocab", "tgt_vocab",
                                             "hiddens", "ffn", "heads", "blocks", "dropout",
                                             "repeats", "inner", "warmup")},
            "stubbed_modules": stubbed, "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
