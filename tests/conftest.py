"""Shared fixtures: a throwaway MASH_HOME and store per test, an Airflow home per session, and a real PostgreSQL.

Airflow reads its configuration when first imported, so AIRFLOW_HOME and friends are set here, before any test
module imports it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="mash-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    "MASH_NIGHT_DEADLINE": "off",       # dag.test() cannot run a DAG with a deadline alert: see mash.arrivals
})
os.environ.pop("MASH_DB_URL", None)

from tests.postgres import PostgresServer  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh MASH_HOME for one test, with the embedded SQLite store."""
    from mash.home import Home
    monkeypatch.setenv("MASH_HOME", str(tmp_path / "mash_home"))
    monkeypatch.delenv("MASH_DB_URL", raising=False)
    return Home.from_env().ensure()


@pytest.fixture
def engine(home):
    from mash.store import migrate
    return migrate(home.db_url())


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, home, monkeypatch):
    """The migrated store on each backend; MASH_DB_URL points at PostgreSQL for the postgresql run."""
    from mash.store import migrate
    if request.param == "sqlite":
        return migrate(home.db_url())
    url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("MASH_DB_URL", url)
    return migrate(url)


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite) for this test session, migrated with Airflow's own CLI."""
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server: MASH_TEST_PG_URL if set, else a throwaway cluster started here.

    There is no skip: without PostgreSQL the tests that need it fail, naming what is missing.
    """
    url = os.environ.get("MASH_TEST_PG_URL")
    if url:
        yield PostgresServer.existing(url)
        return
    workdir = Path(tempfile.mkdtemp(prefix="mash-pg-"))   # not under pytest's 0700 basetemp: postgres must reach it
    server = PostgresServer.start(workdir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server, request):
    """A new, empty database on the test PostgreSQL server, as an SQLAlchemy URL. Afterwards the process's pooled
    engine on it is closed, so that a session of hundreds of such databases holds no idle connections."""
    from mash.store import engine_for
    url = postgres_server.create_database(request.node.name)
    yield url
    engine_for(url).dispose()


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """The partnership's own configuration for one test: a copy of the shipped files, named by MASH_CONFIG_DIR."""
    from mash.home import PACKAGE
    folder = tmp_path / "config"
    shutil.copytree(PACKAGE / "config", folder)
    monkeypatch.setenv("MASH_CONFIG_DIR", str(folder))
    return folder
