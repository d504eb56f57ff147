"""Validation in the store: a critical failure rejects only that agency's batch, the agency's last good batch stays
current, the reason names the check and never a value, every result is kept per batch, Data Docs are built."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

from sqlalchemy import func, select

from mash.alerts import batch_held, send_alert
from mash.contracts import agencies, contracts
from mash.delivery import deliver
from mash.ingest import ingest_agency
from mash.landing import MANIFEST_SUFFIX, seal_drop
from mash.link.records import current_batches
from mash.notices.extract_notice import extract_notices
from mash.notices.settings import default_settings
from mash.quality import validate_agency
from mash.quality.checkpoint import data_docs_index
from mash.quality.suites import suite_json
from mash.store.schema import batch, quality_check, quality_validation
from mash.synth import generate

START = date(2026, 11, 2)


def _night(home, engine, night_dir, spoil=None):
    deliver(night_dir, home)
    if spoil:
        spoil(home)
    outcomes = {}
    for agency in agencies():
        ingest_agency(agency, home, engine)
        outcomes.update({o.agency: o for o in validate_agency(agency, home, engine)})
    return outcomes


def _rewrite_health(home, contract_file: str, change) -> None:
    """Edit each row of one file of health's drop tonight with ``change(number, row)`` and seal the drop again."""
    folder = home.agency_landing("health")
    manifest = next(folder.glob(f"*{MANIFEST_SUFFIX}"))
    body = json.loads(manifest.read_text())
    manifest.unlink()
    path = folder / next(f["name"] for f in body["files"] if f["contract_file"] == contract_file)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for number, row in enumerate(rows):
        change(number, row)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    seal_drop(folder, "health", date.fromisoformat(body["extract_date"]),
              {f["contract_file"]: folder / f["name"] for f in body["files"]})


def _age_health_events(home):
    """Health's drop tonight holds only contacts more than a month old: a stale extract (critical freshness)."""
    def older(_, row):
        row["event_date"] = (date.fromisoformat(row["event_date"]) - timedelta(days=60)).isoformat()
    _rewrite_health(home, "events", older)


def test_a_critical_failure_rejects_only_that_agencys_batch(store, home, tmp_path):
    generate(children=400, seed=5, nights=2, out=tmp_path / "synth", start=START)
    first = _night(home, store, tmp_path / "synth" / "night-01")
    assert {o.verdict for o in first.values()} <= {"passed", "warnings"}
    assert set(first) == set(agencies())

    second = _night(home, store, tmp_path / "synth" / "night-02", spoil=_age_health_events)
    health = second["health"]
    assert health.verdict == "rejected" and health.critical_failed == 1
    assert health.reason == ("failed critical data-quality checks: events: expect_column_max_to_be_between on "
                             "event_date failed")
    assert all(o.verdict in ("passed", "warnings") for a, o in second.items() if a != "health")

    current = current_batches(store)
    assert current["health"] == first["health"].batch_id           # last good data stays published
    for agency in agencies():
        if agency != "health":
            assert current[agency] == second[agency].batch_id
    with store.connect() as conn:
        row = conn.execute(select(batch).where(batch.c.batch_id == health.batch_id)).mappings().one()
        assert row["state"] == "rejected" and row["reason"] == health.reason
        assert row["rows_loaded"] > 0                              # the rows are kept: nothing is lost
        verdicts = dict(conn.execute(select(quality_validation.c.batch_id, quality_validation.c.verdict)).all())
        assert len(verdicts) == 2 * len(agencies()) and verdicts[health.batch_id] == "rejected"
        stored = conn.execute(select(func.count()).select_from(quality_check)
                              .where(quality_check.c.batch_id == health.batch_id)).scalar_one()
    expected = sum(len(json.loads(suite_json("health", spec.name))["expectations"])
                   for spec in contracts()["health"].files)
    assert stored == expected

    # Re-delivering the same rejected drop does not load it again, and nothing is validated twice.
    before = _night(home, store, tmp_path / "synth" / "night-02", spoil=_age_health_events)
    assert before == {}
    assert data_docs_index(home).is_file()
    assert any(health.batch_id in p.parts for p in data_docs_index(home).parent.rglob("*.html"))


