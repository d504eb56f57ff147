"""Each notification rule fires on its fixture and not on a near miss (Operation Encompass, A&E attendance of a child
on a plan, a child on a plan leaving a school roll, an overdue visit), on both stores; extract notices tell an
agency of a rejected drop, quarantined rows (row number and reason, never content) and a late extract."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from mash.contracts import agencies, contracts
from mash.delivery import deliver
from mash.ingest import ingest_agency
from mash.landing import seal_drop
from mash.link.population import match_children
from mash.notices.outbox import build
from mash.notices.notification import _of_school_age, _on_plan
from mash.sharing.tonight import Tonight
from mash.store.current import current_batches
from mash.store.schema import batch_file, child_record, feed_tables, notice
from mash.synth import generate

NIGHT = date(2026, 11, 2)
YESTERDAY = NIGHT - timedelta(days=1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(children=4000, seed=5, nights=2, out=out, start=NIGHT)
    return out


def _rows_batch(engine, agency: str, contract_file: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(batch_file.c.rows_batch_id).where(
            batch_file.c.batch_id == current_batches(engine)[agency],
            batch_file.c.contract_file == contract_file)).scalar_one()


def _add(engine, agency: str, contract_file: str, **values) -> None:
    """Add a row to the agency's current extract in the store, as if the agency had sent it."""
    table, batch_id = feed_tables[(agency, contract_file)], _rows_batch(engine, agency, contract_file)
    with engine.begin() as conn:
        last = conn.execute(select(func.max(table.c.row_number)).where(table.c.batch_id == batch_id)).scalar()
        conn.execute(insert(table).values(batch_id=batch_id, row_number=last + 1, **values))


def _change(engine, agency: str, contract_file: str, where: dict, **values) -> None:
    table, batch_id = feed_tables[(agency, contract_file)], _rows_batch(engine, agency, contract_file)
    with engine.begin() as conn:
        changed = conn.execute(update(table).where(table.c.batch_id == batch_id,
                                                   *(table.c[k] == v for k, v in where.items())).values(**values))
        assert changed.rowcount >= 1


def _keys(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(notice.c.idempotency_key)).scalars())


def _local_ids(engine, agency: str) -> dict[str, str]:
    """Hub child id -> the agency's own id of the child's current person record."""
    with engine.connect() as conn:
        return {child_id: record_id.split(":", 1)[1] for record_id, child_id in conn.execute(
            select(child_record.c.record_id, child_record.c.child_id)
            .where(child_record.c.record_id.like(f"{agency}:%")))}


@pytest.fixture
def night(store, home, synth):
    deliver(synth / "night-01", home)
    for agency in agencies():
        ingest_agency(agency, home, store)
    match_children(store, "night-1")
    return store


def test_each_notification_fires_on_its_fixture_and_not_on_a_near_miss(night, home):
    engine, tonight = night, Tonight(night)
    police, health, social = (_local_ids(engine, a) for a in ("police", "health", "social_care"))
    enrolments = tonight.rows("schools", "enrolments", ["upn", "school_urn", "leaving_date"])
    enrolled = enrolments[enrolments["leaving_date"].isna()].drop_duplicates("child_id")
    on_plan = sorted(_on_plan(tonight, NIGHT))
    enrolled_on_plan = [c for c in enrolled["child_id"] if c in on_plan]
    assert len(on_plan) >= 3 and enrolled_on_plan, "the town needs children on plans for these fixtures"

    # Operation Encompass: a domestic abuse incident with a pupil present; near misses: another kind of incident,
    # and a child present with no current school.
    pupil = next(c for c in enrolled["child_id"] if c in police)
    unenrolled = next(c for c in police if c not in set(enrolled["child_id"]))
    for incident_id, child, kind in (("FX-DA-1", pupil, "DA"), ("FX-CFW-1", pupil, "CFW"),
                                     ("FX-DA-2", unenrolled, "DA")):
        _add(engine, "police", "incidents", incident_id=incident_id, person_id=police[child],
             occurred_at=datetime.combine(YESTERDAY, datetime.min.time()).replace(hour=21), incident_type=kind,
             child_role="PRESENT", dash_risk="MEDIUM" if kind == "DA" else None)
    # A&E by a child on a plan; near misses: a health visitor contact for that child, A&E by a child on no plan.
    patient = next(c for c in on_plan if c in health)
    not_on_plan = next(c for c in health if c in social and c not in on_plan)
    for event_id, child, kind in (("FX-AE-1", patient, "AE"), ("FX-HV-1", patient, "HV"),
                                  ("FX-AE-2", not_on_plan, "AE")):
        _add(engine, "health", "events", event_id=event_id, patient_id=health[child], event_date=YESTERDAY,
             event_type=kind, site="Huddersfield Royal Infirmary")
    # Leaving a school roll: a child on a plan moves school; near miss: a child on no plan leaves.
    mover = enrolled_on_plan[0]
    moving = enrolled[enrolled["child_id"] == mover].iloc[0]
    _change(engine, "schools", "enrolments", {"upn": moving["upn"], "school_urn": moving["school_urn"]},
            leaving_date=YESTERDAY)
    _add(engine, "schools", "enrolments", upn=moving["upn"], school_urn="999999", school_name="Fixture Academy",
         entry_date=NIGHT, enrolment_status="C", dsl_email="dsl@fixture-academy.sch.example")
    # ... and a child of school age on a plan leaves with no new school: no enrolment at all.
    born = dict(tonight.rows("social_care", "children", ["date_of_birth"])[["child_id", "date_of_birth"]].values)
    stranded = next(c for c in enrolled_on_plan[1:] if _of_school_age(born.get(c), NIGHT))
    stranding = enrolled[enrolled["child_id"] == stranded].iloc[0]
    _change(engine, "schools", "enrolments", {"upn": stranding["upn"], "leaving_date": None}, leaving_date=YESTERDAY)
    leaver = next(c for c in enrolled["child_id"] if c not in on_plan)
    leaving = enrolled[enrolled["child_id"] == leaver].iloc[0]
    _change(engine, "schools", "enrolments", {"upn": leaving["upn"], "school_urn": leaving["school_urn"]},
            leaving_date=YESTERDAY)
    # Visits: one child on a plan unseen for 30 days; near miss: one seen two days ago.
    unseen, seen = [c for c in on_plan if c in social and c not in (mover, stranded)][:2]
    _change(engine, "social_care", "children", {"child_id": social[unseen]}, last_seen_date=NIGHT - timedelta(30))
    _change(engine, "social_care", "children", {"child_id": social[seen]}, last_seen_date=NIGHT - timedelta(2))

    build(engine, home, "night-1", NIGHT)
    keys = _keys(engine)
    assert f"encompass:FX-DA-1:{pupil}" in keys
    assert not any(k.startswith(("encompass:FX-CFW-1", "encompass:FX-DA-2")) for k in keys)
    assert "emergency-attendance:FX-AE-1" in keys
    assert not {"emergency-attendance:FX-HV-1", "emergency-attendance:FX-AE-2"} & keys
    about = f"{moving['school_urn']}:{YESTERDAY.isoformat()}"
    assert {f"school-move:{mover}:{about}", f"school-move-new-school:{mover}:{about}"} <= keys
    assert not any(k.startswith(f"school-move:{leaver}:") for k in keys)
    assert any(k.startswith(f"no-school:{stranded}:") for k in keys)
    assert any(k.startswith(f"school-move:{stranded}:") for k in keys)
    assert not any(k.startswith(f"no-school:{mover}:") for k in keys)
    assert f"visit-overdue:{unseen}:{(NIGHT - timedelta(30)).isoformat()}" in keys
    assert not any(k.startswith(f"visit-overdue:{seen}:") for k in keys)
    with engine.connect() as conn:
        to_new_school = conn.execute(select(notice).where(
            notice.c.idempotency_key == f"school-move-new-school:{mover}:{about}")).mappings().one()
    assert to_new_school["recipient"] == "schools" and to_new_school["to_address"] == "dsl@fixture-academy.sch.example"
    assert "Fixture Academy" in to_new_school["body_text"]


