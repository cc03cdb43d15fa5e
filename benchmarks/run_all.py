"""Run every benchmark script in this folder one after another and print their tables.

Each ``bench_*.py`` is a standalone script that measures our implementation against its peer in
the same process (ratios ours/peer) and prints a markdown table; this runner passes ``--json``
so the numbers also land in ``bench-out/<name>.json``. Extra arguments go to every script,
e.g. ``python benchmarks/run_all.py --device cuda``.

Usage::

    make bench                               # CPU, a few minutes
    python benchmarks/run_all.py --device cuda
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    out = HERE.parent / "bench-out"
    out.mkdir(exist_ok=True)
    scripts = sorted(HERE.glob("bench_*.py"))
    print(f"# benchmarks on {platform.node()} ({platform.machine()}, {platform.python_version()})")
    failed = []
    for script in scripts:
        name = script.stem
        print(f"\n## {name}\n", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), "--json", str(out / f"{name}.json"), *argv])
        print(f"({name}: {time.perf_counter() - t0:.0f} s, exit {proc.returncode})", flush=True)
        if proc.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