def test_rejection_reasons_and_stored_results_hold_no_extract_values(engine, home, tmp_path):
    generate(children=300, seed=9, nights=1, out=tmp_path / "synth", start=START)
    _night(home, engine, tmp_path / "synth" / "night-01")
    values = set()
    for path in (tmp_path / "synth" / "night-01").rglob("*.csv"):
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            for row in csv.DictReader(handle):
                values |= {row[c] for c in ("nhs_number", "upn", "family_name", "surname", "postcode")
                           if row.get(c) and len(row[c]) > 4}
    with engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(select(quality_check)) for v in row)
    docs = " ".join(p.read_text(errors="replace") for p in data_docs_index(home).parent.rglob("*.html")
                    if "validations" in p.parts)
    assert docs and stored
    assert not [v for v in values if v in stored or v in docs]


def test_a_file_referencing_an_empty_file_is_checked_not_crashed():
    """Tonight's conferences reference s47 enquiries, and tonight's s47 file has no rows: the referenced dates are
    missing (so the cross-file order checks have nothing to compare), not a crash of the agency's validation."""
    import pandas as pd
    from mash.quality.frames import with_referenced
    conferences = pd.DataFrame({"s47_id": ["S1", "S2", None], "conference_date": pd.to_datetime(["2026-11-01"] * 3)})
    empty = pd.DataFrame({"s47_id": pd.Series([], dtype=object),
                          "strategy_discussion_date": pd.Series([], dtype="datetime64[ns]")})
    out = with_referenced(conferences, empty, "s47_id", {"strategy_discussion_date": "strategy_discussion_date"})
    assert out["strategy_discussion_date"].isna().all() and len(out) == 3
    s47 = pd.DataFrame({"s47_id": ["S2", "S2"], "strategy_discussion_date": pd.to_datetime(["2026-10-01"] * 2)})
    out = with_referenced(conferences, s47, "s47_id", {"strategy_discussion_date": "strategy_discussion_date"})
    assert out["strategy_discussion_date"].isna().tolist() == [True, False, True]
    assert out["strategy_discussion_date"][1] == pd.Timestamp("2026-10-01")


def _dates_of_birth_in_another_format(home):
    """Health's persons tonight: three in five dates of birth written dd/mm/yyyy, which its contract refuses."""
    def reformat(number, row):
        if number % 5 < 3 and row["date_of_birth"]:
            row["date_of_birth"] = date.fromisoformat(row["date_of_birth"]).strftime("%d/%m/%Y")
    _rewrite_health(home, "persons", reformat)


def test_a_batch_that_would_gut_an_agencys_data_is_held_back_from_the_second_night(engine, home, tmp_path):
    generate(children=400, seed=5, nights=2, out=tmp_path / "synth", start=START)
    first = _night(home, engine, tmp_path / "synth" / "night-01")
    second = _night(home, engine, tmp_path / "synth" / "night-02", spoil=_dates_of_birth_in_another_format)

    health = second["health"]
    assert health.verdict == "rejected" and health.held
    assert health.reason.startswith("held back, the last good batch stays current: persons: ")
    assert f"in the last good batch {first['health'].batch_id}" in health.reason
    assert "% of records quarantined" in health.reason
    assert not any(o.held for a, o in second.items() if a != "health")
    assert current_batches(engine)["health"] == first["health"].batch_id   # the officers' view keeps health

    with engine.connect() as conn:
        row = conn.execute(select(batch).where(batch.c.batch_id == health.batch_id)).mappings().one()
        assert row["state"] == "rejected" and row["reason"] == health.reason
        assert row["rows_quarantined"] > row["rows_in"] * 0.2            # the quarantine is kept for the agency
    notices = extract_notices(engine, START + timedelta(days=1), START, default_settings())
    [told] = [n for n in notices if n.key == f"rejected:{health.batch_id}"]
    assert any(health.reason in line for line in told.lines)
    send_alert(batch_held(health.batch_id, "health", health.reason), home, None)
    [alert] = (home.outbox / "officers").glob("*.txt")
    assert health.batch_id in alert.read_text() and "held back" in alert.read_text()


def test_a_night_like_the_last_is_not_held_back(engine, home, tmp_path):
    generate(children=400, seed=5, nights=2, out=tmp_path / "synth", start=START)
    _night(home, engine, tmp_path / "synth" / "night-01")
    second = _night(home, engine, tmp_path / "synth" / "night-02")
    assert not any(o.held for o in second.values())
    assert current_batches(engine) == {a: o.batch_id for a, o in second.items()}
