"""Benchmark: `mash synth` for one night of a town of 100,000 children (target: at most 60 s).

Each run is a fresh `mash synth` process writing into a temporary directory; the script reports wall seconds and
the process's peak resident memory (from the kernel's rusage of the finished child), then min, median and max.

    .venv/bin/python bench/synth.py                 # 5 runs, 100,000 children, 1 night
    .venv/bin/python bench/synth.py --runs 3 --children 20000 --nights 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MASH = Path(sys.executable).with_name("mash")


def one_run(children: int, nights: int, seed: int) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp(prefix="mash-bench-synth-"))
    try:
        started = time.perf_counter()
        pid = subprocess.Popen([str(MASH), "synth", "--children", str(children), "--seed", str(seed),
                                "--nights", str(nights), "--out", str(out)], stdout=subprocess.DEVNULL).pid
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"mash synth failed with status {status}")
        return seconds, usage.ru_maxrss / 1024
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--nights", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = [one_run(args.children, args.nights, args.seed) for _ in range(args.runs)]
    seconds = [s for s, _ in results]
    print("| runs | children | nights | min s | median s | max s | peak RSS MB (max) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.runs} | {args.children:,} | {args.nights} | {min(seconds):.1f} | {statistics.median(seconds):.1f} "
          f"| {max(seconds):.1f} | {max(m for _, m in results):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
