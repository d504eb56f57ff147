"""Least privilege and sealed views in PostgreSQL, tried as an attacker would: a login in a recipient's role, using
only its own views, tries cheap functions that print every row they see, changed planner settings, cast-error and
EXPLAIN oracles, temporary objects, other recipients' views, the base tables, the audit and the consent register;
the officers read the audit; the hub's own login runs whole nights and cannot rewrite the audit."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from mash.cli import main
from mash.sharing.access import grant_roles
from mash.sharing.policy import default_policy
from mash.sharing.publication import publish
from mash.store import migrate
from mash.store.schema import metadata
from mash.synth import generate
from tests.views import NIGHT, populate_town

RECIPIENTS = list(default_policy().recipients)
# the officers' own tables (the audit is the view officer_disclosure_audit: no fingerprints; the review queue is the
# view officer_review_queue: references, never record ids)
OFFICERS_READ = {"publication", "publication_entry", "public_interest_decision", "batch", "batch_file", "quarantine"}
BASE_TABLES = sorted([*metadata.tables, "alembic_version"])
CHEAP_PEEK = """CREATE FUNCTION {schema}.peek(VARIADIC text[]) RETURNS boolean COST 0.0001 LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'seen:%', array_to_string($1, '|'); RETURN true; END $$"""
PLANNER_SETTINGS = {
    "default": [],
    "no scans but indexes": ["enable_seqscan = off", "enable_bitmapscan = off", "random_page_cost = 0.0001"],
    "nested loops only": ["enable_hashjoin = off", "enable_mergejoin = off", "enable_material = off",
                          "cpu_operator_cost = 0", "join_collapse_limit = 1", "from_collapse_limit = 1"],
    "no nested loops": ["enable_nestloop = off", "enable_indexscan = off", "cpu_tuple_cost = 100"],
}


@pytest.fixture(scope="module")
def published(tmp_path_factory, postgres_server):
    """A town published twice (the tables keep the previous publication too) on a database as PostgreSQL creates it
    (PUBLIC may connect and create temporary objects), the roles granted twice (idempotent)."""
    from mash.home import Home
    url = postgres_server.create_database("roles")
    root = tmp_path_factory.mktemp("roles")
    home = Home(root / "home").ensure()
    engine = migrate(url)
    populate_town(home, engine, root / "synth", children=200, seed=11)
    publish(engine, "night-0", NIGHT - timedelta(days=200))
    publish(engine, "night-1", NIGHT)
    grant_roles(engine, RECIPIENTS)
    grant_roles(engine, RECIPIENTS)
    return engine, url


def _login(url: str, role: str | None, login: str) -> str:
    """A login that is a member of ``role`` only (of none: None), as the database administrator creates one; its
    libpq URL."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {login}")
        conn.exec_driver_sql(f"CREATE ROLE {login} LOGIN" + (f" IN ROLE {role}" if role else ""))
    admin.dispose()
    return sa.make_url(url).set(drivername="postgresql", username=login).render_as_string(hide_password=False)


class Attacker:
    """A recipient's login on its own connection, collecting every NOTICE the server sends it."""

    def __init__(self, conninfo: str):
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.notices: list[str] = []
        self.conn.add_notice_handler(lambda diag: self.notices.append(diag.message_primary or ""))

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def refused(self, sql: str) -> bool:
        """True when the server refuses ``sql`` for want of a privilege."""
        try:
            self.conn.execute(sql).fetchall() if sql.lstrip().upper().startswith("SELECT") else self.conn.execute(sql)
        except psycopg.errors.InsufficientPrivilege:
            return True
        return False

    def seen(self) -> list[list[str]]:
        found = [n.removeprefix("seen:").split("|") for n in self.notices if n.startswith("seen:")]
        self.notices.clear()
        return found

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def police(published):
    engine, url = published
    attacker = Attacker(_login(url, "mash_police", "police_analyst"))
    yield attacker
    attacker.close()


def _owner_rows(engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(sql)]


def _hidden_child(engine) -> tuple[str, str]:
    """A child in the current publication, with an NHS number, that the police may not see at all."""
    return _owner_rows(engine, "SELECT c.child_id, c.nhs_number FROM shared_child c JOIN publication p "
                               "ON p.publication_id = c.publication_id AND p.is_current WHERE c.nhs_number IS NOT NULL "
                               "AND c.child_id NOT IN (SELECT child_id FROM police_shared_children) "
                               "ORDER BY c.child_id LIMIT 1")[0]


