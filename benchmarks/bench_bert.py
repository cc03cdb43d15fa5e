"""Benchmark: our BERT (fused and formula paths) vs Hugging Face ``transformers``' BertModel.

Both models hold the same weights (the pretrained MiniLM-L6: 6 layers, width 384, 12 heads,
22.7M parameters, DATA.md) and read the same batch: real Austen passages (four consecutive
lines each) cut by the MiniLM WordPiece tokenizer at ``--max-length`` pieces and padded to the
longest (``--batch`` passages). Timed: the forward pass in eval mode under ``no_grad`` (what embedding a corpus costs)
and one training step (forward in train mode with dropout, the sum of the last hidden states
times a fixed random tensor, backward). HF runs its default attention (``sdpa``) and, as a
second reference, its ``eager`` attention. The script first checks that the outputs agree
(eval mode), so the timings compare the same work. Ratios are ours / HF sdpa (below 1: ours is
faster). Median of ``--repeats`` alternating blocks.

Usage::

    python benchmarks/bench_bert.py                 # ~1 minute on 2 cores
    python benchmarks/bench_bert.py --batch 8 --max-length 32 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from _common import (add_common_args, compare_many, describe, import_transformers, machine,
                     markdown, prepare, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="sentences per call")
    parser.add_argument("--max-length", type=int, default=64, help="pieces per sentence at most")
    add_common_args(parser, repeats=5, inner=2, warmup=1, per="contender")
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch, "--max-length": args.max_length})
    if device is None:
        return 2
    transformers = import_transformers()
    if transformers is None:
        return 2
    from deepnotes.data import load_documents
    from deepnotes.models.bert import _resolve, load_pretrained_bert
    from deepnotes.text import load_tokenizer

    t0 = time.perf_counter()
    folder = str(_resolve("minilm"))
    models = {"ours fused": load_pretrained_bert("minilm", fused=True),
              "ours formula": load_pretrained_bert("minilm", fused=False),
              "HF sdpa": transformers.BertModel.from_pretrained(folder, attn_implementation="sdpa"),
              "HF eager": transformers.BertModel.from_pretrained(folder,
                                                                 attn_implementation="eager")}
    for m in models.values():
        m.to(device)
    # Austen's lines are ~10 words: four consecutive lines make one passage, cut at max-length
    lines = [x for x in load_documents("austen") if len(x.split()) >= 6][:4 * args.batch]
    lines = [" ".join(lines[i:i + 4]) for i in range(0, len(lines), 4)]
    enc = load_tokenizer("minilm").encode_batch(lines, max_length=args.max_length)
    ids, mask, types = (enc[k].to(device) for k in ("input_ids", "attention_mask",
                                                    "token_type_ids"))
    keep = mask.bool()

    def hidden(name: str) -> torch.Tensor:
        m = models[name]
        if name.startswith("HF"):
            return m(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        return m(ids, mask, types)[0]

    with torch.no_grad():
        for m in models.values():
            m.eval()
        ref = hidden("HF sdpa")
        for name in models:
            err = float((hidden(name) - ref)[keep].abs().max())
            if err > 1e-4:
                print(f"{name} differs from HF by {err:.2e}", file=sys.stderr)
                return 1
    upstream = torch.randn(ref.shape, generator=torch.Generator().manual_seed(0)).to(device)

    def forward(name: str):
        def run():
            with torch.no_grad():
                hidden(name)
        return run

    def train_step(name: str):
        params = [p for p in models[name].parameters() if p.requires_grad]

        def run():
            out = hidden(name)
            torch.autograd.grad((out * upstream).sum(), params, allow_unused=True)
        return run

    rows = []
    for what, wrap, train in (("forward (eval, no_grad)", forward, False),
                              ("training step (forward + backward, dropout)", train_step, True)):
        for m in models.values():
            m.train(train)
        med = compare_many({n: wrap(n) for n in models}, device, args.repeats, args.inner,
                           args.warmup)
        rows.append({"pass": what, **{f"{n} (ms)": med[n] * 1e3 for n in models},
                     **{f"{n} / HF sdpa": med[n] / med["HF sdpa"] for n in models
                        if n != "HF sdpa"}})
    header = ["pass", *(f"{n} (ms)" for n in models),
              *(f"{n} / HF sdpa" for n in models if n != "HF sdpa")]
    table = markdown(header, [[r["pass"], *(f"{r[h]:,.1f}" for h in header[1:5]),
                               *(f"{r[h]:.2f}" for h in header[5:])] for r in rows],
                     text_columns=1)
    info = machine(device)
    tokens = int(mask.sum())
    report(f"BERT (MiniLM-L6 weights), batch {args.batch} x {ids.shape[1]} pieces ({tokens:,} "
           f"real tokens), float32, {describe(device, info)}, torch {info['torch']}, "
           f"transformers {transformers.__version__}, median of {args.repeats} blocks x "
           f"{args.inner} calls", table, t0, args.json,
           {"benchmark": "bert", "batch": args.batch, "length": int(ids.shape[1]),
            "tokens": tokens, "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