def _corrupt_night(synth, tmp_path):
    """Night 2 as the agencies got it wrong: police send a row with an impossible date, health's file changes after
    its manifest was written, and the consent register sends nothing."""
    night = tmp_path / "night-02"
    shutil.copytree(synth / "night-02", night)
    police = night / "police"
    incidents = next(police.glob("*-incidents.csv"))
    lines = incidents.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[2] = "31/02/2026 10:00"
    bad_value = cells[2]
    lines[3] = ",".join(cells)
    incidents.write_text("".join(lines), encoding="utf-8")
    next(police.glob("*.manifest.json")).unlink()
    seal_drop(police, "police", NIGHT + timedelta(days=1),
              {p.stem.rsplit("-", 1)[1]: p for p in sorted(police.glob("*.csv"))}, contracts()["police"].encoding)
    events = next((night / "health").glob("*-events.csv"))
    events.write_bytes(events.read_bytes() + b"\n")
    shutil.rmtree(night / "consent")
    next((night / "schools").glob("*.manifest.json")).write_text("{not json", encoding="utf-8")
    return night, bad_value


def test_extract_notices_name_rows_and_reasons_never_values(engine, home, synth, tmp_path):
    deliver(synth / "night-01", home)
    for agency in agencies():
        ingest_agency(agency, home, engine)
    night2, bad_value = _corrupt_night(synth, tmp_path)
    deliver(night2, home)
    for agency in agencies():
        ingest_agency(agency, home, engine)
    as_of = NIGHT + timedelta(days=1)
    summary = build(engine, home, "night-2", as_of, parts=("extracts",))
    with engine.connect() as conn:
        rows = {(r["kind"], r["recipient"]): r for r in conn.execute(select(notice)).mappings()}
    assert set(rows) == {("extract_rejected", "health"), ("extract_rejected", "schools"),
                         ("extract_quarantined", "police"), ("extract_late", "consent"), ("extract_late", "schools")}
    assert summary.built == {"extract_rejected": 2, "extract_quarantined": 1, "extract_late": 2}
    assert "manifest could not be read" in rows[("extract_rejected", "schools")]["body_text"]
    assert rows[("extract_late", "consent")]["about"] == as_of.isoformat()
    quarantined = rows[("extract_quarantined", "police")]
    assert quarantined["recipient"] == "police" and quarantined["to_address"] == "data.police@police.example.uk"
    assert "incidents row 4, column occurred_at" in quarantined["body_text"]
    assert bad_value not in quarantined["body_text"] and "31/02" not in quarantined["body_html"]
    assert (home.outbox / "police" / f"quarantined_{quarantined['about']}.txt").read_text(encoding="utf-8") == \
        quarantined["body_text"]
    assert build(engine, home, "night-2", as_of, parts=("extracts",)).built == {}
