"""sealed shared views (security_barrier, fenced) and a disclosure audit the database keeps append-only

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 00:20:00.000000

Sealed: a recipient's own predicate never meets a row its view does not show. Each view of
mash/store/sql/views/0004_shared_view.sql is recreated as the same query inside a MATERIALIZED common table
expression, and on PostgreSQL as a security_barrier view. security_barrier stops PostgreSQL from running the
recipient's functions (a cheap function that prints its arguments, a cast or a division that fails) before the
view's own filter; but the planner may still push an equality (a "leakproof" operator) below that filter onto the
tables, where EXPLAIN ANALYZE counts the hidden rows it matched. The materialized expression is a fence no predicate
crosses: the view's rows are chosen first, then filtered. SQLite has no users; its views get the same fence.
"""
import re
from pathlib import Path

from alembic import op

# The recipients whose views 0004 created (the sharing policy's recipients).
RECIPIENTS = ("health", "police", "schools", "social_care", "officers")
VIEW_SQL = Path(__file__).resolve().parents[2] / "views" / "0004_shared_view.sql"
VIEWS = ("children", "involvement", "chronology")
SEALED = " WITH (security_barrier = true)"

# Nobody, the owner included, updates, deletes or truncates an audit entry: a correction is a new entry. (On SQLite
# a batch migration of disclosure_audit copies the table and loses its triggers: such a migration recreates them.)
POSTGRESQL_GUARD = [
    """CREATE FUNCTION disclosure_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'disclosure_audit is append-only: % refused', TG_OP;
END $$""",
    "REVOKE ALL ON FUNCTION disclosure_audit_append_only() FROM PUBLIC",
    """CREATE TRIGGER disclosure_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON disclosure_audit
FOR EACH STATEMENT EXECUTE FUNCTION disclosure_audit_append_only()""",
]
SQLITE_GUARD = [
    f"""CREATE TRIGGER disclosure_audit_no_{operation.lower()} BEFORE {operation} ON disclosure_audit
BEGIN SELECT RAISE(ABORT, 'disclosure_audit is append-only: {operation} refused'); END"""
    for operation in ("UPDATE", "DELETE")
]

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _views(recipient: str) -> list[tuple[str, str]]:
    """0004's views for ``recipient``: (name, query)."""
    text = "\n".join(line for line in VIEW_SQL.read_text(encoding="utf-8").splitlines() if not line.startswith("--"))
    found = re.findall(r"CREATE VIEW (\S+) AS\s+(.*?);", text.replace("{recipient}", recipient), re.DOTALL)
    assert len(found) == len(VIEWS), VIEW_SQL
    return found


def _recreate_views(sealed: bool) -> None:
    for recipient in RECIPIENTS:
        for name, query in _views(recipient):
            op.execute(f"DROP VIEW {name}")
            if sealed:
                options = SEALED if _postgresql() else ""
                op.execute(f"CREATE VIEW {name}{options} AS\nWITH disclosed AS MATERIALIZED (\n{query}\n)\n"
                           "SELECT * FROM disclosed")
            else:
                op.execute(f"CREATE VIEW {name} AS\n{query}")


def upgrade() -> None:
    _recreate_views(sealed=True)
    for statement in POSTGRESQL_GUARD if _postgresql() else SQLITE_GUARD:
        op.execute(statement)


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP TRIGGER disclosure_audit_append_only ON disclosure_audit")
        op.execute("DROP FUNCTION disclosure_audit_append_only()")
    else:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER disclosure_audit_no_{operation}")
    _recreate_views(sealed=False)
