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
                   (each timed): N records scored, the rest kept. As the nightly run does, last night's features
                   are remembered in a file (mash.link.incremental.remember) and each timed run starts by
                   reading it back (``recall``, timed); ``--forget`` works out every record's features instead.
                   With ``--fresh`` each timed run is a fresh process (as a nightly task is: no memory or caches
                   warmed by last night's relink) that reads the input and last night's state, untimed, first.
                   The process's peak memory includes last night's full relink.

      partitioned  with ``--partitions N``: each run is a pair of fresh processes on the same input, one-process
                   ``link()`` then ``mash.link.partitions.link_in_partitions`` with the comparisons in N
                   partitions over ``--processes P`` worker processes (default N): the wall seconds of each
                   stage (prepare and write the work, compare the partitions, read them back and finish), the
                   peak memory of the main process and of the largest worker, the size of the work files, and
                   a digest of the clusters and pairs, which must equal link()'s.

    Prints one JSON line per run and a markdown table with the minimum, median and maximum.

Usage (from the repository root)
    .venv/bin/python bench/link_quality.py --children 220000 --out /tmp/lq400k --matcher none   # ~400,000 records
    .venv/bin/python bench/link_speed.py /tmp/lq400k/input.csv --runs 3
    .venv/bin/python bench/link_speed.py /tmp/lq1m/input.csv --runs 3 --delta 10000 [--forget] [--fresh]
    .venv/bin/python bench/link_speed.py /tmp/lq400k/input.csv --runs 3 --partitions 2
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _digest(result) -> str:
    """Of the clusters and pairs: equal digests, equal results."""
    import pandas as pd
    return "%016x" % (int(pd.util.hash_pandas_object(result.clusters, index=False).sum())
                      ^ int(pd.util.hash_pandas_object(result.pairs, index=False).sum()))


def _partitioned(input_csv: str, partitions: int, processes: int) -> dict:
    import pandas as pd
    from mash.link import prepare
    from mash.link.partitions import combine, compare_partitions, remove, split

    records = pd.read_csv(input_csv, dtype=str, keep_default_na=False, encoding="utf-8")
    directory = Path(tempfile.mkdtemp(prefix="mash-bench-partitions-")) / "work"
    started = time.perf_counter()
    numbers = split(prepare(records), partitions, directory)
    planned = time.perf_counter()
    compare_partitions(directory, numbers, processes)
    compared = time.perf_counter()
    written_mb = sum(path.stat().st_size for path in directory.iterdir()) / 1e6
    result, _ = combine(directory)
    seconds = time.perf_counter() - started
    combined = time.perf_counter() - compared
    remove(directory)
    return {"mode": f"{partitions} partitions, {processes} processes", "records": len(records),
            "seconds": round(seconds, 2),
            "stages": {"prepare_and_write": round(planned - started, 2), "compare": round(compared - planned, 2),
                       "read_and_finish": round(combined, 2)},
            "steps": result.stats["seconds"], "candidate_pairs": result.stats["candidate_pairs"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            "work_files_mb": round(written_mb),
            "digest": _digest(result)}


def _worker(input_csv: str, delta: int, seed: int, repeat: int, remember: bool, work: str = "",
            stage: str = "") -> list[dict]:
    """Runs in a fresh process. ``stage`` (with ``work``, a directory): "last-night" only relinks last night and
    leaves it in ``work``; "tonight" links tonight once against what "last-night" left (a fresh process, as a
    nightly task is)."""
    import pickle

    import numpy as np
    import pandas as pd
    from mash.link import Previous, incremental, link

    records = pd.read_csv(input_csv, dtype=str, keep_default_na=False, encoding="utf-8")
    if not delta:
        started = time.perf_counter()
        result = link(records)
        seconds = time.perf_counter() - started
        return [{"mode": "full", "records": len(records), "seconds": round(seconds, 2),
                 "steps": result.stats["seconds"], "candidate_pairs": result.stats["candidate_pairs"],
                 "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                 "digest": _digest(result)}]
    directory = Path(work or tempfile.mkdtemp(prefix="mash-bench-delta-"))
    remembered = directory / "features.npz"
    if stage == "tonight":
        previous = pickle.loads((directory / "previous.pickle").read_bytes())
    else:
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
        if remember:
            incremental.remember(remembered, before.features, before.fingerprints)
        del before
        if stage == "last-night":
            (directory / "previous.pickle").write_bytes(pickle.dumps(previous))
            return []
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        features = incremental.recall(remembered) if remember else None
        recalled = time.perf_counter() - started
        result = link(records, previous=previous, remembered=features)
        seconds = time.perf_counter() - started
        runs.append({"mode": "incremental" + (", features remembered" if remember else "")
                     + (", fresh process" if stage else ""),
                     "records": len(records),
                     "records_rescored": result.stats["records_rescored"], "pairs_kept": result.stats["pairs_kept"],
                     "features_remembered": result.stats["features_remembered"],
                     "seconds": round(seconds, 2), "steps": {"recall": round(recalled, 3), **result.stats["seconds"]},
                     "candidate_pairs": result.stats["candidate_pairs"],
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                     "digest": _digest(result)})
    if not work:
        shutil.rmtree(directory)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, metavar="INPUT.csv")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delta", type=int, default=0, help="records new or changed tonight (incremental)")
    parser.add_argument("--partitions", type=int, default=0,
                        help="also link in N partitions, alternating with one-process runs")
    parser.add_argument("--processes", type=int, default=0, help="worker processes for --partitions (default N)")
    parser.add_argument("--forget", action="store_true",
                        help="with --delta: work out every record's features, not last night's remembered ones")
    parser.add_argument("--fresh", action="store_true",
                        help="with --delta: each of the runs in a fresh process, as a nightly task is")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    parser.add_argument("--stage", default="", choices=["", "last-night", "tonight"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.delta and args.partitions:
        parser.error("--partitions times a full relink; not with --delta")
    if args.worker:
        runs = ([_partitioned(str(args.input), args.partitions, args.processes or args.partitions)]
                if args.partitions else _worker(str(args.input), args.delta, args.seed, args.repeat,
                                                not args.forget, args.work, args.stage))
        for run in runs:
            print(json.dumps(run))
        return 0
    runs = []

    def worker(*options: str) -> None:
        output = subprocess.run([sys.executable, __file__, str(args.input), "--worker", *options],
                                check=True, capture_output=True, text=True).stdout
        for line in output.strip().splitlines():
            runs.append(json.loads(line))
            print(line, flush=True)

    delta = ["--delta", str(args.delta), *(["--forget"] if args.forget else [])]
    if args.delta and args.fresh:
        work = tempfile.mkdtemp(prefix="mash-bench-delta-")
        worker(*delta, "--work", work, "--stage", "last-night")
        for _ in range(args.runs):
            worker(*delta, "--work", work, "--stage", "tonight")
        shutil.rmtree(work)
    elif args.delta:
        worker(*delta, "--repeat", str(args.runs))
    for process in range(0 if args.delta else args.runs):
        worker(*delta, "--seed", str(process + 1))
        if args.partitions:
            worker("--partitions", str(args.partitions), "--processes", str(args.processes))
    print("\n| mode | records | runs | min s | median s | max s | median peak RSS MB (main; largest worker) |"
          "\n|---|---:|---:|---:|---:|---:|---:|")
    for mode in dict.fromkeys(r["mode"] for r in runs):
        these = [r for r in runs if r["mode"] == mode]
        seconds = sorted(r["seconds"] for r in these)
        memory = f"{statistics.median(r['peak_rss_mb'] for r in these):,.0f}"
        if "worker_peak_rss_mb" in these[0]:
            memory += f"; {statistics.median(r['worker_peak_rss_mb'] for r in these):,.0f}"
        print(f"| {mode} | {these[0]['records']:,} | {len(these)} | {seconds[0]} | "
              f"**{round(statistics.median(seconds), 2)}** | {seconds[-1]} | {memory} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
