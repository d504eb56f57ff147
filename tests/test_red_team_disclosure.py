"""Red team on the sealed views, the roles and the append-only audit (issue 16), with attacks the first round of
tests (test_recipient_roles, test_append_only_audit) did not try. A test that FAILS is an attack that succeeds
today; a test that passes is an attack that was tried and held. Real PostgreSQL throughout (SQLite where named).

As a recipient (mash_police): catalog statistics, server files, large objects, replication role, session
authorisation, COPY of another view, cursors and prepared statements, leaky functions in ORDER BY and window
functions, EXPLAIN (ANALYZE, BUFFERS), EXPLAIN ANALYZE's counts inside the fence.
As an officer (mash_officers): the audit's content fingerprints and class names, the review queue's record ids,
the officers' own involvement view.
As the hub's nightly login (mash_hub): TRUNCATE, MERGE, upsert, rules, replication role; forged entries; the
officers' public-interest and match decisions. The compose deployment's nightly login. SQLite's REPLACE.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.exc import DBAPIError
from stdnum.gb import upn as upn_check

from mash.sharing import audit
from mash.sharing.access import grant_roles
from mash.sharing.policy import default_policy
from mash.sharing.public_interest import record_decision
from mash.sharing.publication import publish
from mash.store import migrate
from tests.test_recipient_roles import Attacker, _login, _owner_rows, lured
from tests.views import NIGHT, populate_town

REPO = Path(__file__).resolve().parents[1]
RECIPIENTS = list(default_policy().recipients)
OFFICERS_MAY_SEE = {"identity", "involvement", "consent_record", "social_care_status"}   # rule O1


@pytest.fixture(scope="module")
def town(tmp_path_factory, postgres_server):
    """A small town published twice, the roles granted: (owner engine, owner url)."""
    from mash.home import Home
    url = postgres_server.create_database("red_team")
    root = tmp_path_factory.mktemp("red")
    home = Home(root / "home").ensure()
    engine = migrate(url)
    populate_town(home, engine, root / "synth", children=150, seed=11)
    publish(engine, "night-0", NIGHT - timedelta(days=200))
    publish(engine, "night-1", NIGHT)
    grant_roles(engine, RECIPIENTS)
    return engine, url


@pytest.fixture(scope="module")
def police(town):
    attacker = Attacker(_login(town[1], "mash_police", "red_police"))
    yield attacker
    attacker.close()


@pytest.fixture(scope="module")
def officer(town):
    attacker = Attacker(_login(town[1], "mash_officers", "red_officer"))
    yield attacker
    attacker.close()


@pytest.fixture(scope="module")
def hub(town):
    attacker = Attacker(_login(town[1], "mash_hub", "red_hub"))
    yield attacker
    attacker.close()


def _error(attacker: Attacker, *statements: str) -> type[Exception] | None:
    """The class of the error the server raises for ``statements``, run in one transaction (None when they run)."""
    try:
        with attacker.conn.transaction():
            for sql in statements:
                cursor = attacker.conn.execute(sql)
                if cursor.description:
                    cursor.fetchall()
    except psycopg.Error as error:
        return type(error)
    return None


# --- a recipient login (mash_police) ------------------------------------------------------------------------------

def test_a_recipient_reads_no_statistics_of_the_tables_behind_its_views(police):
    """pg_stats holds most_common_vals of every analysed column: a recipient reads only rows of columns it may
    select (its views have none), and the extended statistics views only for tables it owns."""
    assert police.rows("SELECT count(*) FROM pg_stats WHERE schemaname = 'public'") == [(0,)]
    assert police.rows("SELECT count(*) FROM pg_stats_ext") == [(0,)]
    assert police.rows("SELECT count(*) FROM pg_stats_ext_exprs") == [(0,)]
    assert _error(police, "SELECT * FROM pg_statistic LIMIT 1") is psycopg.errors.InsufficientPrivilege
    assert _error(police, "SELECT * FROM pg_statistic_ext_data LIMIT 1") is psycopg.errors.InsufficientPrivilege


@pytest.mark.parametrize("statements", [
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT pg_ls_dir('.')",
    "COPY (SELECT * FROM health_shared_children) TO STDOUT",
    "COPY shared_child TO STDOUT",
    "COPY police_shared_children FROM STDIN",
    "SET session_replication_role = replica",
    "SET SESSION AUTHORIZATION mash_hub",
    "SET ROLE mash_officers",
    "LOCK TABLE police_shared_children IN EXCLUSIVE MODE",
    "SELECT * FROM police_shared_children FOR UPDATE",
    "CREATE EXTENSION dblink",
    ("PREPARE peek AS SELECT * FROM shared_child", "EXECUTE peek"),
    "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM shared_disclosure",
])
def test_a_recipient_has_no_other_door(police, statements):
    statements = (statements,) if isinstance(statements, str) else statements
    assert _error(police, *statements) is psycopg.errors.InsufficientPrivilege


def test_a_recipient_sees_other_sessions_but_not_their_queries(police, hub):
    hub.rows("SELECT count(*) FROM shared_child WHERE given_name = 'Zz-hub-query-text'")
    queries = [q for (q,) in police.rows("SELECT query FROM pg_stat_activity WHERE usename <> current_user")]
    assert queries and not any("Zz-hub-query-text" in (q or "") for q in queries)


@pytest.fixture
def peek(town):
    """The cheap noticing function, installed by a careless administrator and callable by the police."""
    with lured(town[0]) as function:
        yield function


@pytest.mark.parametrize("shape", [
    "SELECT child_id FROM police_shared_children ORDER BY {peek}(child_id, nhs_number, given_name)",
    "SELECT child_id, count(*) FILTER (WHERE {peek}(child_id, nhs_number)) OVER () FROM police_shared_children",
    "SELECT child_id, row_number() OVER (PARTITION BY {peek}(child_id, nhs_number)) FROM police_shared_children",
    "SELECT DISTINCT ON ({peek}(child_id, nhs_number)) child_id FROM police_shared_children",
    "SELECT child_id FROM police_shared_children GROUP BY child_id, nhs_number HAVING {peek}(child_id, nhs_number)",
    "SELECT c.child_id FROM police_shared_children c JOIN police_shared_chronology e ON e.child_id = c.child_id "
    "AND {peek}(c.child_id, c.nhs_number)",
    "SELECT child_id FROM police_shared_children WHERE EXISTS (SELECT 1 WHERE {peek}(child_id, nhs_number))",
    "SELECT child_id FROM police_shared_children LIMIT 1 OFFSET 0 + (SELECT count(*) FROM police_shared_children "
    "WHERE {peek}(child_id, nhs_number))::int * 0",
])
def test_a_leaky_function_anywhere_in_the_query_sees_only_the_view(police, peek, shape):
    own = {row[0] for row in police.rows("SELECT child_id FROM police_shared_children")}
    police.seen()
    police.conn.execute("SET enable_hashagg = off")
    try:
        police.rows(shape.format(peek=peek))
    finally:
        police.conn.execute("RESET ALL")
    seen = {row[0] for row in police.seen()}
    assert seen <= own


def test_explain_buffers_of_a_hidden_and_an_absent_value_are_the_same(town, police):
    """Pages read (BUFFERS) could count more than rows: a probe that touched a hidden child's page."""
    engine, _ = town
    hidden = _owner_rows(engine, "SELECT c.nhs_number FROM shared_child c JOIN publication p USING (publication_id) "
                                 "WHERE p.is_current AND c.nhs_number IS NOT NULL AND c.child_id NOT IN "
                                 "(SELECT child_id FROM police_shared_children) LIMIT 1")[0][0]

    def pages(value):
        plan = police.rows("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) "
                           "SELECT * FROM police_shared_children WHERE nhs_number = %s", [value])[0][0]
        found, nodes = [], [plan[0]["Plan"]]
        while nodes:
            node = nodes.pop()
            found.append((node["Node Type"], node.get("Actual Rows"), node.get("Shared Hit Blocks", 0)
                          + node.get("Shared Read Blocks", 0)))
            nodes.extend(node.get("Plans", []))
        return found
    pages(hidden)                                             # warm the cache once
    assert pages(hidden) == pages("0000000000")


