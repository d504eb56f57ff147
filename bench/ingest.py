"""Benchmark: ingest one agency's nightly drop of a 1,000,000-row extract.

What it measures
    The wall time and peak memory of ``mash.ingest.ingest_agency("health", home, engine)`` on one sealed drop
    from the health agency: a ``persons`` file (``--rows / 10`` children, 100,000 by default) and an ``events``
    file (``--rows`` contacts, 1,000,000 by default; that is the 1M-row extract). Both files follow
    ``plugins/mash/contracts/health.yaml``; about 0.5% of the rows are deliberately bad (dates that do not exist
    or are in the wrong form, codes outside the code list, an empty required value) so the quarantine path is
    exercised as well as the load path. The timed section is the whole of ``ingest_agency``: reading the
    manifest, archiving and hashing the files, parsing and typing them in chunks, inserting the rows and the
    quarantine entries in one transaction, and clearing the landing zone.

How
    The extract is generated once (numpy/pandas, not timed) into a temporary directory. Each repetition then gets
    a fresh MASH_HOME in its own temporary directory and a fresh store (SQLite file in that MASH_HOME, or a new
    database on the PostgreSQL server given by ``--db-url``), the files are copied into
    ``landing/health/`` and sealed with ``mash.landing.seal_drop``, and the script re-invokes itself with
    ``--one-run`` in a fresh Python process that migrates the store (not timed), times the ingest and reports
    the process's peak resident memory (``ru_maxrss``), so each run's peak is its own.

Usage (from the repository root)
    .venv/bin/python bench/ingest.py                      # 5 runs on SQLite, 1,000,000 events
    .venv/bin/python bench/ingest.py --runs 3 --rows 200000
    .venv/bin/python bench/ingest.py --db-url postgresql+psycopg://mash@127.0.0.1:5432/postgres
    .venv/bin/python bench/ingest.py --throwaway-postgres --runs 1   # starts and stops a server (tests/postgres.py)
    .venv/bin/python bench/ingest.py --runs 1 --profile /tmp/ingest.prof   # cProfile one run, print hot spots

``--db-url`` names a PostgreSQL server and a database the user may connect to; the script creates (and drops
afterwards) one database ``mash_bench_<pid>_<n>`` per run, so the user needs CREATEDB. Output is a markdown table
on stdout; progress goes to stderr. Targets: at most 30 s and at most 2 GB peak per ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
AGENCY = "health"
EXTRACT_DATE = date(2025, 3, 14)
BAD_FRACTION = 0.005
TARGET_SECONDS = 30.0
TARGET_PEAK_MB = 2048.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# Generating the extract (not timed)
# --------------------------------------------------------------------------------------------------------------

GIVEN = ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Sophia", "Grace", "Noah", "Oliver",
         "George", "Arthur", "Muhammad", "Leo", "Harry", "Oscar", "Archie", "Henry", "Jack", "Theo", "Charlie",
         "Aisha", "Zara", "Priya", "Kacper", "Oluwaseun", "Siobhan", "Rhys"]
FAMILY = ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
          "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
          "Khan", "Ali", "Patel", "Begum", "Nowak", "O'Brien", "Okafor", "Murphy", "Kaur", "Lewis"]
STREETS = ["High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane",
           "Queens Road", "The Crescent", "Albert Street", "Manor Way", "Kingsway", "Orchard Close"]
TOWNS = ["Northam", "Eastbury", "Westford", "Southwick", "Ashby", "Brookfield", "Castleton", "Dunmore"]
SITES = ["Northam General ED", "Northam General Maternity", "Eastbury Health Centre", "Westford CAMHS",
         "Southwick Sexual Health Clinic", "Ashby School Nursing Team", "Brookfield Health Visiting Team",
         "Castleton Walk-in Centre", "Dunmore GP Surgery"]
ROLES = ["Health Visitor", "School Nurse", "Midwife", "ED Nurse", "Paediatric Registrar", "GP",
         "CAMHS Practitioner", "Safeguarding Nurse", "Sexual Health Nurse"]
EVENT_TYPES = ["BIRTH", "AE", "HV", "SN", "GP", "MW", "SH", "CAMHS", "SM", "TOP"]
EVENT_WEIGHTS = [0.02, 0.25, 0.22, 0.12, 0.10, 0.08, 0.06, 0.08, 0.04, 0.03]
REASONS = [
    "Attended with injury to left arm, mother reports fall from sofa; delay in presentation of two days",
    "Routine contact; home conditions poor, dog in home, parent tired and low in mood",
    "Not brought to appointment for the third time, letter sent and GP informed",
    "Presented intoxicated with friends late evening, discharged to care of aunt",
    "Disclosed arguments at home, parent's partner shouts, no physical harm disclosed",
    "Weight faltering, referred to paediatric dietitian, follow-up in four weeks",
    "Self-harm, superficial cuts to forearm; seen by liaison team and safety plan agreed",
    "Antenatal booking at 22 weeks, late booker, no partner present, housing unstable",
    "School reports frequent absence and hunger; school nurse review requested",
    "Contact for contraception advice, age noted, safeguarding checklist completed",
    "Burn to hand, explanation consistent with developmental stage, advice given",
    "Parent declined health visitor visit, second refusal; discussed with named nurse",
]


def _pick(rng, choices: list[str], n: int, p=None):
    import numpy as np
    return np.asarray(choices, dtype=object)[rng.choice(len(choices), size=n, p=p)]


def _dates(rng, start: str, days: int, n: int):
    """n ISO dates from ``start`` over ``days`` days, as Python strings."""
    import numpy as np
    values = np.datetime64(start) + rng.integers(0, days, size=n).astype("timedelta64[D]")
    return np.datetime_as_string(values, unit="D").astype(object)


def _spoil(rng, n: int, column_values: dict, bad_values: dict) -> int:
    """Make about BAD_FRACTION of the n rows bad in one of the given columns; return how many rows."""
    import numpy as np
    bad_rows = rng.choice(n, size=max(1, round(n * BAD_FRACTION)), replace=False)
    columns = list(bad_values)
    which = rng.integers(0, len(columns), size=len(bad_rows))
    for k, name in enumerate(columns):
        rows = bad_rows[which == k]
        column_values[name][rows] = np.asarray(bad_values[name], dtype=object)[
            rng.integers(0, len(bad_values[name]), size=len(rows))]
    return len(bad_rows)


def generate(directory: Path, events: int, seed: int = 20250314) -> dict:
    """Write persons.csv and events.csv for the health contract; return their paths and the bad-row counts."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_persons = max(10, events // 10)
    patient_ids = pd.Series(np.arange(n_persons) + 4_000_000).map("RX1{:08d}".format).to_numpy(dtype=object)

    nhs = pd.Series(rng.integers(4_000_000_000, 4_999_999_999, size=n_persons)).astype(str).to_numpy(dtype=object)
    nhs[rng.random(n_persons) < 0.08] = ""                              # not traced
    unborn = np.where(rng.random(n_persons) < 0.02, "Y", "N").astype(object)
    given = _pick(rng, GIVEN, n_persons)
    given[unborn == "Y"] = "Baby"
    family = _pick(rng, FAMILY, n_persons)
    dob = _dates(rng, "2007-06-01", 18 * 365, n_persons)
    dob[unborn == "Y"] = _dates(rng, "2025-03-20", 180, int((unborn == "Y").sum()))
    numbers = rng.integers(1, 240, size=n_persons).astype(str).astype(object)
    street = _pick(rng, STREETS, n_persons)
    town = _pick(rng, TOWNS, n_persons)
    outward = pd.Series(rng.integers(1, 30, size=n_persons)).map("NM{}".format).to_numpy(dtype=object)
    inward = pd.Series(rng.integers(1, 10, size=n_persons)).astype(str).to_numpy(dtype=object) + \
        _pick(rng, list("ABDEFGHJLNPQRSTUWXYZ"), n_persons) + _pick(rng, list("ABDEFGHJLNPQRSTUWXYZ"), n_persons)
    persons = {
        "patient_id": patient_ids,
        "nhs_number": nhs,
        "given_name": given,
        "family_name": family,
        "date_of_birth": dob,
        "unborn": unborn,
        "gender": _pick(rng, ["1", "2", "0", "9"], n_persons, p=[0.49, 0.49, 0.01, 0.01]),
        "postcode": outward + " " + inward,
        "address": numbers + " " + street + ", " + town,
        "gp_practice_code": pd.Series(rng.integers(81000, 81999, size=n_persons)).map("C{}".format)
                              .to_numpy(dtype=object),
    }
    bad_persons = _spoil(rng, n_persons, persons, {
        "date_of_birth": ["2019-02-30", "31/12/2015", "2016-13-01"],
        "gender": ["M", "F", "3"],
        "family_name": [""],
    })

    who = rng.integers(0, n_persons, size=events)
    prac_given = _pick(rng, GIVEN, events)
    prac_family = _pick(rng, FAMILY, events)
    event_frame = {
        "event_id": pd.Series(np.arange(events) + 1).map("EV{:09d}".format).to_numpy(dtype=object),
        "patient_id": patient_ids[who],
        "event_date": _dates(rng, "2023-03-15", 730, events),
        "event_type": _pick(rng, EVENT_TYPES, events, p=EVENT_WEIGHTS),
        "site": _pick(rng, SITES, events),
        "practitioner_name": prac_given + " " + prac_family,
        "practitioner_role": _pick(rng, ROLES, events),
        "practitioner_email": (prac_given + "." + prac_family + "@nhs.net"),
        "practitioner_phone": pd.Series(rng.integers(100000, 999999, size=events)).map("01632 {}".format)
                                .to_numpy(dtype=object),
        "reason": _pick(rng, REASONS, events),
    }
    event_frame["practitioner_email"] = pd.Series(event_frame["practitioner_email"]).str.lower() \
        .str.replace("'", "", regex=False).to_numpy(dtype=object)
    bad_events = _spoil(rng, events, event_frame, {
        "event_date": ["2024-02-30", "15/06/2024", "2024-06-31", "20240615"],
        "event_type": ["ED", "HVC", "XX", "camhs"],
        "patient_id": [""],
    })

    paths = {"persons": directory / f"{AGENCY}-persons-{EXTRACT_DATE:%Y%m%d}.csv",
             "events": directory / f"{AGENCY}-events-{EXTRACT_DATE:%Y%m%d}.csv"}
    pd.DataFrame(persons).to_csv(paths["persons"], index=False, lineterminator="\r\n")
    pd.DataFrame(event_frame).to_csv(paths["events"], index=False, lineterminator="\r\n")
    return {"paths": paths, "persons": n_persons, "events": events, "bad_persons": bad_persons,
            "bad_events": bad_events}


