"""Benchmark: validate a 1,000,000-row extract with the expectation suites, against ingesting the same extract.

What it measures
    For one health drop made by bench/ingest.py's generator (``--rows`` events, 1,000,000 by default, and a tenth
    as many persons; 0.5% deliberately bad rows, quarantined at ingestion), each run, in a fresh process with a
    fresh MASH_HOME and SQLite store: the wall time of ``mash.ingest.ingest_agency("health", ...)`` and then of
    ``mash.quality.validate_agency("health", ...)`` on the batch it loaded: reading both files' loaded rows back
    from the store and typing them, running the 24 expectations of expectations/health/*.json through GX
    checkpoints, writing the results and rebuilding the Data Docs. Target: validation at most twice the ingest.

    The generator's NHS numbers are random digits, so most fail their check digit and its events are spread over
    a year before the extract date: expect the warning on NHS numbers and, depending on the draw, freshness. The
    verdict and the failed checks are printed with the timings; the figure is the time either way, since every
    expectation runs whatever the verdict.

Usage (from the repository root)
    .venv/bin/python bench/validate.py                 # 3 runs, 1,000,000 events
    .venv/bin/python bench/validate.py --runs 1 --rows 200000
    .venv/bin/python bench/validate.py --runs 1 --profile /tmp/validate.prof
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_ingest", REPO_ROOT / "bench" / "ingest.py")
bench_ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_ingest)


def one_run(home_dir: Path, profile: str | None) -> dict:
    os.environ["MASH_HOME"] = str(home_dir)
    from mash.home import Home
    from mash.ingest import ingest_agency
    from mash.quality import validate_agency
    from mash.store import migrate

    home = Home(home_dir)
    engine = migrate(home.db_url())
    start = time.perf_counter()
    [ingested] = ingest_agency(bench_ingest.AGENCY, home, engine)
    ingest_seconds = time.perf_counter() - start
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    [validated] = validate_agency(bench_ingest.AGENCY, home, engine)
    validate_seconds = time.perf_counter() - start
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    from sqlalchemy import select
    from mash.store.schema import quality_check
    with engine.connect() as conn:
        failed = [f"{r.contract_file}: {r.expectation} on {r.column_name} ({r.severity})" for r in conn.execute(
            select(quality_check).where(quality_check.c.success.is_(False)))]
    return {"ingest_seconds": ingest_seconds, "validate_seconds": validate_seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rows_loaded": ingested.rows_loaded, "verdict": validated.verdict, "checks": validated.checks,
            "failed": failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profile", metavar="PATH", help="cProfile the validation of the first run into PATH")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_run:
        print(json.dumps(one_run(args.home, args.profile)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="mash-bench-validate-"))
    try:
        (work / "extract").mkdir()
        extract = bench_ingest.generate(work / "extract", args.rows)
        results = []
        for n in range(1, args.runs + 1):
            home_dir = bench_ingest.prepare_home(work / f"home-{n}", extract)
            command = [sys.executable, str(Path(__file__).resolve()), "--one-run", "--home", str(home_dir)]
            if args.profile and n == 1:
                command += ["--profile", args.profile]
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=REPO_ROOT)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            bench_ingest.log(f"run {n}/{args.runs}: ingest {result['ingest_seconds']:.1f} s, validate "
                             f"{result['validate_seconds']:.1f} s, peak {result['peak_mb']:,.0f} MB, "
                             f"{result['verdict']}")
            results.append(result)
            shutil.rmtree(home_dir, ignore_errors=True)
        ingest = statistics.median(r["ingest_seconds"] for r in results)
        validate = statistics.median(r["validate_seconds"] for r in results)
        print(f"{extract['events']:,} events + {extract['persons']:,} persons; {len(results)} run(s); "
              f"{bench_ingest.describe_machine()}\n")
        print("| run | ingest s | validate s | ratio | peak RSS MB | verdict |")
        print("|---:|---:|---:|---:|---:|---|")
        for i, r in enumerate(results, start=1):
            print(f"| {i} | {r['ingest_seconds']:.1f} | {r['validate_seconds']:.1f} | "
                  f"{r['validate_seconds'] / r['ingest_seconds']:.2f} | {r['peak_mb']:,.0f} | {r['verdict']} |")
        print(f"\nmedian ingest {ingest:.1f} s, median validation {validate:.1f} s, ratio {validate / ingest:.2f} "
              f"(target at most 2: {'met' if validate <= 2 * ingest else 'NOT met'})")
        print("failed checks (first run): " + "; ".join(results[0]["failed"]))
        if args.profile:
            bench_ingest.print_profile(args.profile, 30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
