"""officers' decisions append-only, SQLite's REPLACE refused on the audit, the officers' audit view

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:10:00.000000

An officer's public-interest decision (the audit relies on it) and an officer's match decision (every later run
obeys it) are kept, never edited: the code only inserts them, and the database now refuses an UPDATE, DELETE or
TRUNCATE of either from anyone, as it does for the disclosure audit (0009). A later decision supersedes an earlier
one by being newer (mash.sharing.public_interest, mash.link.review).

SQLite's REPLACE (INSERT OR REPLACE) deletes the row it collides with without firing its DELETE trigger (unless
PRAGMA recursive_triggers, which mash.store.new_engine sets) and fires no UPDATE trigger: a BEFORE INSERT trigger
refuses an entry, decision or match decision whose id already exists, whatever the connection's pragmas.

On PostgreSQL the officers read the audit through officer_disclosure_audit, not the table: no content fingerprint
(an unkeyed hash of, say, a UPN is found again by trying every UPN a school could have issued) and no chain hashes
(they cover the fingerprint); a data class the officers are not shown in the current publication appears only as
'restricted', and the rule and basis of an entry holding one are left out (a rule's id or basis can name the class,
e.g. N1-protected-address). SQLite has no users: nothing to restrict.
"""
from alembic import op

revision = '0010'
down_revision = '0009'
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
    for statement in [*POSTGRESQL_GUARD, OFFICER_AUDIT] if _postgresql() else SQLITE_GUARD:
        op.execute(statement)


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP VIEW officer_disclosure_audit")
        for table in DECISIONS:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION append_only()")
    else:
        op.execute("DROP TRIGGER disclosure_audit_no_replace")
        for table in DECISIONS:
            for operation in ("update", "delete", "replace"):
                op.execute(f"DROP TRIGGER {table}_no_{operation}")
