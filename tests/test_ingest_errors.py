"""Errors of the hub's own disk while a drop is taken in say what to do, name the file, and leave the drop in
landing for a rerun: a full disk (writes to /dev/full fail with ENOSPC) and an archive the hub may not write to."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.drops import CORPUS, land, seal
from mash.ingest import IngestFailed, ingest_agency

CASE = CORPUS / "bad_date" / "health"


def _drop(home) -> dict[str, bytes]:
    landing = home.agency_landing("health")
    land(CASE, landing)
    seal(landing, "health")
    return {p.name: p.read_bytes() for p in landing.iterdir()}


def test_a_full_disk_while_archiving_names_the_file_and_keeps_the_drop(home, engine):
    dropped = _drop(home)
    for name in dropped:        # the archive's temporary copies land on a device that is always full
        (home.archive / f".incoming-{os.getpid()}-{name}").symlink_to("/dev/full")
    with pytest.raises(IngestFailed) as failed:
        ingest_agency("health", home, engine)
    assert "no space left on device while archiving events.csv: free space under" in str(failed.value)
    assert "Zebedee" not in str(failed.value)
    landing = home.agency_landing("health")
    assert {p.name: p.read_bytes() for p in landing.iterdir()} == dropped


def test_an_archive_the_hub_may_not_write_to_is_named(home, engine):
    dropped = _drop(home)
    shutil.rmtree(home.archive)
    home.archive.symlink_to("/sys")             # read-only to every account, root included
    with pytest.raises(IngestFailed) as failed:
        ingest_agency("health", home, engine)
    assert f"cannot write to {home.archive} (permission denied)" in str(failed.value)
    landing = home.agency_landing("health")
    assert {p.name: p.read_bytes() for p in landing.iterdir()} == dropped
