"""Self-attention vs an RNN: sequential steps, path length and time per sequence length.

Claim (notes A8; d2l 11.6): an RNN must read a sequence one step after another, so its work
and its time grow linearly with the length ``n`` (``n`` sequential steps; information from the
first token reaches the last through ``n - 1`` steps). Self-attention handles all positions at
once: a constant number of operations whatever ``n``, and every pair of positions is one step
apart (maximum path length 1), but it scores all ``n²`` pairs, so its cost grows
quadratically (``O(n² d)`` against the RNN's ``O(n d²)``). At equal width ``d`` on one CPU
thread, attention is faster for short sequences and slower beyond a crossover length.

Measured here (forward pass, no gradients, our fused layers, width ``d``): time per call for
each sequence length, the fitted growth exponents (time ∝ nᵏ), the crossover, the number of
tensor operations launched (counted while the formula paths run) and the FLOPs (counted by
``torch.utils.flop_counter``). The clock depends on torch's thread count while the lesson
runs: on one thread (``--threads 1``) it is that thread's CPU time (``time.thread_time``),
which does not count the time other processes on a busy machine take from it; on several
threads (the default ``threads = 0`` keeps torch's own count, all cores) it is wall-clock time
(``time.perf_counter``), since the work is spread over threads whose CPU time one thread's
clock would not see. The metric ``timing_threads`` records the count; other counts than one
give other times, exponents and crossover.

Measured (full mode, ``--threads 1``, B = 8, d = 64, CPU time): RNN time ∝ n^0.99, attention
∝ n^1.77 over n = 128..2048; attention is faster from n = 16 to 64 and slower beyond n ≈ 101
(9.1x slower at n = 2048); the RNN launches 178x more operations at n = 2048 than at n = 8,
attention the same 41.

Data: random inputs ``(B, n, d)``; nothing to download.

Notes: A8, A4, R2.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.nn import RNN, MultiHeadAttention

NAME = "self-attention-vs-rnn"
SUMMARY = "RNN time grows linearly (n sequential steps), self-attention is parallel but O(n²) (A8)"
CONCEPTS = ("A8", "A4", "R2")


@dataclass
class Config(LessonConfig):
    # quick: lengths 16, 64, 256, 1024, 3 timed blocks of 10 ms each (tests)
    QUICK = {"lengths": (16, 64, 256, 1024), "repeats": 3, "block_seconds": 0.01}

    width: int = 64  # d: RNN hidden size = attention embedding size = input size
    heads: int = 4  # attention heads
    batch_size: int = 8  # B sequences per forward pass
    lengths: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)  # n values to time
    repeats: int = 7  # timed blocks per (model, n); the median is reported
    block_seconds: float = 0.03  # each timed block repeats the call for at least this long


class _OpCounter(TorchDispatchMode):
    """Counts the tensor operations (aten calls) launched inside the block."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _models(cfg: Config, fused: bool) -> dict[str, nn.Module]:
    torch.manual_seed(cfg.seed)
    return {"rnn": RNN(cfg.width, cfg.width, fused=fused).eval(),
            "attention": MultiHeadAttention(cfg.width, cfg.heads, fused=fused).eval()}


def _call(name: str, model: nn.Module, x: Tensor) -> Tensor:
    # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b), t = 1..n: n steps in a row
    if name == "rnn":
        return model(x)[0]
    # O = softmax(Q K^T / sqrt(d)) V for all n queries at once
    return model(x, x, x)[0]


def operation_count(name: str, model: nn.Module, x: Tensor) -> int:
    """Tensor operations launched by one forward pass (formula paths: one per step of a loop)."""
    with torch.no_grad(), _OpCounter() as counter:
        _call(name, model, x)
    return counter.count


def flop_count(name: str, model: nn.Module, x: Tensor) -> int:
    """FLOPs of the matrix products of one forward pass (torch's flop counter)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        _call(name, model, x)
    return int(counter.get_total_flops())


def _time(fns: dict[str, callable], repeats: int, block_seconds: float,
          clock=time.perf_counter) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternating blocks."""
    inner = {}
    for name, fn in fns.items():
        fn()  # warm-up
        start = clock()
        fn()
        once = max(clock() - start, 1e-6)
        inner[name] = max(1, math.ceil(block_seconds / once))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            for _ in range(inner[name]):
                fn()
            samples[name].append((clock() - start) / inner[name])
    return {name: statistics.median(s) for name, s in samples.items()}


