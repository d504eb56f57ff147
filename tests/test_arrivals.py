"""Drop detection: an agency's drop for a night is arrived, awaited until its cut-off, then late; in mash_nightly a
late agency does not stop the night, keeps its last good data and gets its late-extract notice, and the sensor
gives its worker slot back between looks (reschedule mode)."""

from __future__ import annotations

import re
import shutil
import time as time_module
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from mash.arrivals import ARRIVED, AWAITED, LATE, LONDON, NightSettingsError, drop_state, load_night_settings
from mash.cli import main
from mash.contracts import agencies
from mash.delivery import deliver
from mash.home import config_path
from mash.landing import manifest_name
from mash.store import migrate
from mash.store.schema import batch, child_record, notice
from mash.synth import generate
from tests.conftest import REPO
from tests.smtp import SmtpServer

DAG_ID = "mash_nightly"
NIGHT = date(2026, 11, 3)
SETTINGS = load_night_settings(config_path("night.yaml"))


def _utc(night: date, clock: str) -> datetime:
    return datetime.combine(night, time.fromisoformat(clock), tzinfo=LONDON).astimezone(timezone.utc)


def test_a_drop_is_awaited_until_the_cutoff_then_late(home):
    engine = migrate(home.db_url())
    cutoff = SETTINGS.cutoffs["police"].isoformat(timespec="minutes")
    assert drop_state(home, engine, "police", NIGHT, _utc(NIGHT, "01:30"), SETTINGS) == AWAITED
    just_before = _utc(NIGHT, cutoff) - timedelta(seconds=1)
    assert drop_state(home, engine, "police", NIGHT, just_before, SETTINGS) == AWAITED
    assert drop_state(home, engine, "police", NIGHT, _utc(NIGHT, cutoff), SETTINGS) == LATE


def test_the_cutoff_is_london_time_in_summer_too(home):
    engine = migrate(home.db_url())
    summer = date(2026, 7, 1)                           # British Summer Time: 04:30 in London is 03:30 UTC
    cutoff = SETTINGS.cutoff("police", summer)
    assert cutoff.astimezone(timezone.utc).hour == cutoff.hour - 1
    assert drop_state(home, engine, "police", summer, cutoff.astimezone(timezone.utc), SETTINGS) == LATE
    assert drop_state(home, engine, "police", summer, cutoff - timedelta(minutes=1), SETTINGS) == AWAITED


def test_only_the_nights_manifest_counts_as_arrived(home):
    engine = migrate(home.db_url())
    landing = home.agency_landing("health")
    landing.mkdir(parents=True)
    late = _utc(NIGHT, "12:00")
    (landing / "health-20261103-children.csv").write_text("a data file still being written\n")
    (landing / manifest_name("health", NIGHT - timedelta(days=1))).write_text("{}")   # last night's, not tonight's
    assert drop_state(home, engine, "health", NIGHT, late, SETTINGS) == LATE
    (landing / manifest_name("health", NIGHT)).write_text("{}")
    assert drop_state(home, engine, "health", NIGHT, late, SETTINGS) == ARRIVED
    assert drop_state(home, engine, "police", NIGHT, late, SETTINGS) == LATE


def test_a_drop_already_ingested_has_arrived(home):
    """A rerun of a night finds the landing zone empty (its drops were taken in) and must not call them late."""
    engine = migrate(home.db_url())
    with engine.begin() as conn:
        conn.execute(batch.insert().values(batch_id="schools-20261103-0000abcd", agency="schools",
                                           drop_name="schools-20261103", extract_date=NIGHT, manifest_sha256="0" * 64,
                                           state="rejected", received_at=datetime.now(timezone.utc)))
    assert drop_state(home, engine, "schools", NIGHT, _utc(NIGHT, "12:00"), SETTINGS) == ARRIVED


