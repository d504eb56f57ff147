"""Link speed and memory: a full relink of a population, and an incremental night's delta against it.

What it does
    Reads INPUT.csv (person schema, e.g. the input.csv that bench/link_quality.py writes) and, ``--runs`` times,
    each in a fresh Python process:

      full         ``mash.link.link(records)`` on every record: the wall seconds of link() itself and of its steps,
                   and the process's peak resident memory (ru_maxrss), reading the CSV included
      incremental  with ``--delta N``: "last night" is the input without N records, of which a quarter are
                   kept but changed (their postcode and address were different last night) and the rest are new
                   tonight; link() runs in full on last night once (not timed: it is the full relink above),
                   then tonight's records are linked incrementally against it ``--runs`` times in that process
                   (each timed): N records scored, the rest kept. The process's peak memory includes last night's
                   full relink.

    Prints one JSON line per run and a markdown table with the minimum, median and maximum.

Usage (from the repository root)
    .venv/bin/python bench/link_quality.py --children 220000 --out /tmp/lq400k --matcher none   # ~400,000 records
    .venv/bin/python bench/link_speed.py /tmp/lq400k/input.csv --runs 3
    .venv/bin/python bench/link_speed.py /tmp/lq1m/input.csv --runs 3 --delta 10000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _worker(input_csv: str, delta: int, seed: int, repeat: int) -> list[dict]:
    import numpy as np
    import pandas as pd
    from mash.link import Previous, link

    records = pd.read_csv(input_csv, dtype=str, keep_default_na=False, encoding="utf-8")
    if not delta:
        started = time.perf_counter()
        result = link(records)
        seconds = time.perf_counter() - started
        return [{"mode": "full", "records": len(records), "seconds": round(seconds, 2),
                 "steps": result.stats["seconds"], "candidate_pairs": result.stats["candidate_pairs"],
                 "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(records), size=delta, replace=False)
    changed, new = chosen[: delta // 4], chosen[delta // 4:]
    earlier = records.drop(index=new).copy()
    earlier.loc[changed, "postcode"] = ""
    earlier.loc[changed, "address"] = "1 Old Road"
    before = link(earlier)
    pairs = before.pairs[before.pairs["decision"] != "non-link"]
    previous = Previous(pd.Series(before.fingerprints, index=before.clusters["record_id"].to_numpy()),
                        pairs.drop(columns=pairs.filter(regex="^l_").columns), before.model, len(earlier))
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = link(records, previous=previous)
        seconds = time.perf_counter() - started
        runs.append({"mode": "incremental", "records": len(records),
                     "records_rescored": result.stats["records_rescored"], "pairs_kept": result.stats["pairs_kept"],
                     "seconds": round(seconds, 2), "steps": result.stats["seconds"],
                     "candidate_pairs": result.stats["candidate_pairs"],
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, metavar="INPUT.csv")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delta", type=int, default=0, help="records new or changed tonight (incremental)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        for run in _worker(str(args.input), args.delta, args.seed, args.repeat):
            print(json.dumps(run))
        return 0
    runs = []
    processes, repeat = (1, args.runs) if args.delta else (args.runs, 1)
    for process in range(processes):
        output = subprocess.run([sys.executable, __file__, str(args.input), "--worker", "--delta", str(args.delta),
                                 "--seed", str(process + 1), "--repeat", str(repeat)],
                                check=True, capture_output=True, text=True).stdout
        for line in output.strip().splitlines():
            runs.append(json.loads(line))
            print(line, flush=True)
    seconds = sorted(r["seconds"] for r in runs)
    memory = sorted(r["peak_rss_mb"] for r in runs)
    print(f"\n| mode | records | runs | min s | median s | max s | median peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|"
          f"\n| {runs[0]['mode']} | {runs[0]['records']:,} | {len(runs)} | {seconds[0]} | "
          f"**{statistics.median(seconds)}** | {seconds[-1]} | {statistics.median(memory):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
