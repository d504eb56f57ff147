"""Least privilege in PostgreSQL: connecting as each recipient's role, it reads its own published views and is
refused everything else; the officers read the audit; the hub's role writes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

from mash.sharing.access import grant_roles
from mash.sharing.policy import default_policy
from mash.sharing.publication import publish
from mash.store import migrate
from tests.views import NIGHT, populate_town

RECIPIENTS = list(default_policy().recipients)
FORBIDDEN_TABLES = ["shared_child", "shared_chronology", "shared_disclosure", "health_persons", "police_incidents",
                    "social_care_children", "child_record", "consent_consents"]


@pytest.fixture(scope="module")
def published(tmp_path_factory, postgres_server):
    from mash.home import Home
    url = postgres_server.create_database("roles")
    root = tmp_path_factory.mktemp("roles")
    home = Home(root / "home").ensure()
    engine = migrate(url)
    populate_town(home, engine, root / "synth", children=150, seed=3)
    publish(engine, "night-1", NIGHT)
    grant_roles(engine, RECIPIENTS)
    grant_roles(engine, RECIPIENTS)                 # idempotent
    return engine, url


def _connect_as(url: str, role: str, login: str):
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {login}")
        conn.exec_driver_sql(f"CREATE ROLE {login} LOGIN IN ROLE {role}")
    admin.dispose()
    return sa.create_engine(sa.make_url(url).set(username=login), isolation_level="AUTOCOMMIT")


def _refused(engine, sql: str) -> bool:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql).fetchall()
    except ProgrammingError as exc:
        return "permission denied" in str(exc.orig)
    return False


@pytest.mark.parametrize("recipient", RECIPIENTS)
def test_each_recipient_reads_only_its_own_views(published, recipient):
    engine, url = published
    reader = _connect_as(url, f"mash_{recipient}", f"reader_{recipient}")
    with reader.connect() as conn:
        own = {name: conn.exec_driver_sql(f"SELECT count(*) FROM {recipient}_shared_{name}").scalar()
               for name in ("children", "involvement", "chronology")}
    with engine.connect() as conn:
        expected = conn.exec_driver_sql(f"SELECT count(*) FROM {recipient}_shared_children").scalar()
    assert own["children"] == expected
    for other in RECIPIENTS:
        if other != recipient:
            assert _refused(reader, f"SELECT * FROM {other}_shared_children"), other
    for table in FORBIDDEN_TABLES:
        assert _refused(reader, f"SELECT * FROM {table} LIMIT 1"), table
    if recipient != "officers":
        assert _refused(reader, "SELECT * FROM disclosure_audit LIMIT 1")
    reader.dispose()


def test_officers_read_the_audit_and_the_hub_role_writes(published):
    engine, url = published
    officer = _connect_as(url, "mash_officers", "officer_ann")
    with officer.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM disclosure_audit").scalar() > 0
    assert _refused(officer, "DELETE FROM disclosure_audit")
    assert _refused(officer, "SELECT * FROM health_persons LIMIT 1")
    officer.dispose()
    hub = _connect_as(url, "mash_hub", "hub_worker")
    with hub.connect() as conn:
        conn.exec_driver_sql("UPDATE batch SET note = note")
        assert conn.exec_driver_sql("SELECT count(*) FROM health_persons").scalar() > 0
    hub.dispose()
