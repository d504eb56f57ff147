"""Private files: everything the hub writes under MASH_HOME (the store with its -wal and -shm, the archive, the outbox,
the reports, the matching's work and features, the audit anchors) and its exports is its owner's only, whatever
the umask it was started with; the matching's work (names, NHS numbers) does not outlive a failed run, and a run
killed outright (SIGKILL) has its work removed by the next matching run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mash.cli import main
from mash.link import population
from mash.store import new_engine
from tests.conftest import REPO


@pytest.fixture
def loose_umask():
    """The umask most systems start a service with: files group- and world-readable unless the hub says not."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _exposed(root: Path) -> list[str]:
    """Every file or folder under ``root`` (and ``root`` itself) that its group or others may use."""
    return [f"{path.relative_to(root.parent)} {oct(path.stat().st_mode & 0o777)}"
            for path in [root, *root.rglob("*")] if path.stat().st_mode & 0o077]


def test_a_night_run_with_a_loose_umask_leaves_nothing_readable_by_others(home, tmp_path, loose_umask, capsys):
    synth = tmp_path / "synth"
    assert main(["synth", "--children", "250", "--seed", "4", "--nights", "1", "--out", str(synth)]) == 0
    os.umask(0o022)                           # whatever the last command did, the next starts loose again
    for command in (["deliver", str(synth / "night-01")], ["ingest"], ["validate"],
                    ["match", "--run-id", "night-1", "--partitions", "2", "--processes", "1"],
                    ["match", "--run-id", "night-1"],            # remembers features for the next night
                    ["publish", "--as-of", "2026-11-02", "--run-id", "night-1"],
                    ["notices", "build", "--as-of", "2026-11-02", "--run-id", "night-1"],
                    ["export", "--recipient", "police", "--out", str(home.root / "exports" / "police")]):
        assert main(command) == 0, command
        os.umask(0o022)
    capsys.readouterr()
    written = {path.name for path in home.root.rglob("*")}
    assert {"mash.db", "features.npz", "anchors.jsonl", "children.csv"} <= written
    assert any(home.outbox.rglob("*.txt")) and any(home.archive.rglob("*")) and home.reports.is_dir()
    assert _exposed(home.root) == []


def test_the_sqlite_store_and_its_journal_are_created_owner_only(tmp_path, loose_umask):
    path = tmp_path / "store" / "mash.db"
    path.parent.mkdir()
    engine = new_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert {p.name for p in path.parent.iterdir()} >= {"mash.db", "mash.db-wal", "mash.db-shm"}
        assert _exposed(path.parent)[1:] == []          # the folder is the test's; every file in it is private
    engine.dispose()


def _matched_once(home) -> None:
    """A store with a night loaded and matched (so a partitioned run has records to work on)."""
    synth = home.root.parent / "synth"
    for command in (["synth", "--children", "200", "--seed", "5", "--nights", "1", "--out", str(synth)],
                    ["deliver", str(synth / "night-01")], ["ingest"]):
        assert main(command) == 0


KILLED_RUN = """
import os, signal, sys
from mash.home import Home
from mash.link.partitions import compare_partition
from mash.link.population import plan_partitions
from mash.store import migrate
home = Home.from_env().ensure()
work = home.matching_work("night-killed")
plan_partitions(migrate(home.db_url()), work, 2)
compare_partition(work, 0)
os.kill(os.getpid(), signal.SIGKILL)           # killed outright between the partitions: no finally runs
"""


@pytest.mark.parametrize("next_run", ["in one process", "in partitions"])
def test_a_killed_partitioned_match_leaves_private_work_that_the_next_run_removes(home, next_run, capsys):
    _matched_once(home)
    os.umask(0o022)
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN], cwd=REPO, env={**os.environ, "PYTHONPATH": str(
        REPO / "plugins")}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    work = home.matching_work("night-killed")
    assert {p.name for p in work.iterdir()} == {"work.pickle", "levels-0.npz"}
    assert _exposed(home.root / "work") == []

    partitions = ["--partitions", "1"] if next_run == "in one process" else ["--partitions", "2", "--processes", "1"]
    assert main(["match", "--run-id", "night-1", *partitions]) == 0
    capsys.readouterr()
    assert not work.exists() and not any(work.parent.glob("*"))


def test_a_failed_partitioned_match_removes_its_work(home, monkeypatch, capsys):
    _matched_once(home)

    def comparisons_fail(directory, numbers, processes):
        assert (Path(directory) / "work.pickle").is_file()
        raise RuntimeError("a partition failed")
    monkeypatch.setattr(population, "compare_partitions", comparisons_fail)
    with pytest.raises(RuntimeError, match="a partition failed"):
        main(["match", "--run-id", "night-1", "--partitions", "2"])
    assert not home.matching_work("night-1").exists()
