"""One ingest at a time per agency, on SQLite and PostgreSQL, with real processes: a second `mash ingest` while the
first is inside the lock says so and exits 0; a process killed inside the lock leaves the agency unlocked."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from mash.ingest import ingest_agency
from mash.store.schema import batch
from tests.drops import CORPUS, feed_count, land, seal

WAIT = 120          # seconds: a bound on waiting for the other process, never a pause


def _ingest_holding_the_lock(root: str, url: str, inside, release, results) -> None:
    """A process that ingests health, stopping inside the lock until ``release`` is set."""
    import mash.ingest as ingest
    from mash.home import Home
    from mash.store import new_engine

    real = ingest.ingest_drop

    def held(*args, **kwargs):
        inside.set()
        release.wait(WAIT)
        return real(*args, **kwargs)

    ingest.ingest_drop = held
    results.put([o.state for o in ingest.ingest_agency("health", Home(Path(root)), new_engine(url))])


def _start_holder(home):
    landing = home.agency_landing("health")
    land(CORPUS / "utf8_with_bom" / "health", landing)
    seal(landing, "health")
    spawn = multiprocessing.get_context("spawn")
    inside, release, results = spawn.Event(), spawn.Event(), spawn.Queue()
    holder = spawn.Process(target=_ingest_holding_the_lock,
                           args=(str(home.root), home.db_url(), inside, release, results))
    holder.start()
    assert inside.wait(WAIT), "the first ingest never reached its drop"
    return holder, release, results


def _states(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(batch.c.batch_id, batch.c.state))]


def test_a_second_ingest_of_the_same_agency_says_so_and_exits_0(store, home):
    holder, release, results = _start_holder(home)
    try:
        second = subprocess.run([sys.executable, "-m", "mash.cli", "ingest", "--agency", "health"],
                                capture_output=True, text=True, timeout=WAIT)
    finally:
        release.set()
    holder.join(WAIT)
    assert (second.returncode, second.stdout) == (0, "")
    assert "health: already being ingested by another process" in second.stderr
    assert "Error" not in second.stderr
    assert holder.exitcode == 0 and results.get(timeout=WAIT) == ["loaded"]
    [(batch_id, state)] = _states(store)
    assert state == "loaded" and feed_count(store, "health", batch_id) == 5
    assert list(home.agency_landing("health").iterdir()) == []


def test_an_ingest_killed_inside_the_lock_leaves_the_agency_unlocked(store, home):
    holder, _, _ = _start_holder(home)
    holder.kill()
    holder.join(WAIT)
    [outcome] = ingest_agency("health", home, store)
    assert outcome.state == "loaded" and feed_count(store, "health", outcome.batch_id) == 5