# --------------------------------------------------------------------------------------------------------------
# One run, in its own process
# --------------------------------------------------------------------------------------------------------------

def one_run(home_dir: Path, db_url: str, profile: str | None) -> dict:
    """Migrate the store, then time ingest_agency; runs in a fresh process so ru_maxrss is this run's peak."""
    os.environ["MASH_HOME"] = str(home_dir)
    from mash.home import Home
    from mash.ingest import ingest_agency
    from mash.store import migrate

    home = Home(home_dir)
    engine = migrate(db_url)
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    outcomes = ingest_agency(AGENCY, home, engine)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = after.ru_maxrss                                          # kilobytes on Linux
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    if profiler:
        profiler.dump_stats(profile)
    engine.dispose()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak_kb / 1024,
            "outcomes": [o.as_dict() for o in outcomes]}


# --------------------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------------------

def prepare_home(root: Path, extract: dict) -> Path:
    """A fresh MASH_HOME with the drop copied into landing/health and sealed."""
    from mash.home import Home
    from mash.landing import seal_drop

    home = Home(root).ensure()
    landing = home.agency_landing(AGENCY)
    landing.mkdir(parents=True, exist_ok=True)
    files = {}
    for contract_file, source in extract["paths"].items():
        target = landing / source.name
        shutil.copyfile(source, target)
        files[contract_file] = target
    seal_drop(landing, AGENCY, EXTRACT_DATE, files)
    return root


