"""Alerts to the officers: a task of mash_nightly that fails for good raises exactly one alert (a retry raises none),
caught by a real SMTP server; a night not finished by its deadline raises one through Airflow's deadline alert.
Alerts carry ids and counts only."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

from mash.arrivals import LONDON
from mash.cli import main
from mash.delivery import deliver
from mash.link.records import records_from_night
from mash.synth import generate
from tests.conftest import REPO
from tests.smtp import SmtpServer

DAG_ID = "mash_nightly"
NIGHT = date(2026, 11, 2)
OFFICERS = "mash.officers@council.example.gov.uk"


def _personal_values(night_dir) -> set[str]:
    records = records_from_night(night_dir)
    return {v for column in ("given_name", "family_name", "nhs_number", "postcode", "address")
            for v in records[column] if len(v) >= 5}


def _alerts(smtp) -> list:
    return [m for m in smtp.inbox.messages if m["X-MASH-Alert"]]


def test_a_task_that_fails_for_good_raises_exactly_one_alert(home, airflow_db, tmp_path, config_dir, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    (config_dir / "chronology.yaml").write_text("version: 1\nattendance_absence_at_least: 2\n")   # not a share:
                                                                                                 # publishing stops
    synth = tmp_path / "synth"
    generate(children=150, seed=3, nights=1, out=synth, start=NIGHT)
    deliver(synth / "night-01", home)
    dag = DagBag(dag_folder=REPO / "dags").dags[DAG_ID]
    publish = dag.get_task("publish_shared_view")
    publish.retries, publish.retry_delay = 1, timedelta(0)       # one retry, at once: it fails again

    with SmtpServer() as smtp:
        monkeypatch.setenv("MASH_SMTP_URL", smtp.url)
        run = dag.test(logical_date=datetime.combine(NIGHT, time(1, 30), tzinfo=LONDON))
    assert run.state == "failed"
    with create_session() as session:
        states = {ti.task_id: (ti.state, ti.try_number) for ti in
                  session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run.run_id, map_index=-1)}
    assert states["publish_shared_view"] == ("failed", 2)
    assert states["build_notices"][0] == states["send_notices"][0] == "success"    # the rest of the night went on

    alerts = _alerts(smtp)
    assert len(alerts) == 1, [a["Subject"] for a in alerts]
    alert = alerts[0]
    assert alert["To"] == OFFICERS and "publish_shared_view" in alert["Subject"]
    body = alert.get_content()
    assert f"run {run.run_id}" in body and "on try 2" in body and "Error type: PolicyError" in body
    assert "attendance_absence_at_least" not in body                     # the type, never the message
    for agency in ("health", "police", "schools", "social_care", "consent"):
        assert f"  {agency}: batch {agency}-20261102-" in body and " loaded, rows in " in body
    assert not {v for v in _personal_values(synth / "night-01") if v in body}
    saved = list((home.outbox / "officers").iterdir())
    assert len(saved) == 1 and saved[0].read_text() == body.replace("\r\n", "\n") and saved[0].stat().st_mode & 0o077 == 0


def test_the_nightly_dag_declares_its_deadline_from_the_config(airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv("MASH_NIGHT_DEADLINE", "on")
    dag = DagBag(dag_folder=REPO / "dags").dags[DAG_ID]
    (alert,) = dag.deadline
    assert alert.interval == timedelta(minutes=330)
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert alert.callback.path == "mash.alerts.deadline_missed"
    assert DagSerialization.serialize_dag(dag)["deadline"]        # the scheduler can store it


def test_a_missed_deadline_raises_one_alert_through_airflows_callback_trigger(home, tmp_path, monkeypatch):
    """The triggerer runs the deadline's callback as Airflow's CallbackTrigger, with the run described by a plain
    dict (what the scheduler hands it); the alert lists the night's drops."""
    from airflow.triggers.callback import CallbackTrigger

    synth = tmp_path / "synth"
    generate(children=60, seed=2, nights=1, out=synth, start=NIGHT)
    deliver(synth / "night-01", home)
    assert main(["ingest"]) == 0
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
    # the context the scheduler builds on a missed deadline (airflow.models.deadline.Deadline.handle_miss)
    run = DAGRunResponse.model_validate({
        "dag_run_id": "scheduled__2026-11-02T01:30:00+00:00", "dag_id": DAG_ID, "dag_display_name": DAG_ID,
        "logical_date": "2026-11-02T01:30:00Z", "queued_at": "2026-11-02T01:30:00Z", "start_date": None,
        "end_date": None, "duration": None, "data_interval_start": None, "data_interval_end": None,
        "run_after": "2026-11-02T01:30:00Z", "last_scheduling_decision": None, "run_type": "scheduled",
        "state": "running", "triggered_by": None, "triggering_user_name": None, "conf": {}, "note": None,
        "dag_versions": [], "bundle_version": None, "partition_key": None, "partition_date": None})
    context = {"dag_run": run.model_dump(mode="json"),
               "deadline": {"id": "d1", "deadline_time": "2026-11-02T07:00:00+00:00"}}

    async def fire() -> list[dict]:
        trigger = CallbackTrigger(callback_path="mash.alerts.deadline_missed", callback_kwargs={"context": context})
        return [event.payload async for event in trigger.run()]

    with SmtpServer() as smtp:
        monkeypatch.setenv("MASH_SMTP_URL", smtp.url)
        events = asyncio.run(fire())
    assert events[-1]["state"] == "success" and events[-1]["body"] is True
    (alert,) = _alerts(smtp)
    assert alert["To"] == OFFICERS and "not finished by 2026-11-02T07:00:00+00:00" in alert["Subject"]
    assert alert["X-MASH-Alert"] == f"overdue:{DAG_ID}:scheduled__2026-11-02T01:30:00+00:00"
    body = alert.get_content()
    assert "Drops for 2026-11-02:" in body and "  police: batch police-20261102-" in body
    assert not {v for v in _personal_values(synth / "night-01") if v in body}


def test_an_alert_that_cannot_be_sent_stays_in_the_outbox(home):
    from mash.alerts import send_alert, task_failed
    alert = task_failed(DAG_ID, "run-1", "ingest", "police", 3, "OperationalError", NIGHT, None)
    from tests.smtp import free_port
    assert send_alert(alert, home, f"smtp://127.0.0.1:{free_port()}") is False     # nobody listening
    (saved,) = (home.outbox / "officers").iterdir()
    assert "ingest [police]" in saved.read_text() and "could not be listed" in saved.read_text()
