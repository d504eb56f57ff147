"""Benchmark: publish the shared view and chronology for a town of 100,000 children.

What it measures
    The wall time and peak memory of ``mash.sharing.publication.publish`` on a store holding one night of every
    agency's extract for ``--children`` generated children (100,000 by default), already ingested and matched:
    reading each agency's current rows, building the identities, involvement and chronology, judging consent,
    significant harm and public-interest decisions, deciding every recipient x child x data class, writing the
    audit entries (the first publication audits every decision, the worst case) and the publication, and making
    it current.

How
    The town is generated, delivered, ingested and matched once (not timed) into ``--work`` (kept, so a second
    invocation reuses it). Each run copies the prepared SQLite store and, in a fresh Python process, times
    ``publish`` and reports the process's peak resident memory (``ru_maxrss``).

Usage (from the repository root)
    .venv/bin/python bench/publish.py                     # 3 runs, 100,000 children
    .venv/bin/python bench/publish.py --children 20000 --runs 5

Targets: at most 60 s and at most 4 GB peak for 100,000 children.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

NIGHT = date(2026, 11, 2)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(work: Path, children: int) -> Path:
    from mash.contracts import agencies
    from mash.delivery import deliver
    from mash.home import Home
    from mash.ingest import ingest_agency
    from mash.link.population import match_children
    from mash.store import migrate
    from mash.synth import generate
    home = Home(work / "home")
    store = home.root / "mash.db"
    if (work / "prepared").exists():
        return store
    shutil.rmtree(work, ignore_errors=True)
    home.ensure()
    engine = migrate(home.db_url())
    started = time.perf_counter()
    generate(children=children, seed=1, nights=1, out=work / "synth", start=NIGHT)
    deliver(work / "synth" / "night-01", home)
    for agency in agencies():
        ingest_agency(agency, home, engine)
    summary = match_children(engine, "night-1")
    log(f"prepared {summary.records} records, {summary.children} children in {time.perf_counter() - started:.0f} s")
    (work / "prepared").write_text("ok")
    return store


def one_run(store: Path) -> None:
    from mash.sharing.publication import publish
    from mash.store import engine_for
    engine = engine_for(f"sqlite:///{store}")
    started = time.perf_counter()
    summary = publish(engine, "night-1", NIGHT)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **summary.as_dict()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mash-bench-publish"))
    parser.add_argument("--one-run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        one_run(args.one_run)
        return
    store = prepare(args.work / str(args.children), args.children)
    results = []
    for run in range(args.runs):
        copy = store.with_name(f"run-{run}.db")
        shutil.copyfile(store, copy)
        load = os.getloadavg()[0]
        out = subprocess.run([sys.executable, __file__, "--one-run", str(copy)], check=True, capture_output=True,
                             text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        result["load"] = load
        results.append(result)
        copy.unlink()
        log(f"run {run + 1}: {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB, load {load:.1f}")
    last = results[-1]
    print("| children in view | chronology entries | decisions | median s (min-max) | peak MB | runs |")
    print("|---|---|---|---|---|---|")
    seconds = [r["seconds"] for r in results]
    print(f"| {last['children']:,} | {last['chronology_entries']:,} | {last['disclosures'] + last['withheld']:,} | "
          f"{statistics.median(seconds):.1f} ({min(seconds):.1f}-{max(seconds):.1f}) | "
          f"{max(r['peak_mb'] for r in results):.0f} | {len(results)} |")


if __name__ == "__main__":
    main()
