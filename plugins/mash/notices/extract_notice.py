"""Extract notices to an agency's data contact: a rejected drop (with the reason, which names files, rows and
columns), rows quarantined (row number, column and reason, never the row's content), and a late extract (no drop
for the night by the time notices are built). They carry no child's data, so they need no sharing rule."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from sqlalchemy import Engine, func, or_, select

from mash.contracts import agencies
from mash.notices.notice import Notice
from mash.notices.settings import Settings
from mash.store.schema import batch, quarantine

QUARANTINE_LINES = 200          # the rest are counted, and listed by `mash status` for the agency's officers


def extract_notices(engine: Engine, as_of: date, since: date, settings: Settings) -> list[Notice]:
    found, received = [], datetime.combine(since, time.min, tzinfo=timezone.utc)
    with engine.connect() as conn:
        batches = conn.execute(select(batch.c.batch_id, batch.c.agency, batch.c.extract_date, batch.c.state,
                                      batch.c.reason, batch.c.rows_quarantined)
                               .where(or_(batch.c.extract_date.between(since, as_of),
                                          # a drop whose manifest could not be read has no extract date
                                          batch.c.extract_date.is_(None) & (batch.c.received_at >= received)))
                               .order_by(batch.c.batch_id)).all()
        for b in batches:
            to = settings.inboxes[b.agency]["data"]
            if b.state == "rejected":
                night = b.extract_date or "an unknown night (its manifest could not be read)"
                found.append(Notice(f"rejected:{b.batch_id}", "extract_rejected", b.agency, to, b.batch_id,
                                    lines=(f"Your drop for {night} (batch {b.batch_id}) was rejected and "
                                           "nothing in it was loaded.", f"Reason: {b.reason}",
                                           "Please correct it and drop it again.")))
            elif b.state == "loaded" and b.rows_quarantined:
                rows = conn.execute(select(quarantine.c.contract_file, quarantine.c.row_number,
                                           quarantine.c.column_name, quarantine.c.reason, quarantine.c.detail)
                                    .where(quarantine.c.batch_id == b.batch_id)
                                    .order_by(quarantine.c.contract_file, quarantine.c.row_number)
                                    .limit(QUARANTINE_LINES)).all()
                total = conn.execute(select(func.count()).select_from(quarantine)
                                     .where(quarantine.c.batch_id == b.batch_id)).scalar()
                lines = [f"Your drop for {b.extract_date} (batch {b.batch_id}) was loaded, but {b.rows_quarantined} "
                         "row(s) were set aside (quarantined). Row numbers count the header as row 1.",
                         *(f"{r.contract_file} row {r.row_number}, column {r.column_name}: {r.reason} ({r.detail})"
                           for r in rows)]
                if total > len(rows):
                    lines.append(f"... and {total - len(rows)} more problem(s): ask the hub's officers for the list.")
                found.append(Notice(f"quarantined:{b.batch_id}", "extract_quarantined", b.agency, to, b.batch_id,
                                    lines=tuple(lines)))
        dropped = {row.agency for row in conn.execute(select(batch.c.agency).where(batch.c.extract_date == as_of))}
    for agency in agencies():
        if agency not in dropped:
            found.append(Notice(f"late:{agency}:{as_of.isoformat()}", "extract_late", agency,
                                settings.inboxes[agency]["data"], as_of.isoformat(),
                                lines=(f"The hub has no extract from you for {as_of}.",
                                       "Tonight's run used your last good extract. Please drop it as soon as you "
                                       "can.")))
    return found
