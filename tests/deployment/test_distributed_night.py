"""Two generated nights through the distributed deployment (`make test-deployment`): PostgreSQL, Redis and Airflow 3
on the CeleryExecutor as separate processes (tests/deployment/cluster.py), the hub's store reached through
AIRFLOW_CONN_MASH_DB=postgresql://... as docker-compose.yml gives it, matching in two partitions on the Celery worker,
notices and alerts delivered to a real SMTP server.

Night 1: every agency drops. Night 2: schools do not drop (their cut-off has passed: the sensor reports them late)
and the matching's shared work folder is unusable (a file stands where its partitions' folder should be), so the
matching's first task fails on both of its tries and the officers are alerted, once. Each run is triggered through
the REST API and waited for with a bounded poll.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from mash.store import new_engine
from tests.deployment.cluster import REPO, Deployment, wait_until
from tests.smtp import SmtpServer

pytestmark = pytest.mark.deployment
DAG = "mash_nightly"
CHILDREN = 300
NIGHTS = ("2026-11-02", "2026-11-03")
LATE_AGENCY = "schools"
RUN_TIMEOUT = 900           # seconds: a night of 300 children took 3 to 5 minutes on the busy 2-core machine
PLAN = "match_children_in_partitions.plan"
COMPARE = "match_children_in_partitions.compare"


def run_id(night: str) -> str:
    return f"night-{night}"


class Nights:
    """The deployment after both nights: what the assertions read."""

    def __init__(self, deployment: Deployment, smtp: SmtpServer, queued_after: float):
        self.deployment, self.smtp, self.queued_after = deployment, smtp, queued_after

    def runs(self) -> dict[str, dict]:
        return {r["dag_run_id"]: r for r in self.deployment.api("GET", f"/api/v2/dags/{DAG}/dagRuns")["dag_runs"]}

    def task_instances(self, night: str) -> list[dict]:
        return self.deployment.api("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id(night)}/taskInstances?limit=100"
                                   )["task_instances"]

    def batches(self) -> list[dict]:
        return json.loads(self.deployment.mash("status", "--json"))


def _config_dir(folder: Path) -> Path:
    """The partnership's configuration (MASH_CONFIG_DIR): the shipped files, with a retry one second after a failure
    instead of five minutes."""
    config = folder / "config"
    shutil.copytree(REPO / "plugins" / "mash" / "config", config)
    night = config / "night.yaml"
    shipped = night.read_text(encoding="utf-8")
    night.write_text(shipped.replace("count: 2", "count: 1").replace("delay_seconds: 300", "delay_seconds: 1"),
                     encoding="utf-8")
    assert night.read_text() != shipped
    return config


def _run_night(deployment: Deployment, night: str) -> None:
    deployment.api("POST", f"/api/v2/dags/{DAG}/dagRuns",
                   {"dag_run_id": run_id(night), "logical_date": f"{night}T01:30:00Z"})


def _finished(deployment: Deployment, night: str):
    if deployment.dead():
        raise RuntimeError(f"stopped during the night: {deployment.dead()} (logs in {deployment.logs})")
    state = deployment.api("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id(night)}")["state"]
    return state if state in ("success", "failed") else None


@pytest.fixture(scope="module")
def nights(request):
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="mash-deployment-"))
    os.chmod(root, 0o755)           # PostgreSQL, run as its own user when the tests run as root, must reach it
    with SmtpServer() as smtp:
        deployment = Deployment(root, smtp.url, _config_dir(root))
        try:
            deployment.start()
            wait_until(lambda: deployment.dag_parsed(DAG), 300, f"the dag-processor parsing {DAG}")
            deployment.api("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
            deployment.mash("synth", "--children", str(CHILDREN), "--seed", "7", "--nights", "2",
                            "--start", NIGHTS[0], "--out", str(root / "synth"))

            deployment.mash("deliver", str(root / "synth" / "night-01"))
            _run_night(deployment, NIGHTS[0])
            queued_after = time.monotonic() - started
            assert wait_until(lambda: _finished(deployment, NIGHTS[0]), RUN_TIMEOUT, "night 1 finished")

            deployment.mash("deliver", str(root / "synth" / "night-02"))
            shutil.rmtree(deployment.mash_home / "landing" / LATE_AGENCY)
            partitions = deployment.mash_home / "work" / "match"     # where the partitions' work is shared
            shutil.rmtree(partitions, ignore_errors=True)
            partitions.write_text("not the shared work folder\n")
            _run_night(deployment, NIGHTS[1])
            assert wait_until(lambda: _finished(deployment, NIGHTS[1]), RUN_TIMEOUT, "night 2 finished")
            yield Nights(deployment, smtp, queued_after)
        finally:
            deployment.stop()
    assert not [name for name, proc in deployment.processes.items() if proc.poll() is None]
    if request.session.testsfailed:
        print(f"\nthe deployment's logs are kept in {deployment.logs}")
        shutil.rmtree(deployment.mash_home, ignore_errors=True)     # generated personal data
    else:
        shutil.rmtree(root, ignore_errors=True)


def test_the_first_night_succeeds_and_the_second_fails_for_its_broken_matching(nights):
    runs = nights.runs()
    assert runs[run_id(NIGHTS[0])]["state"] == "success"
    assert runs[run_id(NIGHTS[1])]["state"] == "failed"
    failed = {(ti["task_id"], ti["map_index"]) for ti in nights.task_instances(NIGHTS[1]) if ti["state"] == "failed"}
    # the broken matching (and so night_failed), and drops_on_time: the schools were late, so the night is not green
    assert failed == {(PLAN, -1), ("night_failed", -1), ("drops_on_time", -1)}
    print(f"\nfirst run queued {nights.queued_after:.0f} s after the deployment test started; runs took",
          {k: (r["start_date"], r["end_date"]) for k, r in runs.items()})


def test_every_batch_of_both_nights_loaded_with_its_rows_conserved(nights):
    batches = nights.batches()
    by_night = {night: sorted(b["agency"] for b in batches if b["extract_date"] == night) for night in NIGHTS}
    assert by_night[NIGHTS[0]] == ["consent", "health", "police", "schools", "social_care"]
    assert by_night[NIGHTS[1]] == ["consent", "health", "police", "social_care"]
    for b in batches:
        assert b["state"] in ("loaded", "validated"), b
        assert b["rows_in"] == b["rows_loaded"] + b["rows_quarantined"], b
    for night in NIGHTS:
        assert sum(b["rows_loaded"] for b in batches if b["extract_date"] == night) > 0


def test_children_were_matched_in_two_partitions_on_the_celery_worker(nights):
    compares = [ti for ti in nights.task_instances(NIGHTS[0]) if ti["task_id"] == COMPARE]
    assert sorted(ti["map_index"] for ti in compares) == [0, 1]
    assert all(ti["state"] == "success" and ti["queue"] == "default" for ti in compares)
    executed = re.findall(r"Executing workload in Celery: .*?task_id='([^']+)'.*?run_id='([^']+)'.*?map_index=(-?\d+)",
                          nights.deployment.log("worker"))
    assert {(COMPARE, run_id(NIGHTS[0]), "0"), (COMPARE, run_id(NIGHTS[0]), "1")} <= set(executed)
    with new_engine(nights.deployment.store_url("mash_night")).connect() as conn:
        children = conn.execute(sa.text("SELECT count(*) FROM child")).scalar_one()
    assert CHILDREN * 0.8 <= children <= CHILDREN * 1.2


def test_each_recipient_reads_its_published_view_through_its_role(nights):
    engine = new_engine(nights.deployment.store_url("postgres"))
    with engine.connect() as conn:
        published = conn.execute(sa.text("SELECT run_id FROM publication")).scalars().all()
        assert run_id(NIGHTS[0]) in published
        conn.execute(sa.text("SET ROLE mash_police"))
        assert conn.execute(sa.text("SELECT count(*) FROM police_shared_children")).scalar_one() > 0
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(sa.text("SELECT count(*) FROM health_shared_children"))
    engine.dispose()


def test_notices_reached_the_smtp_server_once_each(nights):
    sent = {n["idempotency_key"] for n in json.loads(nights.deployment.mash("notices", "list", "--json"))
            if n["status"] == "sent"}
    delivered = [key for key in nights.smtp.inbox.keys() if key]
    assert sent and sorted(delivered) == sorted(sent)


def test_the_late_agency_was_reported_late_by_its_sensor_and_told(nights):
    sensor = [ti for ti in nights.task_instances(NIGHTS[1])
              if ti["task_id"] == "wait_for_drop" and ti["rendered_map_index"] == LATE_AGENCY]
    assert len(sensor) == 1 and sensor[0]["state"] == "success"
    xcom = nights.deployment.api(
        "GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id(NIGHTS[1])}/taskInstances/wait_for_drop/xcomEntries/"
               f"return_value?map_index={sensor[0]['map_index']}")
    assert xcom["value"] in ("late", '"late"')          # the API may give it serialised
    assert f"late:{LATE_AGENCY}:{NIGHTS[1]}" in nights.smtp.inbox.keys()


def test_the_failed_task_alerted_the_officers_once_after_its_retry(nights):
    plan = [ti for ti in nights.task_instances(NIGHTS[1]) if ti["task_id"] == PLAN]
    assert len(plan) == 1 and plan[0]["try_number"] == 2
    alerts = {m["X-MASH-Alert"].strip(): m for m in nights.smtp.inbox.messages if m["X-MASH-Alert"]}
    # one alert per failed task: the matching's plan after its retry, and the late schools' drops_on_time verdict
    assert sorted(alerts) == sorted([f"failed:{DAG}:{run_id(NIGHTS[1])}:{PLAN}:-:2",
                                     f"failed:{DAG}:{run_id(NIGHTS[1])}:drops_on_time:-:1"])
    assert len([m for m in nights.smtp.inbox.messages if m["X-MASH-Alert"]]) == 2
    plan_alert = alerts[f"failed:{DAG}:{run_id(NIGHTS[1])}:{PLAN}:-:2"].get_content()
    assert "NotADirectoryError" in plan_alert or "FileExistsError" in plan_alert


def test_the_store_takes_its_roles_passwords_only(nights):
    wrong = sa.make_url(nights.deployment.store_url("mash_night")).set(password="not-the-password")
    engine = new_engine(wrong.render_as_string(hide_password=False))
    with pytest.raises(sa.exc.OperationalError):
        engine.connect()
    engine.dispose()


def test_the_nights_ran_as_the_hub_login_which_owns_nothing(nights):
    """compose's AIRFLOW_CONN_MASH_DB names mash_night (a member of mash_hub), not the store's owner: the nights
    above ran through it, and it owns no relation, so it cannot disable the audit's trigger."""
    with new_engine(nights.deployment.store_url("postgres")).connect() as conn:
        assert conn.execute(sa.text("SELECT pg_has_role('mash_night', 'mash_hub', 'MEMBER')")).scalar_one()
        owners = set(conn.execute(sa.text("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN "
                                          "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"))
                     .scalars())
        assert owners == {"mash"}
