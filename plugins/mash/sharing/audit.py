"""The disclosure audit: every decision to disclose a data class about a child to a recipient, and every decision
not to, append-only and tamper-evident.

An entry records one decision (disclose or withhold, under one rule and basis) for one recipient and child, and
names every data class it covers. It is written when a decision is first made, and again whenever it changes: the
rule, the basis, the public-interest decision relied on, the outcome, the classes, or what they hold for the child
(the content fingerprint).
Each published decision points at the entry that records it. Entries are chained: each entry's hash covers its
fields and the previous entry's hash, and every publication records the newest entry's id and hash, so
:func:`verify` detects an edited, inserted or deleted entry, including one deleted from the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, select

from mash.store import bulk_insert
from mash.store.schema import disclosure_audit as audit, publication

GENESIS = "0" * 64
FIELDS = ["entry_id", "run_id", "recorded_at", "recipient", "child_id", "data_classes", "decision", "rule_id",
          "basis", "public_interest_id", "content_sha256"]


def _canonical_time(value: datetime) -> str:
    """The same text for a time whether the store hands it back zoned (PostgreSQL) or naive UTC (SQLite)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, entry: dict, recorded_at: str | None = None) -> str:
    """The entry's hash: its fields (the time as :func:`_canonical_time`, given ready-made when hashing many) and
    the previous entry's hash."""
    recorded_at = recorded_at or _canonical_time(entry["recorded_at"])
    text = "\x1f".join(recorded_at if name == "recorded_at" else "" if entry[name] is None else str(entry[name])
                       for name in FIELDS)
    return hashlib.sha256(f"{prev_hash}\x1e{text}".encode()).hexdigest()


def head(conn: Connection) -> tuple[int, str]:
    """The newest entry's id and hash (0 and the genesis hash for an empty audit)."""
    row = conn.execute(select(audit.c.entry_id, audit.c.entry_hash).order_by(audit.c.entry_id.desc()).limit(1)).first()
    return (row.entry_id, row.entry_hash) if row else (0, GENESIS)


def append(conn: Connection, entries: Iterable[dict], run_id: str) -> tuple[list[int], tuple[int, str]]:
    """Chain and insert ``entries`` (dicts of the FIELDS after run_id and recorded_at); returns their ids and the
    new head. Call inside the transaction that publishes what they record."""
    if conn.dialect.name == "postgresql":      # one writer at a time, or two runs would fork the chain
        conn.exec_driver_sql("LOCK TABLE disclosure_audit IN EXCLUSIVE MODE")
    last_id, last_hash = head(conn)
    recorded_at = datetime.now(timezone.utc)
    stored_at = recorded_at.isoformat(sep=" ")              # ISO text: what bulk_insert takes for a time
    hashed_at = _canonical_time(recorded_at)
    rows, ids = [], []
    for entry in entries:
        last_id += 1
        full = {**entry, "entry_id": last_id, "run_id": run_id, "recorded_at": recorded_at}
        prev_hash, last_hash = last_hash, entry_hash(last_hash, full, hashed_at)
        rows.append((*(stored_at if name == "recorded_at" else full[name] for name in FIELDS), prev_hash, last_hash))
        ids.append(last_id)
    bulk_insert(conn, audit, [*FIELDS, "prev_hash", "entry_hash"], rows)
    return ids, (last_id, last_hash)


@dataclass(frozen=True)
class Verification:
    entries: int
    problems: list[str]          # entry ids and what is wrong with them; never an entry's content

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(conn: Connection, batch_size: int = 50_000) -> Verification:
    """Recompute the chain from the first entry and check it against every publication's recorded head."""
    problems: list[str] = []
    expected_id, prev_hash, count = 1, GENESIS, 0
    hashes: dict[int, str] = {}
    anchors = dict(conn.execute(select(publication.c.audit_head_id, publication.c.audit_head_hash)
                                .where(publication.c.audit_head_id.is_not(None))).all())
    last = 0
    while True:
        rows = conn.execute(select(audit).where(audit.c.entry_id > last).order_by(audit.c.entry_id)
                            .limit(batch_size)).mappings().all()
        if not rows:
            break
        for row in rows:
            count += 1
            if row["entry_id"] != expected_id:
                problems.append(f"entries {expected_id} to {row['entry_id'] - 1} are missing")
            if row["prev_hash"] != prev_hash:
                problems.append(f"entry {row['entry_id']}: does not follow the entry before it")
            if entry_hash(row["prev_hash"], row) != row["entry_hash"]:
                problems.append(f"entry {row['entry_id']}: its content does not match its hash (edited)")
            if row["entry_id"] in anchors:
                hashes[row["entry_id"]] = row["entry_hash"]
            prev_hash, expected_id = row["entry_hash"], row["entry_id"] + 1
        last = rows[-1]["entry_id"]
    for entry_id, anchored in sorted(anchors.items()):
        if entry_id not in hashes:
            problems.append(f"entry {entry_id}: recorded as the head by a publication but missing (deleted)")
        elif hashes[entry_id] != anchored:
            problems.append(f"entry {entry_id}: differs from the hash its publication recorded")
    return Verification(count, problems)


def entries(conn: Connection, *, child_id: str | None = None, recipient: str | None = None,
            limit: int | None = None) -> list[dict]:
    """Audit entries, newest first, for a child and/or a recipient."""
    query = select(*(audit.c[name] for name in FIELDS)).order_by(audit.c.entry_id.desc())
    if child_id:
        query = query.where(audit.c.child_id == child_id)
    if recipient:
        query = query.where(audit.c.recipient == recipient)
    if limit:
        query = query.limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]

