"""Benchmark: GPT training step and generation, ours vs Hugging Face ``GPT2LMHeadModel``.

All contenders hold the same weights (ours converted by :func:`deepnotes.models.gpt.to_hf`)
and read the same batch of random token windows. A training step is the forward pass in
train mode, the mean next-token cross-entropy and the backward pass (no optimizer update,
the same for all). Contenders:

- **ours (SDPA)**: :class:`deepnotes.models.gpt.GPT` with ``fused=True`` (torch's attention,
  GELU and LayerNorm kernels);
- **ours (formula)**: the same parameters through our attention, GELU and LayerNorm;
- **ours (compiled)**: the SDPA model through ``torch.compile`` (its compile time reported);
- **HF**: ``GPT2LMHeadModel(labels=...)`` with ``sdpa`` attention.

Also: the training step's FLOP rate (nanoGPT's count, 6 N + 12 L T C per token) as a fraction
of this machine's float32 matmul rate measured here (a square matmul as large as the
model's biggest), and generation tokens per second with our KV cache, without it (re-reading
the window, as nanoGPT samples) and with HF's ``generate`` (its cache).

Usage::

    python benchmarks/bench_gpt.py                      # nanoGPT's CPU configuration
    python benchmarks/bench_gpt.py --config gpu --batch 8 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from _common import (add_common_args, compare_many, describe, import_transformers, machine,
                     markdown, prepare, report)

CONFIGS = {  # nanoGPT's shakespeare_char configurations
    "cpu": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12),
    "gpu": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch=64),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    parser.add_argument("--batch", type=int, default=0, help="windows per step (0: the config's)")
    parser.add_argument("--vocab", type=int, default=65, help="vocabulary (65: shakespeare_char)")
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    add_common_args(parser, repeats=5, inner=5, warmup=2, unit="steps", per="contender")
    args = parser.parse_args(argv)
    c = dict(CONFIGS[args.config])
    batch = args.batch or c.pop("batch")
    c.pop("batch", None)
    device = prepare(args, {"--batch": batch, "--vocab": args.vocab})
    if device is None:
        return 2
    transformers = import_transformers()
    if transformers is None:
        return 2
    from torch.nn import functional as F

    from deepnotes.models.gpt import GPT, GPTConfig, generate, hf_config, to_hf

    t0 = time.perf_counter()
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=args.vocab, **c)
    ours = GPT(cfg).to(device)
    formula = GPT(GPTConfig(vocab_size=args.vocab, fused=False, **c)).to(device)
    formula.load_state_dict(ours.state_dict())
    keep = {k: v for k, v in hf_config(cfg).items()
            if k not in ("model_type", "architectures", "deepnotes_gpt")}
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**keep,
                                                              attn_implementation="sdpa"))
    hf.load_state_dict(to_hf(ours), strict=True)
    hf.to(device)
    T = cfg.block_size
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, args.vocab, (batch, T + 1), generator=g).to(device)
    x = x[:, :-1]

    def loss_of(model) -> torch.Tensor:
        if model is hf:
            return hf(input_ids=x, labels=x).loss  # HF shifts the labels itself
        logits = model(x)
        return F.cross_entropy(logits[:, :-1].reshape(-1, args.vocab), x[:, 1:].reshape(-1))

    with torch.no_grad():
        ref = float(loss_of(hf))
        for m in (ours, formula):
            if abs(float(loss_of(m)) - ref) > 1e-4 * abs(ref):
                print(f"loss {float(loss_of(m)):.6f} vs HF {ref:.6f}", file=sys.stderr)
                return 1
    # name -> (what runs the forward pass, whose parameters get gradients)
    contenders = {"ours (SDPA)": (ours, ours), "ours (formula)": (formula, formula),
                  "HF GPT2LMHeadModel": (hf, hf)}
    compile_s = None
    if not args.no_compile:
        compiled = torch.compile(ours)
        tc = time.perf_counter()
        loss_of(compiled).backward()
        compile_s = time.perf_counter() - tc
        ours.zero_grad(set_to_none=True)
        contenders["ours (compiled)"] = (compiled, ours)
    for m in (ours, formula, hf):
        m.train()

    def step(model, owner):
        params = list(owner.parameters())

        def run():
            torch.autograd.grad(loss_of(model), params, allow_unused=True)
        return run

    med = compare_many({n: step(*mo) for n, mo in contenders.items()}, device, args.repeats,
                       args.inner, args.warmup)
    tokens = batch * T
    # nanoGPT's estimate: 6 N flops per token (forward + backward of every weight) plus
    # 12 L T C for attention's scores and weighted sums
    n_params = ours.num_params()
    flops_per_step = (6 * n_params + 12 * cfg.n_layer * T * cfg.n_embd) * tokens
    n = 4 * cfg.n_embd
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    mm = compare_many({"matmul": lambda: a @ b}, device, args.repeats, 20, 3)["matmul"]
    peak = 2 * n ** 3 / mm
    rows = []
    for name, s in med.items():
        rows.append([name, f"{s * 1e3:,.1f}", f"{tokens / s:,.0f}",
                     f"{s / med['HF GPT2LMHeadModel']:.2f}",
                     f"{flops_per_step / s / 1e9:,.1f}", f"{flops_per_step / s / peak:.0%}"])
    table = markdown(["contender", "ms / step", "tokens / s", "/ HF", "GFLOP/s",
                      "of matmul peak"], rows, text_columns=1)

    # generation: a one-token prompt continued to the end of the window
    new = T - 1
    ours.eval()
    hf.eval()
    prompt = torch.tensor([[1]], device=device)

    def gen(use_cache: bool):
        return lambda: generate(ours, prompt, new, temperature=0, use_cache=use_cache)

    def gen_hf():
        with torch.no_grad():
            return hf.generate(prompt, max_new_tokens=new, do_sample=False, pad_token_id=0)

    same = torch.equal(gen(True)(), gen_hf())
    gmed = compare_many({"ours, KV cache": gen(True), "ours, re-reading the window":
                         gen(False), "HF generate (cache)": gen_hf}, device, args.repeats, 1, 1)
    grows = [[n, f"{s * 1e3:,.0f}", f"{new / s:,.0f}", f"{s / gmed['ours, KV cache']:.2f}"]
             for n, s in gmed.items()]
    gtable = markdown(["generator", "ms", "tokens / s", "time / ours with cache"], grows,
                      text_columns=1)
    info = machine(device)
    extra = (f"; compile time {compile_s:.1f} s" if compile_s is not None else "")
    report(f"GPT training step ({args.config} config: {cfg.n_layer} x {cfg.n_head} x "
           f"{cfg.n_embd}, block {T}, V {args.vocab}, {n_params / 1e6:.2f}M parameters), batch "
           f"{batch} ({tokens:,} tokens), float32, {describe(device, info)}, torch "
           f"{info['torch']}, transformers {transformers.__version__}, median of "
           f"{args.repeats} blocks x {args.inner} steps; matmul peak {peak / 1e9:,.1f} GFLOP/s "
           f"({n} x {n}){extra}.\n\n{table}\n\nGeneration of {new} tokens after a one-token "
           f"prompt, greedy (ours and HF give the same tokens: {same})", gtable, t0, args.json,
           {"benchmark": "gpt", "config": args.config, "batch": batch, "machine": info,
            "step_seconds": med, "generation_seconds": gmed, "matmul_flops": peak,
            "compile_seconds": compile_s, "same_tokens_as_hf": same})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
