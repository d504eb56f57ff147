"""Notices as officers list them: ids, kinds, agencies, status, attempts and dates; never an address or content."""

from __future__ import annotations

from sqlalchemy import Engine, select

from mash.store.schema import notice

COLUMNS = ("notice_id", "idempotency_key", "kind", "recipient", "child_id", "status", "attempts", "last_error",
           "rule_id", "audit_entry_id", "as_of", "due_date", "sent_at")


def notices(engine: Engine, status: str | None = None, kind: str | None = None) -> list[dict]:
    query = select(*(notice.c[name] for name in COLUMNS)).order_by(notice.c.notice_id)
    if status:
        query = query.where(notice.c.status == status)
    if kind:
        query = query.where(notice.c.kind == kind)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