def _hidden_entry(engine) -> tuple[str, str]:
    """A child the police see whose chronology holds a class the police may not see: (child, class)."""
    return _owner_rows(engine, "SELECT e.child_id, e.data_class FROM shared_chronology e JOIN publication p "
                               "ON p.publication_id = e.publication_id AND p.is_current "
                               "WHERE e.child_id IN (SELECT child_id FROM police_shared_children) "
                               "AND (e.child_id, e.data_class) NOT IN "
                               "(SELECT child_id, data_class FROM police_shared_chronology) "
                               "ORDER BY 1, 2 LIMIT 1")[0]


def test_the_tables_hold_children_and_entries_the_police_may_not_see(published):
    engine, _ = published
    total, publications, police = _owner_rows(engine, "SELECT count(*), count(DISTINCT publication_id), "
                                                      "(SELECT count(*) FROM police_shared_children) "
                                                      "FROM shared_child")[0]
    assert 0 < police < total and publications == 2
    assert _hidden_child(engine) and _hidden_entry(engine)


def test_a_login_in_no_role_of_the_hub_cannot_connect(published):
    _, url = published
    with pytest.raises(psycopg.OperationalError, match="CONNECT"):
        psycopg.connect(_login(url, None, "stranger"))


def test_a_recipient_connects_but_may_create_nothing_to_spy_with(police):
    assert police.rows("SELECT current_user, count(*) FROM police_shared_children")[0][1] > 0
    assert police.refused(CHEAP_PEEK.format(schema="pg_temp"))               # no temporary objects
    assert police.refused("CREATE TEMP TABLE copied AS SELECT 1")
    assert police.refused(CHEAP_PEEK.format(schema="public"))
    assert police.refused("CREATE SCHEMA spy")
    assert police.refused("CREATE VIEW widened AS SELECT 1")


@pytest.fixture
def peek(published, police):
    """The strongest form of the attack, whatever the grants: the cheap noticing function exists and the police
    may call it (as if a careless administrator had installed it)."""
    with lured(published[0]) as function:
        yield function