def _plan(attacker: Attacker, sql: str) -> list[tuple]:
    plan = attacker.rows("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) " + sql)[0][0]
    counts, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        counts.append((node["Node Type"], node.get("Actual Rows"), node.get("Actual Loops"),
                       node.get("Rows Removed by Filter"), node.get("Rows Removed by Join Filter")))
        nodes.extend(node.get("Plans", []))
    return counts


def test_explain_analyze_tells_a_recipient_nothing_of_its_own_childrens_hidden_entries(town):
    """Accepted: EXPLAIN ANALYZE shows how many rows the tables hold. Not accepted: a count of the entries, in classes
    the recipient may not see, of the very children its view holds (with one child in the view, that child's). Ten
    such entries are added to a child the recipient sees (PostgreSQL reports a node's rows per loop, rounded: a few
    entries among many loops may round away); its view is unchanged; its plan's counts must be too."""
    engine, url = town
    recipient, child_id = _owner_rows(engine, "SELECT d.recipient, min(d.child_id) FROM shared_disclosure d "
                                              "JOIN publication p USING (publication_id) WHERE p.is_current AND "
                                              "d.recipient <> 'officers' AND d.data_class <> 'identity' "
                                              "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]
    reader = Attacker(_login(url, f"mash_{recipient}", f"red_{recipient}"))
    view = f"SELECT * FROM {recipient}_shared_chronology"
    settings = ["enable_hashjoin = off", "enable_mergejoin = off"]
    try:
        for setting in settings:
            reader.conn.execute(f"SET {setting}")
        rows, plan = sorted(reader.rows(view)), _plan(reader, view)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO shared_chronology (publication_id, child_id, entry, event_date, is_open, agency, "
                "data_class, event, description) SELECT publication_id, %(child)s, entry, DATE '2026-10-01', false, "
                "'health', 'equalities', 'hidden', 'hidden' FROM publication, generate_series(9990, 9999) entry "
                "WHERE is_current", {"child": child_id})
        try:
            assert sorted(reader.rows(view)) == rows                  # the view did not change...
            assert _plan(reader, view) == plan, \
                f"{recipient}'s EXPLAIN ANALYZE counted a hidden entry of its child {child_id}"   # ...nor its plan
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM shared_chronology WHERE entry >= 9990")
    finally:
        reader.close()


# --- an officer's login (mash_officers) ----------------------------------------------------------------------------

def _candidates(la: str, year: int, serials: range) -> list[str]:
    """Every UPN a primary school of the LA (DfE numbers 2000-2999, as every LA numbers them) issued in ``year``."""
    bodies = [f"{la}{dfe}{year % 100:02d}{serial:03d}" for serial in serials for dfe in range(2000, 3000)]
    return [upn_check.calc_check_digit(body) + body for body in bodies]


def _audit_fingerprint(upns: list[str]) -> list[str]:
    """mash.sharing.publication's content fingerprint of an education_identifier entry holding each UPN, rebuilt
    from the open source: pandas' row hash (a public fixed key), summed in two halves, SHA-256 twice."""
    hashes = pd.util.hash_pandas_object(pd.DataFrame({"upn": upns}).astype(object), index=False).to_numpy()
    low, high = (hashes & 0xFFFFFFFF).astype(np.int64), (hashes >> 32).astype(np.int64)
    return [hashlib.sha256(hashlib.sha256(f"1:{lo}:{hi}".encode()).hexdigest().encode()).hexdigest()
            for lo, hi in zip(low, high)]


def test_officers_cannot_recover_a_upn_from_the_audits_fingerprint(town, officer):
    """N3 never gives officers a UPN. The officer reads the child's date of birth (own view), the withheld
    education_identifier entry's content_sha256 (the audit it is granted) and knows its LA's number: the fingerprint
    is an unkeyed hash of the UPN alone, so a search over one school year's UPNs finds it."""
    engine, _ = town
    la = yaml.safe_load((REPO / "plugins/mash/synth/places.yaml").read_text())["la_code"]
    born = dict(officer.rows("SELECT child_id, date_of_birth FROM officers_shared_children"))
    targets = []
    for table in ("disclosure_audit", "officer_disclosure_audit"):      # the table, and the officers' view of it
        sql = (f"SELECT DISTINCT ON (child_id) child_id, content_sha256 FROM {table} WHERE recipient = 'officers' "
               "AND data_classes = 'education_identifier' ORDER BY child_id, entry_id DESC")
        if _error(officer, sql) is None:
            targets += [(c, t) for c, t in officer.rows(sql) if c in born and t is not None]
    if not targets:
        return                                   # no fingerprint to search for: the attack cannot start
    child_id, target = targets[0]
    dob = born[child_id]
    cohort = dob.year if dob.month >= 9 else dob.year - 1
    recovered = None
    for start in range(1, 1000, 50):                         # low serials first: most are found at once
        candidates = _candidates(la, cohort + 5, range(start, start + 50))
        hits = [upn for upn, fp in zip(candidates, _audit_fingerprint(candidates)) if fp == target]
        if hits:
            recovered = hits[0]
            break
    if recovered is not None:
        truth = _owner_rows(engine, f"SELECT upn FROM shared_child c JOIN publication p USING (publication_id) "
                                    f"WHERE p.is_current AND c.child_id = '{child_id}'")[0][0]
        assert recovered == truth
    assert recovered is None, f"the officer recovered {child_id}'s UPN from disclosure_audit.content_sha256"


def test_officers_cannot_learn_from_the_audit_which_children_have_sensitive_classes(town, officer):
    """The audit names every class of every decision for every recipient; an officer reads it and learns which
    children have sensitive health contacts, a protected (refuge) address, a child protection plan or police
    incidents: classes its own policy (O1, N1) withholds from it."""
    engine, _ = town
    read = []
    for table in ("disclosure_audit", "officer_disclosure_audit"):      # the table, and the officers' view of it
        sql = f"SELECT child_id, data_classes, rule_id, basis FROM {table}"
        if _error(officer, sql) is None:
            read += officer.rows(sql)
    learned = {(child, data_class) for child, classes, rule_id, basis in read
               for data_class in classes.split(";") if data_class not in OFFICERS_MAY_SEE}
    # a "never" rule of one class names it: the entry's rule (and its basis) says the child has that class
    rules = {rule.id: rule for rule in default_policy().rules}
    learned |= {(child, next(iter(rules[rule_id].classes))) for child, _, rule_id, _ in read
                if rule_id in rules and rules[rule_id].when == "never" and len(rules[rule_id].classes) == 1
                and next(iter(rules[rule_id].classes)) not in OFFICERS_MAY_SEE}
    sensitive = {pair for pair in learned
                 if pair[1] in {"sensitive_health", "protected_address", "child_protection_plan"}}
    really = set(_owner_rows(engine, "SELECT child_id, data_class FROM shared_chronology "
                                     "WHERE data_class = 'sensitive_health'"))
    assert not sensitive, (f"officers learn {len(sensitive)} (child, sensitive class) pairs ({len(sensitive & really)} "
                           f"with sensitive health contacts in the publication), e.g. {sorted(sensitive)[:1]}")


def test_officers_involvement_view_does_not_tell_them_of_health_events_or_police_incidents(town, officer):
    """Officers may see involvement, not health_events nor police_incidents (O1). The health row's practitioner role
    and last contact are those of the child's latest health contact (e.g. an emergency department attendance and its
    date); the police row's last contact is the latest incident's date."""
    engine, _ = town
    rows = officer.rows("SELECT child_id, agency, practitioner_role, last_contact FROM officers_shared_involvement "
                        "WHERE agency IN ('health', 'police') AND last_contact IS NOT NULL")
    events = set(_owner_rows(engine, "SELECT r.child_id, e.practitioner_role, e.event_date FROM health_events e "
                                     "JOIN child_record r ON r.record_id = 'health:' || e.patient_id"))
    confirmed = [row for row in rows if row[1] == "health" and (row[0], row[2], row[3]) in events]
    assert not rows, (f"officers read {len(rows)} dated health contacts or police incidents, {len(confirmed)} "
                      f"checked against the health feed, e.g. {confirmed[:1] or rows[:1]}")


@pytest.fixture(scope="module")
def decided_pair(town):
    """An officer's decision (`mash review decide`) on a school's record and a health record: different children."""
    engine, _ = town
    from mash.link.review import decide
    school, health = (_owner_rows(engine, f"SELECT min(record_id) FROM child_record WHERE record_id LIKE '{a}:%%'")[0][0]
                      for a in ("schools", "health"))
    with engine.begin() as conn:
        decide(conn, school, health, "different", "officer a", "two children")
    return school, health


def test_officers_do_not_read_upns_in_the_review_queue(town, officer, decided_pair):
    """N3: no UPN to officers. A school's record id is 'schools:<UPN>'; the review queue and every officer's decision
    carry record ids, and the officers' role reads both tables."""
    engine, _ = town
    upns = {upn for (upn,) in _owner_rows(engine, "SELECT upn FROM schools_pupils")}
    read = []
    for sql in ("SELECT record_id_l, record_id_r FROM link_review", "SELECT record_id_l, record_id_r FROM link_decision"):
        if _error(officer, sql) is None:
            read += [record for row in officer.rows(sql) for record in row]
    leaked = sorted({record for record in read if record.removeprefix("schools:") in upns})
    assert not leaked, f"officers read {len(leaked)} UPNs in the review queue, e.g. {leaked[0]}"


# --- the hub's nightly login (mash_hub) ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "TRUNCATE disclosure_audit",
    "TRUNCATE disclosure_audit, batch CASCADE",
    "MERGE INTO disclosure_audit a USING (SELECT 1 AS id) s ON a.entry_id = s.id WHEN MATCHED THEN DELETE",
    "INSERT INTO disclosure_audit SELECT * FROM disclosure_audit WHERE entry_id = 1 "
    "ON CONFLICT (entry_id) DO UPDATE SET basis = 'rewritten'",
    "SET session_replication_role = replica",
    "ALTER TABLE disclosure_audit DISABLE TRIGGER ALL",
    "CREATE RULE hide AS ON INSERT TO disclosure_audit DO INSTEAD NOTHING",
    "CREATE OR REPLACE FUNCTION disclosure_audit_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NULL; END $$",
    "SELECT setval(pg_get_serial_sequence('publication', 'publication_id'), 1)",
    ("GRANT DELETE ON disclosure_audit TO mash_hub", "DELETE FROM disclosure_audit"),   # GRANT only warns
    "ALTER TABLE disclosure_audit RENAME TO disclosure_audit_old",
])
def test_the_hub_cannot_cut_the_audit_another_way(town, hub, sql):
    engine, _ = town
    before = _owner_rows(engine, "SELECT count(*), max(entry_hash), min(basis) FROM disclosure_audit")
    assert _error(hub, *((sql,) if isinstance(sql, str) else sql)) is not None
    assert _owner_rows(engine, "SELECT count(*), max(entry_hash), min(basis) FROM disclosure_audit") == before