class Databases:
    """Fresh store per run: a SQLite file in the run's MASH_HOME, or a new database on a PostgreSQL server."""

    def __init__(self, server_url: str | None):
        self.server_url = server_url
        self.created: list[str] = []

    def fresh(self, home_dir: Path, n: int) -> str:
        if not self.server_url:
            return f"sqlite:///{home_dir / 'mash.db'}"
        import sqlalchemy as sa
        from mash.store import new_engine
        name = f"mash_bench_{os.getpid()}_{n}"
        admin = new_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.created.append(name)
        return sa.make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.server_url or not self.created:
            return
        import sqlalchemy as sa
        from mash.store import new_engine
        admin = new_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_child(home_dir: Path, db_url: str, profile: str | None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--one-run", "--home", str(home_dir),
               "--db-url", db_url]
    if profile:
        command += ["--profile", profile]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=REPO_ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_outcome(result: dict, extract: dict) -> None:
    """The ingest must have loaded the drop with every bad row quarantined, or the figure means nothing."""
    outcomes = result["outcomes"]
    if len(outcomes) != 1 or outcomes[0]["state"] != "loaded":
        raise SystemExit(f"ingest did not load the drop: {outcomes}")
    o = outcomes[0]
    total = extract["persons"] + extract["events"]
    bad = extract["bad_persons"] + extract["bad_events"]
    if o["rows_in"] != total or o["rows_quarantined"] != bad or o["rows_loaded"] != total - bad:
        raise SystemExit(f"unexpected counts: {o} (expected {total} in, {bad} quarantined)")


