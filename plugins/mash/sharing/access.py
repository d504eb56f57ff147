"""Least privilege in PostgreSQL: a database role per recipient that connects and reads only its own sealed views,
the officers' role that also reads the audit, and the hub's role that the nightly run's login belongs to: it writes
the data, appends to the audit and owns nothing (SQL in ``mash/store/sql/roles/``).

Run by the store's owner or a superuser after every migration (`mash db roles`), idempotent.
"""

from __future__ import annotations

from sqlalchemy import Engine

from mash.errors import Refused
from mash.home import PACKAGE

ROLES_SQL = PACKAGE / "store" / "sql" / "roles"


def _statements(path, **values) -> list[str]:
    """The file's statements (each ends a line with ``;``; a ``DO $$ ... $$`` block is one statement), comment lines
    dropped and ``{name}`` replaced by ``values``."""
    text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("--"))
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    statements, pending = [], ""
    for part in text.split(";\n"):
        pending += part
        if pending.count("$$") % 2:             # inside a dollar-quoted body: the statement goes on
            pending += ";\n"
        elif pending.strip():
            statements.append(pending.strip())
            pending = ""
    return statements


def role_name(recipient: str) -> str:
    return f"mash_{recipient}"


def grant_roles(engine: Engine, recipients: list[str]) -> list[str]:
    """Create (if missing) and grant every role; returns the recipients' role names."""
    if engine.dialect.name != "postgresql":
        raise Refused("database roles need PostgreSQL: the embedded SQLite store has no users")
    statements = [statement for recipient in recipients
                  for statement in _statements(ROLES_SQL / "recipient.sql", recipient=recipient)]
    statements += _statements(ROLES_SQL / "hub.sql")
    with engine.begin() as conn:
        cursor = conn.connection.cursor()       # the driver's own: the SQL's format('%I') is no placeholder
        for statement in statements:
            cursor.execute(statement)
    return [role_name(r) for r in recipients]
