"""Errors that carry no values: an identifier longer than its contract allows is quarantined when the extract is
loaded (so it cannot stop matching or publication), and a database error is reduced to its kind, table and column
before it is logged or raised (PostgreSQL's COPY quotes the value otherwise)."""

from __future__ import annotations

import csv
import logging
import traceback

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from mash.contracts import agencies
from mash.delivery import deliver
from mash.ingest import ingest_agency
from mash.landing import seal_drop
from mash.link.population import match_children
from mash.sharing.publication import publish
from mash.store import StoreError, bulk_insert, migrate
from mash.store.schema import batch, child, child_record, quarantine
from mash.synth import generate
from tests.views import NIGHT

LONG_ID = "WY" + "7Q3Z" * 40                 # 162 characters: over person_id's max_length and record_id's 120


def _lengthen_first_person(police_dir) -> str:
    """Give the police extract's first person (and their incidents) an over-long id, and reseal the drop."""
    files = {path.name.rsplit("-", 1)[1][:-4]: path for path in sorted(police_dir.glob("*.csv"))}
    original = None
    for name in ("persons", "incidents"):
        with files[name].open(encoding="windows-1252", newline="") as handle:
            rows = list(csv.DictReader(handle))
        original = original or rows[0]["person_id"]
        for row in rows:
            if row["person_id"] == original:
                row["person_id"] = LONG_ID
        with files[name].open("w", encoding="windows-1252", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
    for manifest in police_dir.glob("*.manifest.json"):
        manifest.unlink()
    seal_drop(police_dir, "police", NIGHT, files, "windows-1252")
    return original


def test_an_over_long_identifier_is_quarantined_and_the_night_publishes_with_no_value_logged(
        store, home, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    generate(children=150, seed=7, nights=1, out=tmp_path / "synth", start=NIGHT)
    _lengthen_first_person(tmp_path / "synth" / "night-01" / "police")
    deliver(tmp_path / "synth" / "night-01", home)
    outcomes = [o for agency in agencies() for o in ingest_agency(agency, home, store)]
    assert {o.state for o in outcomes} == {"loaded"}
    with store.connect() as conn:
        problems = conn.execute(select(quarantine.c.column_name, quarantine.c.reason, quarantine.c.detail)
                                .join(batch, batch.c.batch_id == quarantine.c.batch_id)
                                .where(batch.c.agency == "police", quarantine.c.reason == "too_long")).all()
    assert problems and {(c, d) for c, _, d in problems} == {("person_id", "longer than 60 characters")}
    match_children(store, "night-1")
    summary = publish(store, "night-1", NIGHT)
    assert summary.children > 0 and summary.disclosures > 0
    assert LONG_ID[:20] not in caplog.text


def test_a_copy_that_fails_names_the_table_and_column_never_the_value(pg_url):
    engine = migrate(pg_url)
    value = "schools:" + "A123456789012" * 10                  # a UPN-like value over record_id's 120
    with pytest.raises(StoreError) as failed, engine.begin() as conn:
        bulk_insert(conn, child_record, ["record_id", "child_id", "assigned_run"], [(value, "MASH-1", "run")])
    text = "".join(traceback.format_exception(failed.value))
    assert "A123456789012" not in text
    assert "child_record" in str(failed.value) and "record_id" in str(failed.value)
    assert "StringDataRightTruncation" in str(failed.value)
    assert failed.value.__context__ is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_constraint_error_keeps_its_kind_and_loses_its_values(backend, home, request):
    engine = migrate(home.db_url() if backend == "sqlite" else request.getfixturevalue("pg_url"))
    upn = "schools:H801200001001"
    with engine.begin() as conn:
        conn.execute(insert(child).values(child_id="MASH-1", created_run="run", created_at=NIGHT))
        conn.execute(insert(child_record).values(record_id=upn, child_id="MASH-1", assigned_run="run"))
    with pytest.raises(IntegrityError) as failed, engine.begin() as conn:
        conn.execute(insert(child_record).values(record_id=upn, child_id="MASH-1", assigned_run="run"))
    text = "".join(traceback.format_exception(failed.value))
    assert "H801200001001" not in text
    assert "child_record" in str(failed.value) and ("UniqueViolation" in text or "IntegrityError" in text)
