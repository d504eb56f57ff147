"""The hub's store reached through the Airflow connection `mash_db` as Airflow writes a PostgreSQL connection's URI
(``postgres://...``, the form AIRFLOW_CONN_MASH_DB takes from docker-compose.yml or the UI): the sensor's look and the
failure alert both connect, on a real PostgreSQL."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime, time, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import make_url

from mash.arrivals import ARRIVED, LATE, LONDON, drop_state, load_night_settings
from mash.delivery import deliver
from mash.ingest import ingest_agency
from mash.store import migrate
from mash.synth import generate
from tests.conftest import REPO
from tests.smtp import SmtpServer

NIGHT = date(2026, 11, 2)
pytestmark = pytest.mark.postgres


@pytest.fixture
def nightly(airflow_db):
    spec = importlib.util.spec_from_file_location("mash_nightly_under_test", REPO / "dags" / "mash_nightly.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def airflow_uri(pg_url, home, monkeypatch, tmp_path):
    """The test database as AIRFLOW_CONN_MASH_DB in Airflow's own form, with police's drop for the night ingested;
    MASH_DB_URL points nowhere, so only the connection can reach the store."""
    engine = migrate(pg_url)
    generate(children=30, seed=5, nights=1, out=tmp_path / "synth", start=NIGHT)
    deliver(tmp_path / "synth" / "night-01", home)
    ingest_agency("police", home, engine)
    engine.dispose()
    url = make_url(pg_url)
    uri = f"postgres://{url.username}@{url.host}:{url.port}/{url.database}"
    monkeypatch.setenv("AIRFLOW_CONN_MASH_DB", uri)
    monkeypatch.setenv("MASH_DB_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    return uri


def test_the_sensor_looks_at_the_store_through_the_connection(nightly, airflow_uri, home):
    after_cutoffs = datetime.combine(NIGHT, time(12), tzinfo=LONDON).astimezone(timezone.utc)
    for manifest in home.agency_landing("police").glob("*"):
        manifest.unlink()                   # nothing in police's landing folder: only the store says it arrived
    with nightly._store_as_is() as (_, engine):
        assert engine.dialect.name == "postgresql"
        settings = load_night_settings()
        assert drop_state(home, engine, "police", NIGHT, after_cutoffs, settings) == ARRIVED
        assert drop_state(home, engine, "schools", NIGHT, after_cutoffs, settings) == ARRIVED   # still landed
        for manifest in home.agency_landing("schools").glob("*.manifest.json"):
            manifest.unlink()
        assert drop_state(home, engine, "schools", NIGHT, after_cutoffs, settings) == LATE


def test_the_failure_alert_lists_the_night_from_the_store_through_the_connection(nightly, airflow_uri, home):
    ti = SimpleNamespace(dag_id="mash_nightly", run_id="night-2026-11-02", task_id="publish_shared_view",
                         map_index=-1, rendered_map_index=None, try_number=3)
    with SmtpServer() as smtp, pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASH_SMTP_URL", smtp.url)
        nightly._alert_officers({"ti": ti, "exception": KeyError("x"),
                                 "logical_date": datetime(2026, 11, 2, 1, 30, tzinfo=timezone.utc)})
    [alert] = smtp.inbox.messages
    body = alert.get_content()
    assert alert["X-MASH-Alert"] == "failed:mash_nightly:night-2026-11-02:publish_shared_view:-:3"
    assert "police: batch " in body and "could not be listed" not in body
    assert "health: no drop" in body
