"""Benchmark: one BERT pre-training step (MLM + NSP), ours vs Hugging Face ``BertForPreTraining``.

All contenders hold the same weights (MiniLM-L6's encoder, 22.7M parameters, DATA.md, with
freshly initialised pre-training heads copied into each) and train on the same masked batch:
Austen passages cut at ``--max-length`` WordPiece pieces, 15 % of the pieces chosen by
:func:`deepnotes.models.bert.mask_tokens` (80/10/10), NSP labels alternating. A step is the
forward pass in train mode, the MLM cross-entropy over the chosen pieces plus the NSP one,
and the backward pass (no optimizer update: the same for all). Contenders:

- **ours, masked head**: the MLM output layer (H x V) only at the chosen 15 % of positions
  (``predict=``), as the pre-training loop runs;
- **ours, full head**: the output layer at every position, then the loss at the chosen ones;
- **HF**: ``BertForPreTraining(labels=..., next_sentence_label=...)`` (sdpa attention), which
  computes the output layer at every position.

The script first checks that the three give the same loss (train mode off). Reported: ms per
step, tokens (real pieces) per second, and ratios against HF (below 1: faster).

Usage::

    python benchmarks/bench_bert_mlm.py              # ~1 minute on 2 cores
    python benchmarks/bench_bert_mlm.py --batch 8 --max-length 32 --repeats 3
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
    parser.add_argument("--batch", type=int, default=32, help="passages per step")
    parser.add_argument("--max-length", type=int, default=128, help="pieces per passage at most")
    add_common_args(parser, repeats=5, inner=2, warmup=1, per="contender")
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch, "--max-length": args.max_length})
    if device is None:
        return 2
    transformers = import_transformers()
    if transformers is None:
        return 2
    from torch.nn import functional as F

    from deepnotes.data import load_documents
    from deepnotes.models.bert import BertForPreTraining, load_pretrained_bert, mask_tokens
    from deepnotes.text import load_tokenizer

    t0 = time.perf_counter()
    torch.manual_seed(0)
    encoder = load_pretrained_bert("minilm")
    ours = BertForPreTraining(encoder.config)
    ours.bert.load_state_dict(encoder.state_dict())
    hf_config = transformers.BertConfig(**encoder.config.to_hf())
    hf = transformers.BertForPreTraining(hf_config)
    missing = hf.load_state_dict(ours.state_dict(), strict=False)
    if missing.unexpected_keys or [k for k in missing.missing_keys if "position_ids" not in k]:
        print(f"state dicts differ: {missing}", file=sys.stderr)
        return 1
    ours.to(device)
    hf.to(device)
    tok = load_tokenizer("minilm")
    lines = [x for x in load_documents("austen") if len(x.split()) >= 6][:8 * args.batch]
    passages = [" ".join(lines[i:i + 8]) for i in range(0, len(lines), 8)]
    enc = tok.encode_batch(passages, max_length=args.max_length)
    ids, mask, types = enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
    special = torch.isin(ids, torch.tensor([tok.token_to_id(t) for t in
                                            ("[PAD]", "[CLS]", "[SEP]")])) | (mask == 0)
    masked, labels = mask_tokens(ids, tok.vocab_size, tok.token_to_id("[MASK]"), special=special,
                                 first_regular_id=999, generator=torch.Generator().manual_seed(0))
    nsp = torch.arange(len(ids)) % 2
    masked, labels, mask, types, nsp = (t.to(device) for t in (masked, labels, mask, types, nsp))
    chosen = labels != -100

    def loss_of(name: str) -> torch.Tensor:
        if name == "HF":
            return hf(input_ids=masked, attention_mask=mask, token_type_ids=types, labels=labels,
                      next_sentence_label=nsp).loss
        if name == "ours, masked head":
            mlm, pair = ours(masked, mask, types, predict=chosen)
            return F.cross_entropy(mlm, labels[chosen]) + F.cross_entropy(pair, nsp)
        mlm, pair = ours(masked, mask, types)
        return F.cross_entropy(mlm[chosen], labels[chosen]) + F.cross_entropy(pair, nsp)

    names = ["ours, masked head", "ours, full head", "HF"]
    with torch.no_grad():
        ours.eval()
        hf.eval()
        ref = float(loss_of("HF"))
        for name in names:
            if abs(float(loss_of(name)) - ref) > 1e-3 * abs(ref):
                print(f"{name}: loss {float(loss_of(name)):.5f} vs HF {ref:.5f}", file=sys.stderr)
                return 1
    ours.train()
    hf.train()

    def step(name: str):
        model = hf if name == "HF" else ours
        params = [p for p in model.parameters() if p.requires_grad]

        def run():
            torch.autograd.grad(loss_of(name), params, allow_unused=True)
        return run

    med = compare_many({n: step(n) for n in names}, device, args.repeats, args.inner, args.warmup)
    tokens = int(mask.sum())
    rows = [{"contender": n, "ms": med[n] * 1e3, "tokens_per_s": tokens / med[n],
             "vs_hf": med[n] / med["HF"]} for n in names]
    table = markdown(["contender", "ms / step", "tokens / s", "/ HF"],
                     [[r["contender"], f"{r['ms']:,.0f}", f"{r['tokens_per_s']:,.0f}",
                       f"{r['vs_hf']:.2f}"] for r in rows], text_columns=1)
    info = machine(device)
    report(f"BERT pre-training step (MLM + NSP, forward + backward), MiniLM-L6 size "
           f"(V {tok.vocab_size:,}), batch {args.batch} x {ids.shape[1]} pieces ({tokens:,} real "
           f"tokens, {int(chosen.sum())} masked), float32, {describe(device, info)}, "
           f"torch {info['torch']}, transformers {transformers.__version__}, median of "
           f"{args.repeats} blocks x {args.inner} calls", table, t0, args.json,
           {"benchmark": "bert-mlm", "batch": args.batch, "length": int(ids.shape[1]),
            "tokens": tokens, "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