def describe_machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem_gb:.0f} GB RAM, Python {platform.python_version()}"


def report(results: list[dict], extract: dict, backend: str) -> str:
    seconds = [r["seconds"] for r in results]
    peaks = [r["peak_mb"] for r in results]
    records = extract["persons"] + extract["events"]
    lines = [
        f"Ingest of one {AGENCY} drop: {extract['events']:,} events + {extract['persons']:,} persons "
        f"= {records:,} records, {extract['bad_persons'] + extract['bad_events']:,} quarantined; "
        f"store: {backend}; {len(results)} run(s); {describe_machine()}",
        "",
        "| runs | backend | min s | median s | max s | records/s (median) | peak RSS MB (max) | "
        "target |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
        f"| {len(results)} | {backend} | {min(seconds):.1f} | {statistics.median(seconds):.1f} | "
        f"{max(seconds):.1f} | {records / statistics.median(seconds):,.0f} | {max(peaks):,.0f} | "
        f"≤ {TARGET_SECONDS:.0f} s, ≤ {TARGET_PEAK_MB:,.0f} MB: "
        f"{'met' if max(seconds) <= TARGET_SECONDS and max(peaks) <= TARGET_PEAK_MB else 'NOT met'} |",
        "",
        "| run | wall s | CPU s (user+sys) | records/s | peak RSS MB |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {i} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {records / r['seconds']:,.0f} | "
          f"{r['peak_mb']:,.0f} |"
          for i, r in enumerate(results, start=1)),
    ]
    return "\n".join(lines)


def print_profile(path: str, limit: int = 40) -> None:
    import pstats
    stats = pstats.Stats(path, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="repetitions, each in a fresh process (default 5)")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows in the events file; persons gets a tenth as many (default 1,000,000)")
    parser.add_argument("--db-url", help="PostgreSQL server URL; a fresh database is created per run "
                                         "(default: a fresh SQLite file per run)")
    parser.add_argument("--throwaway-postgres", action="store_true",
                        help="start a throwaway PostgreSQL server as the tests do, run against it, stop it")
    parser.add_argument("--profile", metavar="PATH",
                        help="cProfile the ingest (first run) into PATH and print the hot spots to stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one_run:
        print(json.dumps(one_run(args.home, args.db_url, args.profile)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="mash-bench-ingest-"))
    server = None
    server_url = args.db_url
    if args.throwaway_postgres:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.postgres import PostgresServer
        log("starting a throwaway PostgreSQL server")
        server = PostgresServer.start(Path(tempfile.mkdtemp(prefix="mash-bench-pg-")))
        server_url = server.admin_url
    databases = Databases(server_url)
    backend = "PostgreSQL" if server_url else "SQLite"
    try:
        started = time.perf_counter()
        (work / "extract").mkdir()
        extract = generate(work / "extract", args.rows)
        log(f"generated {extract['events']:,} events and {extract['persons']:,} persons "
            f"({extract['bad_events'] + extract['bad_persons']:,} bad rows) in {time.perf_counter() - started:.1f} s")
        results = []
        for n in range(1, args.runs + 1):
            home_dir = prepare_home(work / f"home-{n}", extract)
            db_url = databases.fresh(home_dir, n)
            result = run_child(home_dir, db_url, args.profile if n == 1 else None)
            check_outcome(result, extract)
            log(f"run {n}/{args.runs}: {result['seconds']:.2f} s wall, {result['cpu_seconds']:.2f} s CPU, "
                f"peak {result['peak_mb']:,.0f} MB")
            results.append(result)
            if not args.keep:
                shutil.rmtree(home_dir, ignore_errors=True)
        print(report(results, extract, backend))
        if args.profile:
            print()
            print_profile(args.profile)
    finally:
        databases.drop_all()
        if server is not None:
            log("stopping the throwaway PostgreSQL server")
            server.stop()
            shutil.rmtree(server.datadir.parent, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
