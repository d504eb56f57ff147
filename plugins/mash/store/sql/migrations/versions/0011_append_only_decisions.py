"""officers' decisions append-only, SQLite's REPLACE refused on the audit, the officers' audit view, recipients'
views served by a function, involvement without event dates

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:10:00.000000

An officer's public-interest decision (the audit relies on it) and an officer's match decision (every later run
obeys it) are kept, never edited: the code only inserts them, and the database now refuses an UPDATE, DELETE or
TRUNCATE of either from anyone, as it does for the disclosure audit (0009). A later decision supersedes an earlier
one by being newer (mash.sharing.public_interest, mash.link.review).

SQLite's REPLACE (INSERT OR REPLACE) deletes the row it collides with without firing its DELETE trigger (it does only
under PRAGMA recursive_triggers) and fires no UPDATE trigger: a BEFORE INSERT trigger refuses an entry, decision or
match decision whose id already exists, whatever the connection's pragmas.

On PostgreSQL the officers read the audit through officer_disclosure_audit, not the table: no content fingerprint
(an unkeyed hash of, say, a UPN is found again by trying every UPN a school could have issued) and no chain hashes
(they cover the fingerprint); a data class the officers are not shown in the current publication appears only as
'restricted', and the rule and basis of an entry holding one are left out (a rule's id or basis can name the class,
e.g. N1-protected-address). SQLite has no users: nothing to restrict.

Involvement (mash/store/sql/views/0011_shared_involvement.sql) shows an agency's last contact, and the health
practitioner's role, only where the recipient also gets the class of the event they come from.

On PostgreSQL each recipient's view now reads a SECURITY DEFINER function that returns the sealed view (as 0009
made it, named <view>_disclosed): EXPLAIN ANALYZE of the view shows one Function Scan with the view's own rows,
where 0009's fence still showed the scans inside it, and with them how many hidden entries of the recipient's own
children were read and filtered out. The function is never inlined (SECURITY DEFINER), runs with a fixed search_path
and is the owner's; `mash db roles` grants EXECUTE on a recipient's three functions to that recipient's role (and
the hub's, which exports the views) only.
"""
import re
from pathlib import Path

from alembic import op

# The recipients whose views 0004 created (the sharing policy's recipients).
RECIPIENTS = ("health", "police", "schools", "social_care", "officers")
VIEW_SQL = Path(__file__).resolve().parents[2] / "views"
SEALED = " WITH (security_barrier = true)"

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# table -> its id column
DECISIONS = {"public_interest_decision": "decision_id", "link_decision": "decision_id"}
RESTRICTED = "restricted"