@contextmanager
def lured(engine):
    """The cheap noticing function in a schema of its own, callable by the police; removed afterwards."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS lure CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA lure")
        conn.exec_driver_sql(CHEAP_PEEK.format(schema="lure").replace("%", "%%"))
        conn.exec_driver_sql("GRANT USAGE ON SCHEMA lure TO mash_police")
        conn.exec_driver_sql("GRANT EXECUTE ON FUNCTION lure.peek TO mash_police")
    yield "lure.peek"
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA lure CASCADE")


@pytest.mark.parametrize("settings", PLANNER_SETTINGS.values(), ids=PLANNER_SETTINGS.keys())
def test_a_cheap_function_in_the_where_clause_sees_only_the_view(published, police, peek, settings):
    engine, _ = published
    own_children = {row[0] for row in police.rows("SELECT child_id FROM police_shared_children")}
    own_entries = sorted(police.rows("SELECT child_id, data_class, description FROM police_shared_chronology"))
    police.conn.execute("RESET ALL")
    for setting in settings:
        police.conn.execute(f"SET {setting}")
    try:
        children = police.rows(f"SELECT child_id FROM police_shared_children WHERE {peek}(child_id, nhs_number, "
                               "given_name, family_name, date_of_birth::text)")
        seen = police.seen()
        assert len(children) == len(own_children) == len(seen)
        assert {row[0] for row in seen} == own_children
        entries = police.rows(f"SELECT child_id FROM police_shared_chronology WHERE {peek}(child_id, data_class, "
                              "description) AND data_class <> 'no such class'")
        seen = police.seen()
        assert len(entries) == len(own_entries)
        assert sorted(tuple(row) for row in seen) == own_entries
        involvement = police.rows(f"SELECT count(*) FROM police_shared_involvement WHERE {peek}(child_id, agency, "
                                  "practitioner_name)")[0][0]
        assert len(police.seen()) == involvement
    finally:
        police.conn.execute("RESET ALL")


def test_a_cast_error_oracle_learns_nothing_outside_the_view(published, police):
    engine, _ = published
    hidden_child, hidden_nhs = _hidden_child(engine)
    child_id, hidden_class = _hidden_entry(engine)
    own = police.rows("SELECT count(*) FROM police_shared_children")[0][0]
    for sql, params in [
        ("SELECT count(*) FROM police_shared_children WHERE CASE WHEN nhs_number = %s "
         "THEN 1 / (length(nhs_number) - length(nhs_number)) ELSE 0 END = 0",
         [hidden_nhs]),
        ("SELECT count(*) FROM police_shared_children WHERE CASE WHEN child_id = %s THEN given_name::int "
         "ELSE 0 END = 0", [hidden_child]),
    ]:
        assert police.rows(sql, params)[0][0] == own
    entries = police.rows("SELECT count(*) FROM police_shared_chronology")[0][0]
    assert police.rows("SELECT count(*) FROM police_shared_chronology WHERE CASE WHEN child_id = %s AND "
                       "data_class = %s THEN description::int ELSE 0 END = 0", [child_id, hidden_class])[0][0] \
        == entries


def _plan_counts(attacker: Attacker, sql: str, params) -> list[tuple]:
    """Every node of the executed plan with the rows it produced and removed."""
    plan = attacker.rows("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) " + sql, params)[0][0]
    counts, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        counts.append((node["Node Type"], node.get("Actual Rows"), node.get("Rows Removed by Filter"),
                       node.get("Rows Removed by Join Filter"), node.get("Rows Removed by Index Recheck")))
        nodes.extend(node.get("Plans", []))
    return counts


def test_explain_analyze_cannot_tell_a_hidden_child_from_an_absent_one(published, police):
    """A predicate the planner may push below the view's filter (equality is leakproof) would show, in EXPLAIN
    ANALYZE's row counts, whether a hidden NHS number or a hidden class is in the store."""
    engine, _ = published
    _, hidden_nhs = _hidden_child(engine)
    child_id, hidden_class = _hidden_entry(engine)
    for settings in PLANNER_SETTINGS.values():
        police.conn.execute("RESET ALL")
        for setting in settings:
            police.conn.execute(f"SET {setting}")
        sql = "SELECT * FROM police_shared_children WHERE nhs_number = %s"
        assert _plan_counts(police, sql, [hidden_nhs]) == _plan_counts(police, sql, ["0000000000"])
        sql = "SELECT * FROM police_shared_chronology WHERE child_id = %s AND data_class = %s"
        assert _plan_counts(police, sql, [child_id, hidden_class]) == _plan_counts(police, sql, [child_id, "none"])
    police.conn.execute("RESET ALL")


@pytest.mark.parametrize("recipient", RECIPIENTS)
def test_each_recipient_reads_only_its_own_views(published, recipient):
    engine, url = published
    reader = Attacker(_login(url, f"mash_{recipient}", f"reader_{recipient}"))
    try:
        own = {name: reader.rows(f"SELECT count(*) FROM {recipient}_shared_{name}")[0][0]
               for name in ("children", "involvement", "chronology")}
        expected = _owner_rows(engine, "SELECT count(*) FROM shared_disclosure d JOIN publication p ON "
                                       "p.publication_id = d.publication_id AND p.is_current WHERE "
                                       f"d.recipient = '{recipient}' AND d.data_class = 'identity'")[0][0]
        assert own["children"] == expected > 0
        for other in RECIPIENTS:
            for name in ("children", "involvement", "chronology"):
                if other != recipient:
                    assert reader.refused(f"SELECT * FROM {other}_shared_{name}"), other
                    assert reader.refused(f"SELECT * FROM {other}_shared_{name}_rows()"), other
                # the sealed view behind its own view's function: the function is the only way in
                assert reader.refused(f"SELECT * FROM {other}_shared_{name}_disclosed"), other
        readable = OFFICERS_READ if recipient == "officers" else set()
        for table in BASE_TABLES:
            assert reader.refused(f"SELECT * FROM {table} LIMIT 1") == (table not in readable), table
            assert reader.refused(f"DELETE FROM {table}"), table
        assert reader.refused("CREATE TEMP TABLE t (x int)")
        assert reader.refused("SET ROLE mash_hub")
    finally:
        reader.close()


