"""Benchmark: the board's monthly report for a town of 100,000 children (target: at most 60 s).

What it measures
    The wall time of ``mash report board --month 2026-11 --out DIR`` (a fresh process each run: reading each
    agency's published batch from the store, every figure, the charts, the HTML and the PDF printed by headless
    Chromium) on a store holding one synthetic night of ``--children`` children (100,000 by default: about
    182,000 person records and 1.1 million rows), ingested, validated and matched. The setup is not timed; the
    store is built once and every run reads the same one (the report changes nothing in it).

Usage (from the repository root)
    .venv/bin/python bench/report.py                      # 3 runs, 100,000 children, with matching
    .venv/bin/python bench/report.py --children 20000 --runs 1
    .venv/bin/python bench/report.py --no-match           # skip matching in the setup (matched shares are 0)
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
from datetime import date
from pathlib import Path

MASH = Path(sys.executable).with_name("mash")
TARGET_SECONDS = 60.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mash(*args: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([str(MASH), *args], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-match", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mash-bench-report-"))
    env = {**os.environ, "MASH_HOME": str(work / "home")}
    env.pop("MASH_DB_URL", None)
    try:
        steps = [("synth", ["synth", "--children", str(args.children), "--seed", "1", "--nights", "1",
                            "--out", str(work / "synth"), "--start", date(2026, 11, 2).isoformat()]),
                 ("deliver", ["deliver", str(work / "synth" / "night-01")]),
                 ("ingest", ["ingest"]), ("validate", ["validate"])]
        if not args.no_match:
            steps.append(("match", ["match", "--run-id", "bench"]))
        for name, command in steps:
            log(f"setup: {name} took {mash(*command, env=env):.1f} s")
        seconds = []
        for n in range(1, args.runs + 1):
            out = work / f"report-{n}"
            seconds.append(mash("report", "board", "--month", "2026-11", "--out", str(out), env=env))
            pages = subprocess.run(["pdfinfo", str(out / "board-2026-11.pdf")], capture_output=True, text=True,
                                   check=True).stdout.split("Pages:")[1].split()[0]
            log(f"run {n}/{args.runs}: {seconds[-1]:.1f} s, PDF of {pages} pages")
        print(f"board report, {args.children:,} children, {args.runs} run(s): min {min(seconds):.1f} s, "
              f"median {statistics.median(seconds):.1f} s, max {max(seconds):.1f} s "
              f"(target at most {TARGET_SECONDS:.0f} s: {'met' if max(seconds) <= TARGET_SECONDS else 'NOT met'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