@pytest.mark.parametrize("edit, key", [
    (lambda s: s.replace('police: "04:30"', 'police: "4.30"'), "arrivals.cutoffs.police"),
    (lambda s: s.replace('police: "04:30"', 'police: "24:00"'), "arrivals.cutoffs.police"),
    (lambda s: s.replace('    police: "04:30"\n', ""), "arrivals.cutoffs: no cut-off for ['police']"),
    (lambda s: s.replace('    police: "04:30"\n', '    police: "04:30"\n    probation: "04:30"\n'),
     "arrivals.cutoffs.probation: unknown agency 'probation'"),
    (lambda s: s.replace("check_every_seconds: 300", "check_every_seconds: 0"), "arrivals.check_every_seconds"),
    (lambda s: s.replace("finished_within_minutes: 330", "finished_within_minutes: soon"),
     "deadline.finished_within_minutes"),
    (lambda s: s.replace("to: mash.officers@", "to: a@example.org, mash.officers@"), "alerts.to"),
    (lambda s: s.replace("version: 1", "version: 2"), "version: 1"),
    (lambda s: s.replace("count: 2", "count: -1"), "retries.count"),
    (lambda s: s.replace("delay_seconds: 300", "delay_seconds: 0"), "retries.delay_seconds"),
])
def test_a_malformed_night_config_is_refused_naming_the_key(tmp_path, edit, key):
    path = tmp_path / "night.yaml"
    original = (config_path("night.yaml")).read_text()
    path.write_text(edit(original))
    assert path.read_text() != original
    with pytest.raises(NightSettingsError, match=rf"^{re.escape(str(path))}:\d+:\d+: .*{re.escape(key)}"):
        load_night_settings(path)


def test_the_deadline_can_be_switched_off_for_the_embedded_airflow(monkeypatch):
    monkeypatch.setenv("MASH_NIGHT_DEADLINE", "on")
    assert load_night_settings(config_path("night.yaml")).finished_within == timedelta(minutes=330)
    monkeypatch.setenv("MASH_NIGHT_DEADLINE", "off")
    assert load_night_settings(config_path("night.yaml")).finished_within is None


def test_mash_drops_lists_each_agency(home, capsys):
    migrate(home.db_url())
    (home.agency_landing("consent")).mkdir(parents=True)
    (home.agency_landing("consent") / manifest_name("consent", NIGHT)).write_text("{}")
    assert main(["drops", "--night", NIGHT.isoformat()]) == 0
    lines = dict(line.split()[:2] for line in capsys.readouterr().out.splitlines())
    assert lines == {agency: ARRIVED if agency == "consent" else LATE for agency in agencies()}


# --- in Airflow --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    return DagBag(dag_folder=REPO / "dags")