def test_the_hub_cannot_rewrite_an_officers_public_interest_decision(town, hub):
    """An approved public-interest decision is what the audit relies on (public_interest_id): the hub's login may
    record one, but rewriting it (more recipients, more classes, a later review date) leaves no trace."""
    engine, _ = town
    child_id = _owner_rows(engine, "SELECT child_id FROM child ORDER BY child_id LIMIT 1")[0][0]
    with engine.begin() as conn:
        decision = record_decision(conn, default_policy(), child_id=child_id, data_classes=["health_events"],
                                   recipients=["health"], lawful_basis="Sch 1 para 18", rationale="red team",
                                   decided_by="officer a", approved_by="officer b",
                                   review_date=date.today() + timedelta(days=30))
    error = _error(hub, "UPDATE public_interest_decision SET recipients = 'health;police;schools', "
                        "data_classes = 'health_events;sensitive_health', review_date = '2099-01-01' "
                        f"WHERE decision_id = {decision}")
    now = _owner_rows(engine, f"SELECT recipients, review_date FROM public_interest_decision "
                              f"WHERE decision_id = {decision}")[0]
    assert error is not None, f"the hub rewrote decision {decision}: {now}"


def test_the_hub_cannot_rewrite_an_officers_match_decision(town, hub, decided_pair):
    """link_decision is every officer's decision, append-only (schema comment, docs/matching.md); turning 'different'
    into 'same' (and the review row in force with it) makes the next match merge two children, so that each
    child's agencies see the other's records, with no trace of who decided."""
    engine, _ = town
    error = _error(hub, "UPDATE link_decision SET decision = 'same', reason = 'same child' "
                        f"WHERE record_id_l IN {tuple(decided_pair)!r}",
                   "UPDATE link_review SET decision = 'same' WHERE record_id_l IN " + repr(tuple(decided_pair)))
    now = _owner_rows(engine, "SELECT decision, decided_by FROM link_decision")
    assert error is not None, f"the hub rewrote the officer's decision: {now}"


