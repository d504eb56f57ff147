"""Least privilege in PostgreSQL: a database role per recipient that reads only its own published views, the
officers' role that reads the audit, and the hub's role that writes (SQL in ``mash/store/sql/roles/``).

Run after every migration (`mash db roles`): grants on tables are not inherited by tables created later.
"""

from __future__ import annotations

from sqlalchemy import Engine

from mash.errors import Refused
from mash.home import PACKAGE

ROLES_SQL = PACKAGE / "store" / "sql" / "roles"


def _statements(path, **values) -> list[str]:
    text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("--"))
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return [statement.strip() for statement in text.split(";\n") if statement.strip()]


def role_name(recipient: str) -> str:
    return f"mash_{recipient}"


def grant_roles(engine: Engine, recipients: list[str]) -> list[str]:
    """Create (if missing) and grant every role; returns the recipients' role names."""
    if engine.dialect.name != "postgresql":
        raise Refused("database roles need PostgreSQL: the embedded SQLite store has no users")
    with engine.begin() as conn:
        for recipient in recipients:
            for statement in _statements(ROLES_SQL / "recipient.sql", recipient=recipient):
                conn.exec_driver_sql(statement)
        for statement in _statements(ROLES_SQL / "hub.sql"):
            conn.exec_driver_sql(statement)
    return [role_name(r) for r in recipients]