def _run(dag, night: date, late: bool = False):
    """One night through dag.test(); a night with a late agency is not green: only its drops_on_time check fails."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    run = dag.test(logical_date=datetime.combine(night, time(1, 30), tzinfo=LONDON))
    with create_session() as session:
        failed = {ti.task_id for ti in session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run.run_id)
                  if ti.state in ("failed", "upstream_failed")}
    assert (run.state, failed) == (("failed", {"drops_on_time"}) if late else ("success", set()))
    return run


def _sensor_states(run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run.run_id, task_id="wait_for_drop").all()
        values = {ti.map_index: session.query(XComModel.value).filter_by(
            dag_id=DAG_ID, run_id=run.run_id, task_id="wait_for_drop", map_index=ti.map_index).scalar()
            for ti in tis}
    return {agencies()[index]: str(value).strip('"') for index, value in values.items()}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_late_agency_does_not_stop_the_night_and_gets_its_notice(backend, home, dagbag, tmp_path, monkeypatch,
                                                                  request):
    if backend == "postgresql":
        monkeypatch.setenv("MASH_DB_URL", request.getfixturevalue("pg_url"))
    engine = migrate(home.db_url())
    synth = tmp_path / "synth"
    generate(children=200, seed=11, nights=2, out=synth, start=date(2026, 11, 2))
    dag = dagbag.dags[DAG_ID]
    with SmtpServer() as smtp:
        monkeypatch.setenv("MASH_SMTP_URL", smtp.url)
        deliver(synth / "night-01", home)
        _run(dag, date(2026, 11, 2))
        with engine.connect() as conn:
            police_records = set(conn.execute(select(child_record.c.record_id)
                                              .where(child_record.c.record_id.like("police%"))).scalars())
        assert police_records

        deliver(synth / "night-02", home)
        shutil.rmtree(home.agency_landing("police"))            # the police have not dropped by their cut-off
        run = _run(dag, date(2026, 11, 3), late=True)            # the cut-off is long past: late at the first look

    assert _sensor_states(run) == {agency: LATE if agency == "police" else ARRIVED for agency in agencies()}
    with engine.connect() as conn:
        tonight = dict(conn.execute(select(batch.c.agency, batch.c.state)
                                    .where(batch.c.extract_date == date(2026, 11, 3))).all())
        kept = set(conn.execute(select(child_record.c.record_id)
                                .where(child_record.c.record_id.like("police%"))).scalars())
        late = conn.execute(select(notice.c.recipient, notice.c.status)
                            .where(notice.c.kind == "extract_late")).all()
    assert tonight == {agency: "loaded" for agency in agencies() if agency != "police"}
    assert kept == police_records                   # the night went on with the police's last good extract
    assert late == [("police", "sent")]
    assert [m["X-MASH-Notice"] for m in smtp.inbox.messages if (m["X-MASH-Notice"] or "").startswith("late:")] \
        == ["late:police:2026-11-03"]
    alerts = [m for m in smtp.inbox.messages if m["X-MASH-Alert"]]      # the officers know the night is not whole
    assert len(alerts) == 1 and ":drops_on_time:" in alerts[0]["X-MASH-Alert"]
    assert "police: no drop" in alerts[0].get_content()


def test_a_waiting_sensor_gives_its_slot_back_until_the_cutoff(home, airflow_db, tmp_path, config_dir):
    """The schools have not dropped when the run starts and their cut-off is two minutes ahead: their sensor looks,
    is rescheduled (its worker slot freed) and looks again every second until the cut-off, then calls them late;
    the others arrived at the first look and the night goes on."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    now = datetime.now(LONDON)
    if now.hour == 23 and now.minute >= 54:                      # the cut-off must fall on the same night
        time_module.sleep((60 - now.minute) * 60 - now.second + 5)
    night = datetime.now(LONDON).date()
    synth = tmp_path / "synth"
    generate(children=150, seed=5, nights=1, out=synth, start=night)
    deliver(synth / "night-01", home)
    shutil.rmtree(home.agency_landing("schools"))
    # at least 90 s ahead, on the minute (cut-offs are HH:MM): the sensor is sure to look before it
    ahead = datetime.now(LONDON) + timedelta(seconds=150)
    cutoff = ahead.strftime("%H:%M")
    (config_dir / "night.yaml").write_text((config_path("night.yaml")).read_text()
                      .replace("check_every_seconds: 300", "check_every_seconds: 1")
                      .replace('schools: "04:00"', f'schools: "{cutoff}"').replace('"04:30"', '"23:59"')
                      .replace('"05:00"', '"23:59"'))
    dag = DagBag(dag_folder=REPO / "dags").dags[DAG_ID]
    sensor = dag.get_task("wait_for_drop")
    assert sensor.partial_kwargs["mode"] == "reschedule" and sensor.partial_kwargs["poke_interval"] == 1

    run = _run(dag, night, late=True)
    assert datetime.now(LONDON) >= datetime.combine(night, time.fromisoformat(cutoff), tzinfo=LONDON)

    assert _sensor_states(run) == {agency: LATE if agency == "schools" else ARRIVED for agency in agencies()}
    with create_session() as session:
        rescheduled = (session.query(TaskInstance.map_index)
                       .join(TaskReschedule, TaskReschedule.ti_id == TaskInstance.id)
                       .filter(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run.run_id,
                               TaskInstance.task_id == "wait_for_drop").all())
    assert len(rescheduled) >= 2 and {agencies()[i] for (i,) in rescheduled} == {"schools"}
    with migrate(home.db_url()).connect() as conn:
        tonight = dict(conn.execute(select(batch.c.agency, batch.c.state).where(batch.c.extract_date == night)).all())
    assert tonight == {agency: "loaded" for agency in agencies() if agency != "schools"}
