"""The mash_nightly DAG: integrity through Airflow's DagBag, and whole nights run with dag.test() on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from mash.contracts import contracts
from mash.delivery import deliver
from mash.store import migrate
from mash.store.schema import (archived_file, batch, batch_file, child_record, disclosure_audit, feed_tables,
                               publication)
from tests.drops import dump
from tests.views import assert_every_value_is_audited_under_a_rule, view
from mash.synth import generate

DAG_ID = "mash_nightly"


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from tests.conftest import REPO
    return DagBag(dag_folder=REPO / "dags")


def test_dags_import_cleanly_with_tags_and_retries(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dags
    for dag in dagbag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md, f"{dag.dag_id} has no documentation for the UI"
        for task in dag.tasks:
            if task.task_id not in ("night_failed", "drops_on_time"):   # verdicts: retrying would change nothing
                assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"


def test_nightly_schedule_is_london_time_without_catchup(dagbag):
    dag = dagbag.dags[DAG_ID]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert str(dag.timezone.name) == "Europe/London"
    assert dag.timetable.expression == "30 1 * * *"


def test_ingest_is_mapped_over_every_agency(dagbag):
    ingest = dagbag.dags[DAG_ID].get_task("ingest")
    assert ingest.map_index_template == "{{ agency }}"
    assert ingest.op_kwargs_expand_input.value["agency"] == list(contracts())


def _run_night(night: int, synth_dir, home, dagbag):
    deliver(synth_dir / f"night-{night:02d}", home)
    dag = dagbag.dags[DAG_ID]
    run = dag.test(logical_date=datetime(2026, 11, 1 + night, 1, 30, tzinfo=timezone.utc))
    assert run.state == "success"
    return run


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_nights_flow_through_airflow_into_the_store(backend, home, dagbag, monkeypatch, tmp_path, request,
                                                       caplog):
    if backend == "postgresql":
        monkeypatch.setenv("MASH_DB_URL", request.getfixturevalue("pg_url"))
    synth_dir = tmp_path / "synth"
    generate(children=300, seed=7, nights=2, out=synth_dir, start=date(2026, 11, 2))
    engine = migrate(home.db_url())
    os.umask(0o022)             # as a service is often started: every task makes its files private itself

    _run_night(1, synth_dir, home, dagbag)
    with engine.connect() as conn:
        night1 = conn.execute(select(batch)).mappings().all()
    assert {b["agency"] for b in night1} == set(contracts())
    assert all(b["state"] == "loaded" for b in night1)

    with engine.connect() as conn:
        night1_children = dict(conn.execute(select(child_record.c.record_id, child_record.c.child_id)).all())
    _run_night(2, synth_dir, home, dagbag)
    _assert_children_linked_and_stable(engine, synth_dir, night1_children)
    with engine.connect() as conn:
        batches = conn.execute(select(batch)).mappings().all()
        assert len(batches) == 2 * len(contracts())
        for b in batches:
            assert b["rows_in"] == b["rows_loaded"] + b["rows_quarantined"]
        for (agency, file_name), table in feed_tables.items():
            stored = conn.execute(select(func.count()).select_from(table)).scalar_one()
            declared = conn.execute(
                select(func.coalesce(func.sum(batch_file.c.rows_loaded), 0))
                .where(batch_file.c.contract_file == file_name, batch_file.c.batch_id.like(f"{agency}-%"))
            ).scalar_one()
            assert stored == declared > 0, f"{agency}.{file_name}"
        archived = {row.sha256 for row in conn.execute(select(archived_file.c.sha256))}
        files = {row.sha256 for row in conn.execute(select(batch_file.c.sha256))}
    assert files <= archived
    for sha in archived:
        assert (home.archive / "sha256" / sha[:2] / sha).is_file()
    assert not any(p.is_file() for p in home.landing.rglob("*")), "landing zone not cleared"

    _assert_views_published(engine, "night-2026-11-03", home)
    # Everything but what the agencies' transfer wrote into the landing zone (behind its 0700 folder) is private.
    exposed = [p for p in [home.root, *home.root.rglob("*")]
               if p.stat().st_mode & 0o077 and home.landing not in p.parents]
    assert exposed == [], "the night left files others may read (the tasks started with umask 022)"

    before = dump(engine)
    run = _run_night(2, synth_dir, home, dagbag)    # the same night again: agencies re-deliver, the DAG reruns
    assert dump(engine) == before

    _assert_no_personal_data(caplog.text, _xcom_values(run.run_id), synth_dir)
    with engine.connect() as conn:
        head = conn.execute(select(func.max(disclosure_audit.c.entry_id))).scalar_one()
    assert f"disclosure audit anchored: {head} entries" in caplog.text, "the night summary carries the anchor"


def _assert_views_published(engine, night: str, home) -> None:
    """Tonight's shared view is current, every recipient's view is backed by audited decisions, and the audit is
    intact and anchored outside the store up to its newest entry."""
    from mash.sharing.anchors import read
    from mash.sharing.audit import verify
    with engine.connect() as conn:
        current = conn.execute(select(publication).where(publication.c.is_current.is_(True))).one()
        verified = verify(conn, read(home.audit_anchors))
        assert verified.intact and verified.anchored == verified.entries > 0
    assert current.run_id == night and current.children > 20
    assert assert_every_value_is_audited_under_a_rule(engine) > 50
    assert len(view(engine, "officers", "children")) == current.children       # officers see every child in it
    assert sum(len(view(engine, agency, "chronology")) for agency in ("health", "police", "schools",
                                                                       "social_care")) > 0


def _assert_children_linked_and_stable(engine, synth_dir, night1: dict[str, str]) -> None:
    """Every current person record has a child id; records of one true child mostly share it; ids hold."""
    import pandas as pd
    from mash.link.records import records_from_store
    with engine.connect() as conn:
        night2 = dict(conn.execute(select(child_record.c.record_id, child_record.c.child_id)).all())
    current = set(records_from_store(engine)["record_id"])
    assert current <= set(night2)
    truth = pd.read_csv(synth_dir / "ground_truth.csv", dtype=str)
    truth["record"] = truth["agency"] + ":" + truth["record_id"]
    truth = truth[truth["record"].isin(current)]
    truth["child_id"] = truth["record"].map(night2)
    together = truth.groupby("child_key")["child_id"].nunique()
    assert (together == 1).mean() > 0.9, "most true children should be one hub child"
    shared = truth.groupby("child_id")["child_key"].nunique()
    assert (shared == 1).mean() > 0.99, "a hub child must almost never mix two true children"
    assert len(truth["child_id"].unique()) < len(truth), "no records were linked across agencies"
    kept = sum(night2.get(record) == child_id for record, child_id in night1.items() if record in current)
    assert kept / len(night1) > 0.98, "children's ids must hold from night to night"


def _xcom_values(run_id: str) -> list:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    with create_session() as session:
        return [row.value for row in session.query(XComModel).filter_by(dag_id=DAG_ID, run_id=run_id)
                if row.key != "skipmixin_key"]     # Airflow's record of the branch followed: task ids only


def _assert_no_personal_data(log_text: str, xcoms: list, synth_dir) -> None:
    """Logs carry counts and ids, XCom carries batch ids and counts: no name, NHS number, date of birth, postcode or
    free text from any agency's extract."""
    import json
    import re
    from mash.link.records import records_from_night
    records = records_from_night(synth_dir / "night-02")
    values = set()
    for column in ("given_name", "family_name", "nhs_number", "date_of_birth", "postcode", "address"):
        values |= {v for v in records[column] if len(v) >= 5}
    for path in (synth_dir / "night-02" / "health").glob("*-events.csv"):
        values |= {line.rsplit(",", 1)[-1].strip() for line in path.read_text(encoding="utf-8").splitlines()[1:]}
    values = {v for v in values if len(v) >= 5}
    assert len(values) > 1000
    assert "night summary" in log_text, "the task logs were not captured, so this check would prove nothing"
    leaked = {v for v in values if re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", log_text)}
    assert not leaked, f"{len(leaked)} personal values reached the task logs"
    batch_id = re.compile(r"^[a-z_]+-\d{8}-[0-9a-f]{8}$")
    decoded = [json.loads(v) if isinstance(v, str) and v[:1] in "[{\"" else v for v in xcoms]
    # the drop sensors' verdicts, and the task matching_held chose (held nights wait in approve_matching)
    assert {v for v in decoded if isinstance(v, str)} <= {"arrived", "late", "not_held", "approve_matching"}
    ids = [b for v in decoded if isinstance(v, list) for b in v]
    assert ids and all(batch_id.match(b) for b in ids)
    counts = [v for v in decoded if isinstance(v, dict)]
    assert counts and all(isinstance(n, int) for v in counts for n in v.values())


def test_airflow_does_not_load_the_library_as_plugins():
    """Airflow imports plugin files under their bare names; the library must stay a package (plugins/.airflowignore)."""
    from airflow._shared.module_loading import find_path_from_directory
    from tests.conftest import REPO
    loaded = [p for p in find_path_from_directory(str(REPO / "plugins"), ".airflowignore", "glob") if p.endswith(".py")]
    assert loaded == []


def test_matching_runs_even_when_an_agency_fails_and_a_failed_task_fails_the_run(dagbag):
    dag = dagbag.dags[DAG_ID]
    match, summary = dag.get_task("match_children"), dag.get_task("night_summary")
    assert match.trigger_rule == "all_done" and match.upstream_task_ids == {"validate"}
    validate = dag.get_task("validate")       # an agency's failed ingest stops no other agency's validation
    assert validate.trigger_rule == "all_done" and validate.upstream_task_ids == {"ingest"}
    assert summary.trigger_rule == "all_success" and summary.downstream_task_ids == {"night_failed"}
    assert dag.get_task("publish_shared_view").upstream_task_ids == {"not_held", "apply_matching"}
    verdict = dag.get_task("night_failed")     # downstream of every task, so any failure fails the run
    assert verdict.trigger_rule == "one_failed" and verdict.on_failure_callback in (None, [])
    # drops_on_time is a verdict of its own (a late agency): a leaf, so it fails the run without night_failed
    assert verdict.upstream_task_ids == {t.task_id for t in dag.tasks} - {"night_failed", "drops_on_time"}
    assert dag.get_task("drops_on_time").downstream_task_ids == set()


def test_notices_are_built_after_the_view_and_extract_notices_whatever_validation_did(dagbag):
    dag = dagbag.dags[DAG_ID]
    extracts, building, sending = (dag.get_task(t) for t in ("extract_notices", "build_notices", "send_notices"))
    assert extracts.trigger_rule == "all_done" and extracts.upstream_task_ids == {"validate"}
    assert building.upstream_task_ids == {"publish_shared_view"}
    assert "build_notices" in dag.get_task("night_summary").upstream_task_ids    # it carries tonight's audit anchor
    assert sending.trigger_rule == "all_done" and sending.upstream_task_ids == {"build_notices", "extract_notices"}
