"""Benchmark: our LSTM language model against the ``d2l`` package's (d2l==1.0.3), same data and config.

What it measures, for each hidden size ``--hidden`` (default 32, d2l's book, and 256) and each
kind of implementation:

- ``concise``: our ``rnn-lm`` (``cell="lstm"``, one-hot input, ``fused=True``: torch's LSTM
  kernel) against ``d2l.RNNLM`` around the book's ``LSTM(d2l.RNN)`` (``torch.nn.LSTM``);
- ``scratch``: our ``rnn-lm`` with ``fused=False`` (our step-by-step LSTM loop) against
  ``d2l.RNNLMScratch`` around the book's ``LSTMScratch`` (its per-step gate equations).

Both sides get the same token ids (our character vocabulary of the text, d2l's preprocessing),
the same minibatches in the same order (random sampling, batch ``--batch`` = 32, ``--steps`` T =
35, a zero state per batch as d2l's trainer does), and the book's training configuration for
the LSTM: SGD with lr 4 and gradient clipping at norm 1. Each side runs its own training step —
ours: our cross-entropy over time, our ``clip_grad_norm_``, our SGD; d2l's: ``model.loss``,
``d2l.Trainer.clip_gradients`` and ``torch.optim.SGD`` from ``configure_optimizers``, i.e. the body
of ``d2l.Trainer.fit_epoch`` without its plotting. Blocks of ``--inner`` steps alternate (ours,
d2l, ours, ...) over ``--train-steps`` steps per side; the table gives the median time per step
and the ratio ours/d2l (below 1: ours is faster), then the validation perplexity of each after
the same number of steps (windows of T characters from a zero state, as d2l validates).

Initial weights: in ``concise`` both sides draw torch's LSTM and linear initialisation in the same
order after the same seed, so they start from identical weights and, doing the same arithmetic,
should stay together — the last column gives the largest weight difference after training (a
parity check of our model against d2l's). In ``scratch`` each keeps its own initialisation
(d2l's: N(0, 0.01²) weights), so their perplexities differ. CPU runs use ``--threads``
intra-op threads (default 1).

``d2l`` imports torchvision, requests, IPython and matplotlib_inline at import time; whichever
is not installed is replaced by an empty stub module (nothing of them is used here).

Usage::

    python benchmarks/bench_lm_d2l.py                       # CPU, a few minutes
    python benchmarks/bench_lm_d2l.py --hidden 32 --train-steps 200 --json lm.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import torch
from _common import machine, time_block
from deepnotes.tasks.lm import TIME_MACHINE_CHARS, char_corpus, lm_loss

from deepnotes import models
from deepnotes.data import SequenceBatches
from deepnotes.errors import DeepnotesError
from deepnotes.functional import clip_grad_norm_
from deepnotes.optim import create_optimizer

LR, CLIP = 4.0, 1.0  # the d2l book's LSTM language model: SGD lr 4, clipping at 1


def import_d2l():
    """``d2l.torch`` with empty stand-ins for the packages it imports but we lack."""
    stubs = {"torchvision": ["transforms"], "requests": [], "IPython": ["display"],
             "matplotlib_inline": ["backend_inline"]}
    for name, subs in stubs.items():
        if importlib.util.find_spec(name) is not None:
            continue
        parent = types.ModuleType(name)
        for sub in subs:
            child = types.ModuleType(f"{name}.{sub}")
            setattr(parent, sub, child)
            sys.modules[f"{name}.{sub}"] = child
        sys.modules[name] = parent
    import matplotlib

    matplotlib.use("Agg")
    from d2l import torch as d2l

    return d2l


def book_lstms(d2l: Any) -> tuple[type, type]:
    """The book's ``LSTMScratch`` and ``LSTM`` (d2l 10.1; not shipped in the d2l package)."""
    nn = torch.nn

    class LSTMScratch(d2l.Module):
        def __init__(self, num_inputs, num_hiddens, sigma=0.01):
            super().__init__()
            self.save_hyperparameters()

            def init_weight(*shape):
                return nn.Parameter(torch.randn(*shape) * sigma)

            def triple():
                return (init_weight(num_inputs, num_hiddens),
                        init_weight(num_hiddens, num_hiddens),
                        nn.Parameter(torch.zeros(num_hiddens)))

            self.W_xi, self.W_hi, self.b_i = triple()  # input gate
            self.W_xf, self.W_hf, self.b_f = triple()  # forget gate
            self.W_xo, self.W_ho, self.b_o = triple()  # output gate
            self.W_xc, self.W_hc, self.b_c = triple()  # input node

        def forward(self, inputs, H_C=None):
            if H_C is None:
                H = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
                C = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
            else:
                H, C = H_C
            outputs = []
            for X in inputs:
                I = torch.sigmoid(X @ self.W_xi + H @ self.W_hi + self.b_i)
                F = torch.sigmoid(X @ self.W_xf + H @ self.W_hf + self.b_f)
                O = torch.sigmoid(X @ self.W_xo + H @ self.W_ho + self.b_o)
                C_tilde = torch.tanh(X @ self.W_xc + H @ self.W_hc + self.b_c)
                C = F * C + I * C_tilde
                H = O * torch.tanh(C)
                outputs.append(H)
            return outputs, (H, C)

    class LSTM(d2l.RNN):
        def __init__(self, num_inputs, num_hiddens):
            d2l.Module.__init__(self)
            self.save_hyperparameters()
            self.rnn = nn.LSTM(num_inputs, num_hiddens)

        def forward(self, inputs, H_C=None):
            return self.rnn(inputs, H_C)

    return LSTMScratch, LSTM


