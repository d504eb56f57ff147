"""What an attacker with the store owner's rights must do before rewriting the disclosure audit: take its
append-only guard away (the tests of the audit's chain tamper with it that way)."""

from __future__ import annotations

from sqlalchemy import Connection


def drop_audit_guard(conn: Connection) -> None:
    """Disable (PostgreSQL) or drop (SQLite) the triggers that refuse UPDATE and DELETE on disclosure_audit."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE disclosure_audit DISABLE TRIGGER USER")
    else:
        for operation in ("update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER disclosure_audit_no_{operation}")