def test_what_a_later_migration_creates_is_the_hubs_to_write_and_nobody_elses(published, police):
    """Default privileges: a table and a function the owner creates after the roles were granted."""
    engine, url = published
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE later_feed (person text)")
        conn.exec_driver_sql("CREATE FUNCTION later_count() RETURNS bigint LANGUAGE sql "
                             "AS 'SELECT count(*) FROM later_feed'")
    hub = Attacker(_login(url, "mash_hub", "hub_later"))
    try:
        hub.conn.execute("INSERT INTO later_feed VALUES ('someone')")
        assert hub.rows("SELECT count(*) FROM later_feed") == [(1,)]
        assert police.refused("SELECT * FROM later_feed")
        assert police.refused("SELECT later_count()")
    finally:
        hub.close()
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP FUNCTION later_count()")
            conn.exec_driver_sql("DROP TABLE later_feed")


def test_officers_read_the_audit_but_no_one_rewrites_it(published):
    engine, url = published
    officer = Attacker(_login(url, "mash_officers", "officer_ann"))
    try:
        assert officer.rows("SELECT count(*) FROM officer_disclosure_audit")[0][0] > 0
        assert officer.refused("SELECT * FROM disclosure_audit LIMIT 1")      # fingerprints and hashes: not theirs
        assert officer.refused("DELETE FROM disclosure_audit")
        assert officer.refused("SELECT * FROM health_persons LIMIT 1")
        assert officer.refused("SELECT * FROM consent_consents LIMIT 1")
    finally:
        officer.close()
    hub = Attacker(_login(url, "mash_hub", "hub_worker"))
    try:
        assert hub.rows("SELECT count(*) FROM health_persons")[0][0] > 0
        hub.conn.execute("UPDATE batch SET note = note")
        assert hub.rows("SELECT count(*) FROM police_shared_children")[0][0] > 0     # the hub exports the views
        for statement in ("UPDATE disclosure_audit SET basis = 'rewritten'", "DELETE FROM disclosure_audit",
                          "TRUNCATE disclosure_audit", "ALTER TABLE disclosure_audit DISABLE TRIGGER USER",
                          "DROP TABLE disclosure_audit", "UPDATE alembic_version SET version_num = '0001'",
                          "CREATE TABLE extra (x int)", "CREATE TEMP TABLE extra (x int)"):
            before = _owner_rows(engine, "SELECT count(*), max(entry_hash) FROM disclosure_audit")
            with pytest.raises(psycopg.Error):
                hub.conn.execute(statement)
            assert _owner_rows(engine, "SELECT count(*), max(entry_hash) FROM disclosure_audit") == before
    finally:
        hub.close()


def test_the_hub_login_runs_whole_nights_and_owns_nothing(postgres_server, tmp_path, monkeypatch, capsys):
    """The owner migrates and grants the roles (`mash db upgrade`, `mash db roles`); then the nightly run's login,
    a member of mash_hub named by MASH_DB_URL, runs two nights end to end, the notices included."""
    owner_url = postgres_server.create_database("hub_night")
    monkeypatch.setenv("MASH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MASH_DB_URL", owner_url)
    assert main(["db", "upgrade"]) == main(["db", "roles"]) == 0
    monkeypatch.setenv("MASH_DB_URL", _login(owner_url, "mash_hub", "hub_night"))
    generate(children=200, seed=11, nights=2, out=tmp_path / "synth", start=NIGHT)
    for night in (1, 2):
        as_of, run = (NIGHT + timedelta(days=night - 1)).isoformat(), f"night-{night}"
        for command in (["deliver", str(tmp_path / "synth" / f"night-0{night}")], ["db", "upgrade"], ["ingest"],
                        ["validate"], ["match", "--run-id", run], ["publish", "--as-of", as_of, "--run-id", run],
                        ["notices", "build", "--as-of", as_of, "--run-id", run], ["notices", "send"],
                        ["audit", "verify"]):
            assert main(command) == 0, command
    capsys.readouterr()
    owner = sa.create_engine(owner_url)
    with owner.connect() as conn:
        published = conn.exec_driver_sql("SELECT run_id FROM publication WHERE is_current").scalar()
        notices = conn.exec_driver_sql("SELECT count(*) FROM notice WHERE audit_entry_id IS NOT NULL").scalar()
        owned = conn.exec_driver_sql("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                                     "WHERE r.rolname IN ('hub_night', 'mash_hub')").scalar()
    owner.dispose()
    assert (published, owned) == ("night-2", 0) and notices > 0