def test_the_hub_cannot_append_a_backdated_entry_that_verify_accepts(town, hub):
    """The hub appends; but an entry dated before the one it follows, in a run that published long ago, is a
    forgery (here: the child's disclosure to the police said to have been withdrawn the same night)."""
    engine, _ = town
    last = hub.rows("SELECT entry_id, entry_hash, recorded_at FROM disclosure_audit ORDER BY entry_id DESC LIMIT 1")[0]
    forged = dict(entry_id=last[0] + 1, run_id="night-0", recorded_at=last[2] - timedelta(days=200),
                  recipient="police", child_id="MASH-9999990", data_classes="identity", decision="withhold",
                  rule_id="default-deny", basis="No longer in the shared view", public_interest_id=None,
                  content_sha256=None)
    forged["prev_hash"], forged["entry_hash"] = last[1], audit.entry_hash(last[1], forged)
    hub.conn.execute("INSERT INTO disclosure_audit (" + ", ".join(forged) + ") VALUES ("
                     + ", ".join(["%s"] * len(forged)) + ")", list(forged.values()))
    with engine.connect() as conn:
        verification = audit.verify(conn)
    assert not verification.intact, "a backdated, forged entry appended by the hub: verify says intact"


def test_the_compose_deployments_nightly_login_is_not_the_stores_owner(postgres_server):
    """docs/operations.md: the nightly run connects as a login in mash_hub. docker-compose.yml names the owner of the
    `mash` database (docker/postgres-init.sh) in MASH_DB_URL and AIRFLOW_CONN_MASH_DB for every Airflow service. The
    owner may disable the audit's trigger: shown here by a login that owns its store, as `mash` does."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    env = compose["x-airflow-common"]["environment"]
    nightly = {sa.make_url(env["MASH_DB_URL"]).username, sa.make_url(env["AIRFLOW_CONN_MASH_DB"]).username}
    owner = re.search(r"CREATE DATABASE mash OWNER (\w+)", (REPO / "docker/postgres-init.sh").read_text()).group(1)

    admin_url = postgres_server.create_database("compose_owner")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE ROLE compose_owner LOGIN")
        conn.exec_driver_sql("ALTER DATABASE compose_owner OWNER TO compose_owner")
    admin.dispose()
    url = sa.make_url(admin_url).set(username="compose_owner").render_as_string(hide_password=False)
    store = migrate(url)
    entry = dict(recipient="police", child_id="MASH-0000001", data_classes="identity", decision="disclose",
                 rule_id="C1-consent", basis="consent", public_interest_id=None, content_sha256=None)
    with store.begin() as conn:
        audit.append(conn, [entry] * 3, "night-1")
    with store.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE disclosure_audit DISABLE TRIGGER USER")
        conn.exec_driver_sql("DELETE FROM disclosure_audit WHERE entry_id = 3")
        conn.exec_driver_sql("ALTER TABLE disclosure_audit ENABLE TRIGGER USER")
    with store.connect() as conn:
        cut = audit.verify(conn)
    store.dispose()
    assert cut.intact and cut.entries == 2                     # what the owner can do, unseen
    assert owner not in nightly, f"the compose nightly run connects as {owner}, the store's owner"


# --- SQLite ------------------------------------------------------------------------------------------------------

def test_sqlite_refuses_replace_into_the_audit(engine):
    """REPLACE (INSERT OR REPLACE) deletes the conflicting row without firing DELETE triggers (SQLite fires them
    only with PRAGMA recursive_triggers) and fires no UPDATE trigger: entry 2 rewritten, the chain re-hashed."""
    entry = dict(recipient="police", child_id="MASH-0000001", data_classes="identity", decision="withhold",
                 rule_id="default-deny", basis="no rule allows it", public_interest_id=None, content_sha256=None)
    with engine.begin() as conn:
        audit.append(conn, [entry] * 3, "night-1")
    refused = False
    try:
        with engine.begin() as conn:
            rows = [dict(r) for r in conn.exec_driver_sql("SELECT * FROM disclosure_audit ORDER BY entry_id")
                    .mappings()]
            prev = rows[0]["entry_hash"]
            for row in rows[1:]:
                if row["entry_id"] == 2:
                    row.update(decision="disclose", rule_id="C1-consent", basis="consent")
                row["recorded_at"] = datetime.fromisoformat(str(row["recorded_at"])).replace(tzinfo=timezone.utc) \
                    if not isinstance(row["recorded_at"], datetime) else row["recorded_at"]
                row["prev_hash"], row["entry_hash"] = prev, audit.entry_hash(prev, row)
                prev = row["entry_hash"]
                row["recorded_at"] = row["recorded_at"].isoformat(sep=" ")
                conn.exec_driver_sql("REPLACE INTO disclosure_audit (" + ", ".join(row) + ") VALUES ("
                                     + ", ".join("?" for _ in row) + ")", tuple(row.values()))
    except DBAPIError:
        refused = True
    with engine.connect() as conn:
        verification = audit.verify(conn)
        rewritten = conn.exec_driver_sql("SELECT decision FROM disclosure_audit WHERE entry_id = 2").scalar()
    assert refused, f"REPLACE rewrote entry 2 to {rewritten!r}; verify intact: {verification.intact}"
