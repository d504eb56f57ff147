"""Malformed extracts from tests/corpus are loaded, quarantined, rejected or kept waiting exactly as cases.yaml says."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from datetime import date

import pytest
import yaml
from sqlalchemy import select

from mash.cli import main as mash_cli
from mash.contracts import contracts
from mash.ingest import ingest_agency
from mash.landing import codec
from mash.store.schema import archived_file, batch, batch_file, feed_tables, quarantine
from tests.drops import CORPUS, archived_bytes, dump, feed_count, land, manifests_in, seal

CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))


def _tamper(manifest_path, change: dict) -> None:
    body = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = next(e for e in body["files"] if e["name"] == change["file"])
    entry.update({k: v for k, v in change.items() if k != "file"})
    manifest_path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def _cells(data: bytes, encoding: str, rows: set[int] | None) -> set[str]:
    """Cell values (4+ characters) of the data records numbered in ``rows`` (all data records if None)."""
    records = [r for r in csv.reader(io.StringIO(data.decode(codec(encoding), errors="surrogateescape"),
                                                 newline="")) if r]
    return {cell.strip() for number, record in enumerate(records[1:], start=2)
            if rows is None or number in rows for cell in record if len(cell.strip()) >= 4}


def _batch_state(engine, batch_id: str) -> tuple[dict, list[dict], list[dict]]:
    with engine.connect() as conn:
        row = conn.execute(select(batch).where(batch.c.batch_id == batch_id)).mappings().one()
        files = conn.execute(select(batch_file).where(batch_file.c.batch_id == batch_id)).mappings().all()
        problems = conn.execute(select(quarantine).where(quarantine.c.batch_id == batch_id)).mappings().all()
    return dict(row), [dict(f) for f in files], [dict(p) for p in problems]


def test_the_corpus_on_disk_matches_cases_yaml():
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert folders == set(CASES)
    assert len(CASES) >= 22
    for name, case in CASES.items():
        assert [p.name for p in (CORPUS / name).iterdir()] == [case["agency"]], name
        assert case["state"] in {"loaded", "rejected", "waiting"}, name
        assert ("reason" in case or "reason_contains" in case) == (case["state"] != "loaded"), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_extract(name, home, engine, caplog):
    case = CASES[name]
    agency, state = case["agency"], case["state"]
    encoding = case.get("encoding") or contracts()[agency].encoding
    landing = home.agency_landing(agency)
    land(CORPUS / name / agency, landing)
    if not manifests_in(landing):
        manifest = seal(landing, agency, encoding=encoding)
        if "tamper" in case:
            _tamper(manifest, case["tamper"])
    dropped = {p.name: p.read_bytes() for p in landing.iterdir()}

    caplog.set_level(logging.DEBUG)
    [outcome] = ingest_agency(agency, home, engine)
    row, files, problems = _batch_state(engine, outcome.batch_id)

    assert (row["state"], outcome.state) == (state, state)
    assert outcome.reason == row["reason"]
    if "reason" in case:
        assert row["reason"] == case["reason"]
    for part in case.get("reason_contains", []):
        assert part in row["reason"]
    if state == "loaded":
        assert row["reason"] is None

    assert sorted([p["contract_file"], p["row_number"], p["column_name"], p["reason"]] for p in problems) == \
        sorted(case.get("quarantine", []))
    counts = (row["rows_in"], row["rows_loaded"], row["rows_quarantined"])
    assert counts == (case.get("rows_in", 0), case.get("rows_loaded", 0), case.get("rows_quarantined", 0))
    assert counts == (outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined)
    assert row["rows_in"] == row["rows_loaded"] + row["rows_quarantined"]
    assert feed_count(engine, agency, outcome.batch_id) == row["rows_loaded"]
    for f in files:
        assert f["rows_in"] == f["rows_loaded"] + f["rows_quarantined"], f["file_name"]
        assert f["rows_quarantined"] == len({p["row_number"] for p in problems
                                             if p["contract_file"] == f["contract_file"]}), f["file_name"]
        assert f["sha256"] == hashlib.sha256(dropped[f["file_name"]]).hexdigest()
        assert f["rows_batch_id"] == (outcome.batch_id if state == "loaded" else None)
    if state == "loaded":
        assert {f["file_name"] for f in files} == {n for n in dropped if n.endswith(".csv")}
        assert sum(f["rows_in"] for f in files) == row["rows_in"]

    with engine.connect() as conn:
        for contract_file, row_number, column, value in case.get("stored", []):
            table = feed_tables[(agency, contract_file)]
            stored = conn.execute(select(table.c[column]).where(
                table.c.batch_id == outcome.batch_id, table.c.row_number == row_number)).scalar_one()
            assert (None if stored is None else str(stored)) == value, (contract_file, row_number, column)
        archived = {r["sha256"]: r for r in conn.execute(select(archived_file)).mappings()}

    left = set(case.get("landing_left", []))
    assert {p.name for p in landing.iterdir()} == left
    for kept in left:
        assert (landing / kept).read_bytes() == dropped[kept]
    expected = {hashlib.sha256(data).hexdigest(): data for n, data in dropped.items() if n not in left}
    assert set(archived) == set(expected)
    for sha, data in expected.items():
        assert archived_bytes(home.archive, sha) == data
        assert archived[sha]["size_bytes"] == len(data)

    secrets = {"Zebedee", *case.get("secrets", [])}
    for file_name, data in dropped.items():
        if file_name.endswith(".csv"):
            bad_rows = ({p["row_number"] for p in problems if f"{p['contract_file']}.csv" == file_name}
                        if state == "loaded" else None)
            secrets |= _cells(data, encoding, bad_rows)
    messages = [row["reason"] or "", row["note"] or "", caplog.text,
                *(p["detail"] for p in problems), *(p["reason"] for p in problems)]
    leaks = sorted(s for s in secrets for m in messages if s in m)
    assert leaks == [], "personal data in a reason, detail or log"


def test_a_rejected_drop_does_not_stop_another_agencys_drop(home, engine):
    health, consent = home.agency_landing("health"), home.agency_landing("consent")
    land(CORPUS / "missing_column" / "health", health)
    seal(health, "health")
    land(CORPUS / "unknown_code_in_multi_code_column" / "consent", consent)
    seal(consent, "consent")

    assert mash_cli(["ingest"]) == 0
    assert mash_cli(["ingest", "--strict"]) == 0      # nothing left to ingest, so nothing rejected this time

    with engine.connect() as conn:
        states = dict(conn.execute(select(batch.c.agency, batch.c.state)).all())
    assert states == {"health": "rejected", "consent": "loaded"}
    assert list(health.iterdir()) == [] and list(consent.iterdir()) == []
    with engine.connect() as conn:
        consent_batch = conn.execute(select(batch.c.batch_id).where(batch.c.agency == "consent")).scalar_one()
    assert feed_count(engine, "consent", consent_batch) == 2


def test_a_rejected_drop_leaves_the_earlier_loaded_batch_untouched(home, engine):
    landing = home.agency_landing("health")
    land(CORPUS / "bad_date" / "health", landing)
    seal(landing, "health", date(2024, 3, 1))
    [first] = ingest_agency("health", home, engine)
    assert first.state == "loaded"
    before = dump(engine)

    land(CORPUS / "missing_column" / "health", landing)
    seal(landing, "health", date(2024, 3, 2))
    [second] = ingest_agency("health", home, engine)
    assert second.state == "rejected"

    after = dump(engine)
    for table, rows in after.items():
        kept = [r for r in rows if not any(second.batch_id in cell for cell in r)]
        if table == "archived_file":
            assert set(before[table]) <= set(rows)
        else:
            assert kept == before[table], table
    assert feed_count(engine, "health", first.batch_id) == first.rows_loaded == 5
    assert feed_count(engine, "health", second.batch_id) == 0


@pytest.mark.parametrize("agency, case, name_columns", [
    ("health", "utf8_with_bom", ("given_name", "family_name")),
    ("police", "windows1252_names", ("forenames", "surname")),
])
def test_the_same_names_in_three_encodings_are_stored_alike(agency, case, name_columns, home, engine):
    """A persons file as UTF-8 with BOM, UTF-8 without BOM and Windows-1252, each declared in its manifest."""
    source = CORPUS / case / agency
    text = (source / "persons.csv").read_bytes().decode(codec(contracts()[agency].encoding))
    variants = {"utf-8": b"\xef\xbb\xbf" + text.encode("utf-8"), "windows-1252": text.encode("windows-1252")}
    variants["utf-8-no-bom"] = text.encode("utf-8")
    landing = home.agency_landing(agency)
    names, batches = {}, []
    for day, (label, data) in enumerate(sorted(variants.items()), start=1):
        land(source, landing)
        (landing / "persons.csv").write_bytes(data)
        seal(landing, agency, date(2024, 3, day), encoding="utf-8" if label.startswith("utf-8") else label)
        [outcome] = ingest_agency(agency, home, engine)
        assert outcome.state == "loaded" and outcome.rows_quarantined == 0, label
        table = feed_tables[(agency, "persons")]
        with engine.connect() as conn:
            names[label] = conn.execute(select(*(table.c[c] for c in name_columns))
                                        .where(table.c.batch_id == outcome.batch_id)
                                        .order_by(table.c.row_number)).all()
        batches.append(outcome.batch_id)
    assert len(set(batches)) == 3
    expected = [tuple(r[c] for c in name_columns) for r in csv.DictReader(io.StringIO(text, newline=""))]
    assert any(not n.isascii() for r in expected for n in r)
    assert names == {label: expected for label in variants}
