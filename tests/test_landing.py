"""The landing protocol on SQLite and PostgreSQL: manifests, waiting drops, redelivery, file reuse and the archive."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from mash.contracts import agencies
from mash.ingest import ingest_agency
from mash.notices.outbox import build
from mash.store.schema import archived_file, batch, batch_file, feed_tables
from tests.drops import CORPUS, archived_bytes, dump, feed_count, land, seal

GOOD = CORPUS / "utf8_with_bom" / "health"          # a clean health drop: 2 persons, 3 events
NEW_EVENT = b"E5004,H1005,2024-02-28,GP,Chapel Allerton Surgery,Dr Ian Moss,GP,ian.moss@nhs.example,0113 496 0004,Bruising\n"


def _drop(home, day: int, extra_events: bytes = b"") -> dict[str, bytes]:
    """Land the good health drop (events with ``extra_events`` appended), sealed for 2024-03-<day>."""
    landing = home.agency_landing("health")
    land(GOOD, landing)
    if extra_events:
        (landing / "events.csv").write_bytes((GOOD / "events.csv").read_bytes() + extra_events)
    seal(landing, "health", date(2024, 3, day))
    return {p.name: p.read_bytes() for p in landing.iterdir()}


def _batches(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(batch).order_by(batch.c.batch_id)).mappings()]


def _files(engine, batch_id: str) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["contract_file"]: dict(r) for r in conn.execute(
            select(batch_file).where(batch_file.c.batch_id == batch_id)).mappings()}


def _archive_listing(home) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in home.archive.rglob("*") if p.is_file()}


def test_files_without_a_manifest_are_left_alone(store, home):
    landing = home.agency_landing("health")
    dropped = land(GOOD, landing)
    assert ingest_agency("health", home, store) == []
    assert {p.name: p.read_bytes() for p in landing.iterdir()} == dropped
    assert _batches(store) == []
    assert _archive_listing(home) == {}


def test_a_drop_waits_for_a_missing_file_then_loads_under_the_same_batch(store, home, tmp_path):
    landing = home.agency_landing("health")
    _drop(home, 1)
    shutil.move(landing / "events.csv", tmp_path / "events.csv")

    for _ in range(2):                                  # still waiting on a second run, and still one batch
        [waiting] = ingest_agency("health", home, store)
        assert waiting.state == "waiting"
        assert [(b["batch_id"], b["state"], b["reason"]) for b in _batches(store)] == [
            (waiting.batch_id, "waiting",
             "waiting for events.csv, listed in the manifest but not yet in the landing folder")]
        assert sorted(p.name for p in landing.iterdir()) == ["health-20240301.manifest.json", "persons.csv"]
        assert feed_count(store, "health", waiting.batch_id) == 0

    shutil.move(tmp_path / "events.csv", landing / "events.csv")
    [loaded] = ingest_agency("health", home, store)
    assert (loaded.batch_id, loaded.state, loaded.rows_in, loaded.rows_loaded) == (waiting.batch_id, "loaded", 5, 5)
    assert [(b["batch_id"], b["state"], b["reason"]) for b in _batches(store)] == [(waiting.batch_id, "loaded", None)]
    assert feed_count(store, "health", loaded.batch_id) == 5
    assert list(landing.iterdir()) == []


def test_an_empty_optional_value_is_stored_as_null(store, home):
    _drop(home, 1)
    [loaded] = ingest_agency("health", home, store)
    persons = feed_tables[("health", "persons")]
    with store.connect() as conn:
        assert conn.execute(select(persons.c.patient_id, persons.c.nhs_number).where(
            persons.c.batch_id == loaded.batch_id).order_by(persons.c.row_number)).all() == [
            ("H1001", "9434765919"), ("H1005", None)]


def test_the_same_drop_delivered_twice_is_ingested_once(store, home):
    dropped = _drop(home, 1)
    [first] = ingest_agency("health", home, store)
    assert first.state == "loaded"
    before = dump(store)

    landing = home.agency_landing("health")
    for name, data in dropped.items():
        (landing / name).write_bytes(data)
    [again] = ingest_agency("health", home, store)
    assert (again.batch_id, again.state, again.note) == (first.batch_id, "loaded", "already ingested")
    assert dump(store) == before
    assert feed_count(store, "health", first.batch_id) == 5
    assert list(landing.iterdir()) == []


def test_an_identical_file_in_a_later_drop_is_reused_not_reloaded(store, home):
    persons, events = feed_tables[("health", "persons")], feed_tables[("health", "events")]
    _drop(home, 1)
    [first] = ingest_agency("health", home, store)
    _drop(home, 2, extra_events=NEW_EVENT)
    [second] = ingest_agency("health", home, store)
    _drop(home, 3, extra_events=NEW_EVENT + NEW_EVENT.replace(b"E5004", b"E5005"))
    [third] = ingest_agency("health", home, store)

    assert [o.state for o in (first, second, third)] == ["loaded"] * 3
    assert (second.rows_in, second.rows_loaded, third.rows_in, third.rows_loaded) == (4, 4, 5, 5)
    assert second.note == f"1 of 2 files identical to ones already loaded (batch {first.batch_id}): not loaded again"
    for later, events_in in ((second, 4), (third, 5)):
        files = _files(store, later.batch_id)
        assert {k: (f["rows_batch_id"], f["rows_in"], f["rows_declared"]) for k, f in files.items()} == {
            "persons": (first.batch_id, 0, 2), "events": (later.batch_id, events_in, events_in)}
        assert files["persons"]["sha256"] == _files(store, first.batch_id)["persons"]["sha256"]
    with store.connect() as conn:
        per_batch = dict(conn.execute(select(persons.c.batch_id, func.count()).group_by(persons.c.batch_id)).all())
        assert per_batch == {first.batch_id: 2}
        per_batch = dict(conn.execute(select(events.c.batch_id, func.count()).group_by(events.c.batch_id)).all())
        assert per_batch == {first.batch_id: 3, second.batch_id: 4, third.batch_id: 5}


def test_the_archive_is_content_addressed_and_keeps_the_dropped_bytes(store, home):
    drops = [_drop(home, 1)]
    ingest_agency("health", home, store)
    drops.append(_drop(home, 2, extra_events=NEW_EVENT))
    ingest_agency("health", home, store)

    assert drops[0]["persons.csv"] == drops[1]["persons.csv"]
    by_sha = {hashlib.sha256(data).hexdigest(): data for drop in drops for data in drop.values()}
    assert len(by_sha) == 5                            # persons once, two events, two manifests
    assert sorted(_archive_listing(home)) == sorted(by_sha)
    for sha, data in by_sha.items():
        assert archived_bytes(home.archive, sha) == data
    with store.connect() as conn:
        rows = {r.sha256: r for r in conn.execute(select(archived_file))}
    assert set(rows) == set(by_sha)
    assert all(rows[sha].size_bytes == len(data) for sha, data in by_sha.items())


def test_rerunning_with_an_empty_landing_zone_changes_nothing(store, home):
    _drop(home, 1)
    ingest_agency("health", home, store)
    consent = home.agency_landing("consent")
    land(CORPUS / "missing_required_field" / "consent", consent)
    seal(consent, "consent")
    ingest_agency("consent", home, store)
    tables, archive = dump(store), _archive_listing(home)
    assert len(tables["batch"]) == 2 and len(tables["quarantine"]) == 1

    for agency in agencies():
        assert ingest_agency(agency, home, store) == []
    assert dump(store) == tables
    assert _archive_listing(home) == archive


def _age(path, seconds_before):
    """Set ``path``'s modification time ``seconds_before`` the manifest's (a file written before it was sealed)."""
    manifest = next(path.parent.glob("*.manifest.json"))
    when = manifest.stat().st_mtime_ns - seconds_before * 10**9
    os.utime(path, ns=(when, when))


def _landed(landing) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in landing.iterdir()}


def test_a_drop_rejected_for_a_damaged_file_stays_and_loads_when_the_intact_file_is_redelivered(store, home):
    """An agency's only fix for a file damaged in transfer is to send it again; the manifest is the same. Until
    then nothing of the drop is archived or removed, and a rerun changes nothing (the agency is told once)."""
    dropped = _drop(home, 1)
    landing = home.agency_landing("health")
    (landing / "persons.csv").write_bytes(dropped["persons.csv"][:-20])       # cut short in transfer
    _age(landing / "persons.csv", 60)
    damaged = _landed(landing)
    [rejected] = ingest_agency("health", home, store)
    assert (rejected.state, rejected.reason) == ("rejected", "persons.csv: SHA-256 does not match the manifest (the "
                                                 "file is damaged or changed after the manifest was written)")
    assert _landed(landing) == damaged
    assert _archive_listing(home) == {}
    assert build(store, home, "night-1", date(2024, 3, 1), parts=("extracts",)).built["extract_rejected"] == 1
    tables = dump(store)
    [again] = ingest_agency("health", home, store)
    assert (again.batch_id, again.state) == (rejected.batch_id, "rejected")
    assert dump(store) == tables and _landed(landing) == damaged
    assert "extract_rejected" not in build(store, home, "night-2", date(2024, 3, 1), parts=("extracts",)).built

    for name, data in dropped.items():                  # the agency sends the drop again, intact
        (landing / name).write_bytes(data)
    [redelivered] = ingest_agency("health", home, store)
    assert (redelivered.batch_id, redelivered.state) == (rejected.batch_id, "loaded")
    assert feed_count(store, "health", redelivered.batch_id) == 5
    assert list(landing.iterdir()) == []


def test_a_manifest_written_before_its_data_are_complete_loses_nothing(store, home):
    """The agency's writer is half way through events.csv when the manifest is written; it finishes later."""
    dropped = _drop(home, 1)
    landing = home.agency_landing("health")
    events = landing / "events.csv"
    events.write_bytes(dropped["events.csv"][: len(dropped["events.csv"]) // 2])
    _age(events, 1)
    [first] = ingest_agency("health", home, store)
    assert first.state == "rejected" and first.reason.startswith("events.csv: SHA-256 does not match")
    assert (landing / "events.csv").read_bytes() == dropped["events.csv"][: len(dropped["events.csv"]) // 2]
    assert sorted(p.name for p in landing.iterdir()) == sorted(dropped)

    with events.open("ab") as writer:                   # the writer finishes into the same file
        writer.write(dropped["events.csv"][len(dropped["events.csv"]) // 2:])
    [second] = ingest_agency("health", home, store)
    assert (second.batch_id, second.state, second.rows_in, second.rows_loaded) == (first.batch_id, "loaded", 5, 5)
    assert list(landing.iterdir()) == []
    assert hashlib.sha256(dropped["events.csv"]).hexdigest() in _archive_listing(home)
    assert hashlib.sha256(dropped["events.csv"][: len(dropped["events.csv"]) // 2]).hexdigest() \
        not in _archive_listing(home)


def test_a_file_still_being_written_after_its_manifest_is_waited_for(store, home):
    """A data file modified after the manifest, and recently, does not match it yet: the drop waits (no rejection
    to tell the agency of); once the file is finished it loads. Long after, the same mismatch is a rejection."""
    dropped = _drop(home, 1)
    landing = home.agency_landing("health")
    manifest = landing / "health-20240301.manifest.json"
    events = landing / "events.csv"
    events.write_bytes(dropped["events.csv"][:40])
    sealed = manifest.stat().st_mtime_ns
    os.utime(events, ns=(sealed + 10**9, sealed + 10**9))
    modified = datetime.fromtimestamp(sealed / 1e9 + 1, timezone.utc)

    [waiting] = ingest_agency("health", home, store, now=modified + timedelta(minutes=1))
    assert (waiting.state, waiting.reason) == ("waiting", "waiting for events.csv to be finished: it changed after "
                                               "the manifest was written and does not yet match it")
    assert sorted(p.name for p in landing.iterdir()) == sorted(dropped) and _archive_listing(home) == {}
    [stale] = ingest_agency("health", home, store, now=modified + timedelta(hours=2))
    assert (stale.batch_id, stale.state) == (waiting.batch_id, "rejected")
    assert stale.reason.startswith("events.csv: SHA-256 does not match")

    events.write_bytes(dropped["events.csv"])
    [loaded] = ingest_agency("health", home, store)
    assert (loaded.batch_id, loaded.state, loaded.rows_in) == (waiting.batch_id, "loaded", 5)
    assert list(landing.iterdir()) == []


def test_a_file_changed_after_it_was_archived_is_not_removed_from_landing(store, home):
    """Only files whose landing bytes are the manifest's and are in the archive are removed."""
    dropped = _drop(home, 1)
    [loaded] = ingest_agency("health", home, store)
    landing = home.agency_landing("health")
    for name, data in dropped.items():                  # the same drop again, but events.csv changed since
        (landing / name).write_bytes(data)
    (landing / "events.csv").write_bytes(dropped["events.csv"] + NEW_EVENT)
    [again] = ingest_agency("health", home, store)
    assert (again.batch_id, again.note) == (loaded.batch_id, "already ingested")
    assert _landed(landing) == {"events.csv": dropped["events.csv"] + NEW_EVENT}


def _manifest(tmp_path, name: str, **body):
    import json
    path = tmp_path / name
    path.write_text(json.dumps({"agency": "health", "extract_date": "2026-11-02",
                                "files": [{"name": "a.csv", "contract_file": "persons", "rows": 1, "sha256": "0" * 64}],
                                **body}))
    return path


def test_a_manifest_must_be_named_for_its_agency_and_extract_date_and_list_each_file_once(tmp_path):
    from mash.landing import ManifestError, read_manifest
    assert read_manifest(_manifest(tmp_path, "health-20261102.manifest.json"), "health").drop_name == "health-20261102"
    long_name = [{"name": "a" * 201 + ".csv", "contract_file": "persons", "rows": 1, "sha256": "0" * 64}]
    twice = [{"name": "a.csv", "contract_file": "persons", "rows": 1, "sha256": "0" * 64},
             {"name": "a.csv", "contract_file": "events", "rows": 1, "sha256": "0" * 64}]
    cases = [
        ("health-20251102.manifest.json", {},
         "health-20251102.manifest.json: a manifest must be named health-20261102.manifest.json"),
        ("health-x.manifest.json", {}, "health-x.manifest.json: a manifest must be named"),
        ("health-20261102.manifest.json", {"files": twice},
         "health-20261102.manifest.json: file entry 2 names a file an earlier entry names"),
        ("health-20261102.manifest.json", {"files": long_name},
         "health-20261102.manifest.json: file entry 1 must name a file in the same folder (at most 200"),
    ]
    for name, body, message in cases:
        with pytest.raises(ManifestError) as caught:
            read_manifest(_manifest(tmp_path, name, **body), "health")
        assert str(caught.value).startswith(message)


def _link_symbolic(target, link):
    link.symlink_to(target)


def _link_hard(target, link):
    os.link(target, link)


def _fifo(target, link):
    os.mkfifo(link)


def _folder(target, link):
    link.mkdir()
    shutil.copyfile(target, link / "persons.csv")


@pytest.mark.parametrize("make, what", [
    (_link_symbolic, "is a symbolic link; only regular files are taken in (a link is never followed)"),
    (_link_hard, "has other hard links (it may be a file outside the landing folder); only regular files are taken in"),
    (_fifo, "is a device, pipe or socket; only regular files are taken in"),
    (_folder, "is a folder; only regular files are taken in"),
])
def test_only_regular_files_are_taken_in_and_a_link_is_never_followed(make, what, store, home, tmp_path):
    """persons.csv is a link to (or a hard link of) a file outside the landing folder, a pipe or a folder: the drop
    is refused naming the file, the file outside is neither read nor touched, and the drop stays as it was."""
    dropped = _drop(home, 1)
    landing = home.agency_landing("health")
    outside = tmp_path / "outside.csv"
    outside.write_bytes(dropped["persons.csv"])
    (landing / "persons.csv").unlink()
    make(outside, landing / "persons.csv")
    before = sorted(p.name for p in landing.iterdir())

    for _ in range(2):                                  # a rerun records nothing new
        [refused] = ingest_agency("health", home, store)
        assert (refused.state, refused.reason) == ("rejected", f"persons.csv: {what}")
        assert sorted(p.name for p in landing.iterdir()) == before
        assert outside.read_bytes() == dropped["persons.csv"]
        assert _archive_listing(home) == {}
        assert feed_count(store, "health", refused.batch_id) == 0
        assert [(b["batch_id"], b["state"]) for b in _batches(store)] == [(refused.batch_id, "rejected")]


def test_a_manifest_that_is_a_symbolic_link_is_refused_and_not_followed(store, home, tmp_path):
    dropped = _drop(home, 1)
    landing = home.agency_landing("health")
    manifest = landing / "health-20240301.manifest.json"
    outside = tmp_path / "manifest.json"
    outside.write_bytes(dropped[manifest.name])
    manifest.unlink()
    manifest.symlink_to(outside)
    [refused] = ingest_agency("health", home, store)
    assert (refused.state, refused.reason) == (
        "rejected", "health-20240301.manifest.json: is a symbolic link; only regular files are taken in (a link is "
                    "never followed)")
    assert manifest.is_symlink() and outside.read_bytes() == dropped[manifest.name]
    assert _archive_listing(home) == {}


def test_a_manifest_is_checked_against_its_schema_with_a_reason_naming_the_entry(tmp_path):
    """Types are not converted, names are non-empty and unique, entries are capped, and a manifest far larger than
    any real one (60,000 entries, once checked in 52 s and then waited for) is refused before it is parsed."""
    from mash.landing import MAX_ENTRIES, ManifestError, read_manifest

    def entry(i, **change):
        return {"name": f"f{i}.csv", "contract_file": "persons", "rows": 1, "sha256": "0" * 64, **change}

    name = "health-20261102.manifest.json"
    cases = [
        ({"files": [entry(i) for i in range(60_000)]}, f"{name}: larger than 1024 KiB, too large to be a manifest"),
        ({"files": [entry(i) for i in range(MAX_ENTRIES + 1)]},
         f"{name}: files: List should have at most {MAX_ENTRIES} items after validation, not {MAX_ENTRIES + 1}"),
        ({"files": [entry(1), entry(2, name="")]}, f"{name}: file entry 2, name: String should have at least 1 "
                                                   "character"),
        ({"files": [entry(1, rows="3")]}, f"{name}: file entry 1, rows: Input should be a valid integer"),
        ({"files": [entry(1, rows=True)]}, f"{name}: file entry 1, rows: Input should be a valid integer"),
        ({"files": [entry(1, rows=-1)]}, f"{name}: file entry 1, rows: Input should be greater than or equal to 0"),
        ({"files": [entry(1, name={"a": "b"})]}, f"{name}: file entry 1, name: Input should be a valid string"),
        ({"files": [entry(1, sha256="abc")]}, f"{name}: file entry 1, sha256: String should match pattern"),
        ({"files": [entry(1, name="..")]}, f"{name}: file entry 1 must name a file in the same folder"),
        ({"files": [{"name": "a.csv"}]}, f"{name}: file entry 1, contract_file: Field required"),
        ({"files": {"name": "a.csv"}}, f"{name}: files: Input should be a valid list"),
        ({"files": []}, f"{name}: files: List should have at least 1 item after validation, not 0"),
        ({"extract_date": 20261102}, f"{name}: extract_date: Input should be a valid string"),
    ]
    for body, message in cases:
        with pytest.raises(ManifestError) as caught:
            read_manifest(_manifest(tmp_path, name, **body), "health")
        assert str(caught.value).startswith(message), str(caught.value)


def test_a_manifest_dated_in_the_future_or_far_back_is_refused_and_the_current_batch_stays(store, home):
    """A year typed a year ahead once became the current batch for good; a year typed back was loaded and never
    used. Each is refused naming the date; only the manifest is taken in, the data wait for a corrected one."""
    from mash.store.current import current_batches
    landing = home.agency_landing("health")
    night = datetime(2024, 3, 2, 1, 30, tzinfo=timezone.utc)
    _drop(home, 1)
    [good] = ingest_agency("health", home, store, now=night)
    assert good.state == "loaded"

    cases = [
        (date(2025, 3, 2), "health-20250302.manifest.json: extract_date 2025-03-02 is after the night being run "
                           "(2024-03-02); is the date mistyped? Drop a manifest with the right date"),
        (date(2024, 3, 3), "health-20240303.manifest.json: extract_date 2024-03-03 is after the night being run "
                           "(2024-03-02); is the date mistyped? Drop a manifest with the right date"),
        (date(2023, 3, 2), "health-20230302.manifest.json: extract_date 2023-03-02 is more than 92 days before the "
                           "agency's current extract (2024-03-01); is the date mistyped?"),
        (date(1924, 3, 2), "health-19240302.manifest.json: extract_date 1924-03-02 is more than ten years before the "
                           "night being run (2024-03-02)"),
    ]
    for dated, reason in cases:
        dropped = land(GOOD, landing)
        seal(landing, "health", dated)
        [refused] = ingest_agency("health", home, store, now=night)
        assert (refused.state, refused.reason) == ("rejected", reason)
        assert _landed(landing) == dropped                 # the data files wait for a corrected manifest
        assert current_batches(store) == {"health": good.batch_id}
        with store.connect() as conn:
            assert conn.execute(select(batch.c.extract_date).where(batch.c.batch_id == refused.batch_id)).scalar() \
                is None                                     # it counts for no night

    seal(landing, "health", date(2024, 3, 2))
    [corrected] = ingest_agency("health", home, store, now=night)
    assert corrected.state == "loaded" and current_batches(store) == {"health": corrected.batch_id}
    assert list(landing.iterdir()) == []

    with store.begin() as conn:                         # a year-ahead batch loaded before dates were checked
        conn.execute(insert(batch).values(batch_id="health-20250302-0a0a0a0a", agency="health",
                                          drop_name="health-20250302", extract_date=date(2025, 3, 2),
                                          manifest_sha256="0a" * 32, state="loaded", received_at=night,
                                          finished_at=night))
    assert current_batches(store) == {"health": corrected.batch_id}