class Side:
    """One implementation: its model, optimizer, training step and a cursor over the batches."""

    def __init__(self, model: torch.nn.Module, forward: Callable, step: Callable, batches: list,
                 device: torch.device):
        self.model, self.forward, self._step = model, forward, step
        self.batches, self.device, self.i = batches, device, 0

    def step(self) -> None:
        X, Y = self.batches[self.i % len(self.batches)]
        self.i += 1
        self._step(X, Y)

    @torch.no_grad()
    def perplexity(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        nll = 0.0
        for i in range(0, len(X), 256):
            logits = self.forward(X[i:i + 256])  # (W, T, V)
            nll += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), Y[i:i + 256].reshape(-1), reduction="sum"))
        return math.exp(nll / Y.numel())


def ours(V: int, H: int, fused: bool, batches: list, device: torch.device, seed: int) -> Side:
    torch.manual_seed(seed)
    model = models.create("rnn-lm", vocab_size=V, cell="lstm", hidden=H, fused=fused).to(device)
    opt = create_optimizer("sgd", model.parameters(), lr=LR)

    def step(X, Y):
        loss, _ = lm_loss(model, X, Y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(model.parameters(), CLIP)
        opt.step()

    return Side(model, lambda X: model(X)[0], step, batches, device)


def theirs(d2l: Any, V: int, H: int, fused: bool, batches: list, device: torch.device,
           seed: int) -> Side:
    torch.manual_seed(seed)
    LSTMScratch, LSTM = book_lstms(d2l)
    if fused:
        model = d2l.RNNLM(LSTM(V, H), vocab_size=V, lr=LR)
    else:
        model = d2l.RNNLMScratch(LSTMScratch(V, H), vocab_size=V, lr=LR)
    model.to(device)
    with torch.no_grad():
        model(batches[0][0])  # materialise d2l.RNNLM's LazyLinear before the optimizer
    model.to(device)
    opt = model.configure_optimizers()
    trainer = d2l.Trainer(max_epochs=1, gradient_clip_val=CLIP)

    def step(X, Y):
        # d2l.Trainer.fit_epoch's body, without plotting
        loss = model.loss(model(X), Y)
        opt.zero_grad()
        with torch.no_grad():
            loss.backward()
            trainer.clip_gradients(CLIP, model)
            opt.step()

    return Side(model, lambda X: model(X), step, batches, device)


def run(d2l: Any, ids: torch.Tensor, V: int, H: int, fused: bool, args: argparse.Namespace,
        device: torch.device) -> dict[str, Any]:
    cut = int(len(ids) * 0.9)
    loader = SequenceBatches(ids[:cut], args.batch, args.steps, sampling="random", seed=args.seed)
    batches: list = []
    epoch = 0
    while len(batches) < args.train_steps:
        batches += [(x.to(device), y.to(device)) for x, y in loader.batches(epoch)]
        epoch += 1
    a = ours(V, H, fused, batches, device, args.seed)
    b = theirs(d2l, V, H, fused, batches, device, args.seed)
    for _ in range(args.warmup):  # untimed; both sides train on the same first batches
        a.step()
        b.step()
    ta, tb = [], []
    while a.i < args.train_steps:
        n = min(args.inner, args.train_steps - a.i)
        ta.append(time_block(a.step, n, device))
        tb.append(time_block(b.step, n, device))
    val = ids[cut:]
    w = (len(val) - 1) // args.steps
    Xv = val[:w * args.steps].reshape(w, args.steps).to(device)  # (W, T)
    Yv = val[1:w * args.steps + 1].reshape(w, args.steps).to(device)  # (W, T)
    sa, sb = statistics.median(ta), statistics.median(tb)
    diff = None
    if fused:  # same initial weights: how far apart are they after training?
        mine = a.model.state_dict()
        names = {"rnn.rnn.": "rnn.", "linear.": "output."}
        diff = max((v - mine[next(n + k[len(p):] for p, n in names.items() if k.startswith(p))]
                    ).abs().max().item() for k, v in b.model.state_dict().items())
    return {"kind": "concise" if fused else "scratch", "hidden": H, "train_steps": a.i,
            "ours_ms_per_step": 1e3 * sa, "d2l_ms_per_step": 1e3 * sb, "ratio": sa / sb,
            "ours_val_ppl": a.perplexity(Xv, Yv), "d2l_val_ppl": b.perplexity(Xv, Yv),
            "max_weight_diff": diff}


def markdown_table(results: list[dict[str, Any]]) -> str:
    header = ("| kind | H | ours ms/step | d2l ms/step | ours/d2l | ours val ppl | d2l val ppl "
              "| max weight diff |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        diff = "-" if r["max_weight_diff"] is None else f"{r['max_weight_diff']:.1e}"
        lines.append(f"| {r['kind']} | {r['hidden']} | {r['ours_ms_per_step']:.2f} | "
                     f"{r['d2l_ms_per_step']:.2f} | {r['ratio']:.2f} | {r['ours_val_ppl']:.2f} | "
                     f"{r['d2l_val_ppl']:.2f} | {diff} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--corpus", default="austen",
                        help="austen (first 170,580 chars) or sample (the built-in sample text)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--kinds", nargs="+", choices=["concise", "scratch"],
                        default=["concise", "scratch"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=35, help="T, characters per row")
    parser.add_argument("--train-steps", type=int, default=300, help="training steps per side")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (counted)")
    parser.add_argument("--inner", type=int, default=10, help="steps per timed block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads on the CPU (default 1; 0 keeps torch's default)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda asked for, but torch sees no CUDA device; use --device cpu.",
              file=sys.stderr)
        return 2
    if min(args.batch, args.steps, args.train_steps, args.inner, *args.hidden) < 1 \
            or args.warmup < 0 or args.threads < 0 or args.warmup >= args.train_steps:
        print("--batch, --steps, --train-steps, --inner and --hidden must be >= 1, --warmup and "
              "--threads >= 0, and --warmup below --train-steps.", file=sys.stderr)
        return 2
    if args.threads and args.device == "cpu":
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    try:
        if args.corpus == "sample":
            from deepnotes.text import sample_text

            raw = sample_text()
        else:
            from deepnotes.data.corpora import load_corpus

            raw = load_corpus(args.corpus)
    except DeepnotesError as exc:
        print(f"{exc} (or pass --corpus sample)", file=sys.stderr)
        return 2
    ids, vocab, text = char_corpus(raw, max_chars=TIME_MACHINE_CHARS)
    d2l = import_d2l()
    t0 = time.perf_counter()
    results = [run(d2l, ids, len(vocab), H, kind == "concise", args, device)
               for H in args.hidden for kind in args.kinds]
    info = machine(device)
    where = info.get("gpu", f"{info['processor']}, {info['threads']} thread(s)")
    print(f"LSTM LM, ours vs d2l 1.0.3: {len(text):,} chars of {args.corpus} (d2l preprocessing, "
          f"{len(vocab)} tokens, 90/10 split), batch {args.batch} x {args.steps} steps, random "
          f"sampling, SGD lr {LR:g}, clip {CLIP:g}, {args.train_steps} steps per side, "
          f"device={args.device} ({where}), torch {info['torch']}")
    print()
    print(markdown_table(results))
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "lm-d2l", "device": args.device, "corpus": args.corpus,
                       "chars": len(text), "vocab": len(vocab), "batch": args.batch,
                       "steps": args.steps, "train_steps": args.train_steps, "lr": LR,
                       "clip": CLIP, "machine": info, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