POSTGRESQL_GUARD = [
    """CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$""",
    "REVOKE ALL ON FUNCTION append_only() FROM PUBLIC",
    *(f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION append_only()""" for table in DECISIONS),
]

# The classes shown are those disclosed to the officers in the current publication (what the policy gives them).
OFFICER_AUDIT = f"""CREATE VIEW officer_disclosure_audit WITH (security_barrier = true) AS
WITH shown AS MATERIALIZED (
    SELECT DISTINCT d.data_class FROM shared_disclosure d
    JOIN publication p ON p.publication_id = d.publication_id AND p.is_current
    WHERE d.recipient = 'officers'
)
SELECT a.entry_id, a.run_id, a.recorded_at, a.recipient, a.child_id, c.data_classes, a.decision,
       CASE WHEN c.restricted THEN NULL ELSE a.rule_id END AS rule_id,
       CASE WHEN c.restricted THEN NULL ELSE a.basis END AS basis,
       a.public_interest_id
FROM disclosure_audit a
CROSS JOIN LATERAL (
    SELECT string_agg(DISTINCT coalesce(s.data_class, '{RESTRICTED}'), ';'
                      ORDER BY coalesce(s.data_class, '{RESTRICTED}')) AS data_classes,
           bool_or(s.data_class IS NULL) AS restricted
    FROM unnest(string_to_array(a.data_classes, ';')) AS listed(data_class)
    LEFT JOIN shown s ON s.data_class = listed.data_class
) c"""


def _queries(recipient: str, file: str) -> dict[str, str]:
    """The views of ``file`` (under mash/store/sql/views/) for ``recipient``: name -> query."""
    text = "\n".join(line for line in (VIEW_SQL / file).read_text(encoding="utf-8").splitlines()
                     if not line.startswith("--"))
    return dict(re.findall(r"CREATE VIEW (\S+) AS\s+(.*?);", text.replace("{recipient}", recipient), re.DOTALL))


def _sealed(name: str, query: str) -> str:
    """0009's fence: the view's rows are chosen first, then the reader's predicate runs."""
    options = SEALED if _postgresql() else ""
    return (f"CREATE VIEW {name}{options} AS\nWITH disclosed AS MATERIALIZED (\n"
            f"{query}\n)\nSELECT * FROM disclosed")


def _recipient_queries(involvement: str) -> dict[str, str]:
    """Every recipient view's query: 0004's, the involvement view's from ``involvement``."""
    found = {}
    for recipient in RECIPIENTS:
        found |= _queries(recipient, "0004_shared_view.sql") | _queries(recipient, involvement)
    return found


def _serve_by_function(view: str, query: str) -> list[str]:
    """The sealed view under another name, a function returning its rows, and the view reading the function. The
    recipients read it again once `mash db roles` grants them the function."""
    return [f"DROP VIEW {view}", _sealed(f"{view}_disclosed", query),
            f"CREATE FUNCTION {view}_rows() RETURNS SETOF {view}_disclosed LANGUAGE sql STABLE SECURITY DEFINER "
            f"SET search_path = pg_catalog, public AS 'SELECT * FROM {view}_disclosed'",
            f"REVOKE ALL ON FUNCTION {view}_rows() FROM PUBLIC",
            f"CREATE VIEW {view}{SEALED} AS SELECT * FROM {view}_rows()"]


def _sqlite_guard(table: str, key: str, operations: tuple[str, ...]) -> list[str]:
    refuse = f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: %s refused'); END"
    statements = [f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table}\n"
                  + refuse % operation for operation in operations]
    statements.append(f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}\n"
                      f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {key} = NEW.{key})\n" + refuse % "REPLACE")
    return statements


SQLITE_GUARD = [*_sqlite_guard("disclosure_audit", "entry_id", ()),
                *(statement for table, key in DECISIONS.items()
                  for statement in _sqlite_guard(table, key, ("UPDATE", "DELETE")))]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    queries = _recipient_queries("0011_shared_involvement.sql")
    if _postgresql():
        statements = [*POSTGRESQL_GUARD, OFFICER_AUDIT,
                      *(statement for view, query in queries.items() for statement in _serve_by_function(view, query))]
    else:
        statements = [*SQLITE_GUARD, *(statement for view, query in queries.items() if view.endswith("_involvement")
                                       for statement in (f"DROP VIEW {view}", _sealed(view, query)))]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    queries = _recipient_queries("0004_shared_view.sql")
    if _postgresql():
        for view, query in queries.items():
            op.execute(f"DROP VIEW {view}")
            op.execute(f"DROP FUNCTION {view}_rows()")
            op.execute(f"DROP VIEW {view}_disclosed")
            op.execute(_sealed(view, query))
        op.execute("DROP VIEW officer_disclosure_audit")
        for table in DECISIONS:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION append_only()")
    else:
        for view, query in queries.items():
            if view.endswith("_involvement"):
                op.execute(f"DROP VIEW {view}")
                op.execute(_sealed(view, query))
        op.execute("DROP TRIGGER disclosure_audit_no_replace")
        for table in DECISIONS:
            for operation in ("update", "delete", "replace"):
                op.execute(f"DROP TRIGGER {table}_no_{operation}")