def growth_exponent(lengths: list[int], seconds: list[float]) -> float:
    """Least-squares slope ``k`` of ``log t = k log n + c``: time grows like ``n^k``."""
    xs = [math.log(n) for n in lengths]
    ys = [math.log(s) for s in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def crossover(lengths: list[int], rnn: list[float], att: list[float]) -> float:
    """Length where attention becomes slower than the RNN for good (log-interpolated).

    ``lengths[0]`` if attention is never faster, ``inf`` if it is never slower.
    """
    ratio = [math.log(a / r) for a, r in zip(att, rnn)]  # > 0: attention slower
    last_fast = max((i for i, v in enumerate(ratio) if v <= 0), default=None)
    if last_fast is None:
        return float(lengths[0])
    if last_fast == len(lengths) - 1:
        return math.inf
    i = last_fast
    # log n where the log-ratio crosses 0 between points i and i+1
    w = ratio[i] / (ratio[i] - ratio[i + 1])
    return math.exp(math.log(lengths[i]) + w * (math.log(lengths[i + 1]) - math.log(lengths[i])))


def timing_clock() -> tuple[Callable[[], float], str]:
    """The clock for torch's current thread count, and its name.

    One thread does all the work: its CPU time (``time.thread_time``) does not count the time
    other processes on a busy machine take from it. Several threads (``threads = 0``: torch's
    default, all cores): wall-clock time (``time.perf_counter``), since the calling thread's
    CPU time would miss the work of the others.
    """
    if torch.get_num_threads() == 1:
        return time.thread_time, "CPU time, 1 thread"
    return time.perf_counter, f"wall clock, {torch.get_num_threads()} threads"


def run(cfg: Config, out_dir: Path) -> LessonResult:
    lengths = sorted(cfg.lengths)
    repeats, block = cfg.repeats, cfg.block_seconds
    # Lesson.run has set the thread count (cfg.threads; 0 keeps torch's own)
    clock, clock_name = timing_clock()
    fused = _models(cfg, fused=True)
    formula = _models(cfg, fused=False)
    gen = torch.Generator().manual_seed(cfg.seed)
    rows = []
    with torch.no_grad():
        for n in lengths:
            x = torch.randn(cfg.batch_size, n, cfg.width, generator=gen)
            t = _time({k: (lambda k=k, x=x: _call(k, fused[k], x)) for k in fused}, repeats, block,
                      clock)
            row = {"length": n, "rnn_ms": 1e3 * t["rnn"], "attention_ms": 1e3 * t["attention"]}
            for k in formula:
                row[f"{k}_ops"] = operation_count(k, formula[k], x)
                row[f"{k}_gflops"] = flop_count(k, formula[k], x) / 1e9
            # sequential steps and longest path between two positions (d2l Table 11.6)
            row.update(rnn_sequential=n, attention_sequential=1, rnn_max_path=n - 1,
                       attention_max_path=1)
            rows.append(row)

    rnn_s = [r["rnn_ms"] for r in rows]
    att_s = [r["attention_ms"] for r in rows]
    top = [i for i, n in enumerate(lengths) if n >= statistics.median(lengths)]
    first, last = rows[0], rows[-1]
    metrics = {
        "rnn_exponent": growth_exponent([lengths[i] for i in top], [rnn_s[i] for i in top]),
        "attention_exponent": growth_exponent([lengths[i] for i in top], [att_s[i] for i in top]),
        "crossover_length": crossover(lengths, rnn_s, att_s),
        "attention_over_rnn_shortest": first["attention_ms"] / first["rnn_ms"],
        "attention_over_rnn_longest": last["attention_ms"] / last["rnn_ms"],
        # ops and FLOPs when n grows by the factor lengths[-1] / lengths[0]
        "length_factor": lengths[-1] / lengths[0],
        "rnn_ops_factor": last["rnn_ops"] / first["rnn_ops"],
        "attention_ops_factor": last["attention_ops"] / first["attention_ops"],
        "rnn_flops_factor": last["rnn_gflops"] / first["rnn_gflops"],
        "attention_flops_factor": last["attention_gflops"] / first["attention_gflops"],
        "rnn_max_path_longest": float(last["rnn_max_path"]),
        "attention_max_path_longest": 1.0,
        # O(n² d) = O(n d²) at n = d: where the quadratic term overtakes
        "theory_crossover_length": float(cfg.width),
        "width": float(cfg.width),
        # torch threads while timing (1: CPU time of the thread, more: wall-clock time)
        "timing_threads": float(torch.get_num_threads()),
    }

    fig, axes = subplots(1, 2, figsize=(11, 4.2))
    axes[0].loglog(lengths, rnn_s, "o-", label=f"RNN (k = {metrics['rnn_exponent']:.2f})")
    axes[0].loglog(lengths, att_s, "s-",
                   label=f"self-attention (k = {metrics['attention_exponent']:.2f})")
    if math.isfinite(metrics["crossover_length"]):
        axes[0].axvline(metrics["crossover_length"], color="gray", ls=":",
                        label=f"crossover n ≈ {metrics['crossover_length']:.0f}")
    axes[0].set_xlabel("sequence length n")
    axes[0].set_ylabel("forward time (ms)")
    axes[0].set_title(f"time ∝ n^k (B={cfg.batch_size}, d={cfg.width}, {clock_name})",
                      fontsize=10)
    axes[0].legend(fontsize=8)
    axes[1].loglog(lengths, [r["rnn_ops"] for r in rows], "o-", label="RNN: operations")
    axes[1].loglog(lengths, [r["attention_ops"] for r in rows], "s-",
                   label="self-attention: operations")
    axes[1].loglog(lengths, [r["rnn_max_path"] for r in rows], "o:", label="RNN: max path")
    axes[1].loglog(lengths, [r["attention_max_path"] for r in rows], "s:",
                   label="self-attention: max path")
    axes[1].set_xlabel("sequence length n")
    axes[1].set_title("sequential work: n steps vs one parallel step")
    axes[1].legend(fontsize=8)
    path = save_figure(fig, out_dir / "self_attention_vs_rnn.png")

    claim = (f"RNN time grows like n^{metrics['rnn_exponent']:.2f} (n sequential steps, path "
             f"n-1); self-attention launches the same {last['attention_ops']} operations for "
             f"every n (path 1) but its time grows like n^{metrics['attention_exponent']:.2f}; "
             f"it is faster than the RNN below n ≈ {metrics['crossover_length']:.0f} "
             f"(d = {cfg.width}) and {metrics['attention_over_rnn_longest']:.1f}x slower at "
             f"n = {lengths[-1]}")
    return LessonResult(NAME, metrics, [path], rows, claim=claim, tables={"timings": rows})
