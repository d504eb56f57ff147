"""The disclosure audit: every decision to disclose a data class about a child to a recipient, and every decision
not to, append-only and tamper-evident.

An entry records one decision (disclose or withhold, under one rule and basis) for one recipient and child, and
names every data class it covers. It is written when a decision is first made, and again whenever it changes: the
rule, the basis, the public-interest decision relied on, the outcome, the classes, or what they hold for the child
(the content fingerprint).
Each published decision points at the entry that records it. Entries are chained: each entry's hash covers its
fields and the previous entry's hash; every publication records the newest entry's id and hash, and every
publication and notice build also writes it outside the store (:mod:`mash.sharing.anchors`). :func:`verify` detects
an edited, inserted or deleted entry, entries cut from the end (with or without a publication's head moved back),
a chain forged and re-hashed throughout, an entry dated before the one it follows (a back-dated forgery appended to
the chain), entries appended after the newest anchor under the id of a run already anchored, and disclosure or
notice rows no entry covers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, and_, case, func, literal, select

from mash.sharing.anchors import Anchor
from mash.store import bulk_insert
from mash.store.schema import disclosure_audit as audit, notice, publication, shared_disclosure

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
    problems: list[str]          # entry, publication and notice ids, runs and counts; never an entry's content
    anchored: int | None = None  # the newest anchor's entry id, when checked against anchors

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(conn: Connection, anchors: list[Anchor] | None = None, batch_size: int = 50_000) -> Verification:
    """Recompute the chain from the first entry and check it against every publication's recorded head and, when
    given, the ``anchors`` kept outside the store (:mod:`mash.sharing.anchors`); then check that every published
    disclosure and every notice about a child points at an entry that covers it."""
    problems: list[str] = []
    expected_id, prev_hash, count = 1, GENESIS, 0
    hashes: dict[int, str] = {}
    heads = dict(conn.execute(select(publication.c.audit_head_id, publication.c.audit_head_hash)
                              .where(publication.c.audit_head_id.is_not(None))).all())
    wanted = set(heads) | {a.entries for a in anchors or ()}
    newest_anchor = max((a.entries for a in anchors or ()), default=None)
    anchored_runs = {a.run_id for a in anchors or ()}
    unanchored: dict[str, list[int]] = {}       # run already anchored -> its entries after the newest anchor
    last, prev_time = 0, ""
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
            recorded_at = _canonical_time(row["recorded_at"])
            if recorded_at < prev_time:             # append() dates a batch after the entry it follows
                problems.append(f"entry {row['entry_id']}: recorded before the entry it follows (back-dated)")
            if newest_anchor is not None and row["entry_id"] > newest_anchor and row["run_id"] in anchored_runs:
                unanchored.setdefault(row["run_id"], []).append(row["entry_id"])
            if row["entry_id"] in wanted:
                hashes[row["entry_id"]] = row["entry_hash"]
            prev_time = recorded_at
            prev_hash, expected_id = row["entry_hash"], row["entry_id"] + 1
        last = rows[-1]["entry_id"]
    for entry_id, anchored in sorted(heads.items()):
        if entry_id not in hashes:
            problems.append(f"entry {entry_id}: recorded as the head by a publication but missing (deleted)")
        elif hashes[entry_id] != anchored:
            problems.append(f"entry {entry_id}: differs from the hash its publication recorded")
    if anchors is not None:
        problems += _against_anchors(conn, anchors, hashes, last)
    # A build anchors its entries as soon as it commits them: later entries of a run already anchored were appended
    # by something else (a forger reusing an old run's id).
    problems += [f"entries {_ids(ids)} of run {run_id}: appended after the newest anchor, but that run was already "
                 f"anchored (not written by a build)" for run_id, ids in sorted(unanchored.items())]
    problems += _uncovered_disclosures(conn) + _uncovered_notices(conn)
    return Verification(count, problems, newest_anchor)


def _against_anchors(conn: Connection, anchors: list[Anchor], hashes: dict[int, str], last: int) -> list[str]:
    """The chain's entries against the anchors written outside the store, and each publication's recorded head
    against the anchor written when it was published."""
    if not anchors:
        return [f"no anchor outside the store for the audit's {last} entries"] if last else []
    failing = []
    for anchor in sorted({(a.entries, a.head_hash): a for a in anchors}.values(), key=lambda a: -a.entries):
        if anchor.entries == 0:
            continue
        if anchor.entries > last:
            failing.append(f"the audit ends at entry {last} but the anchor of {anchor.describe()} records "
                           f"{anchor.entries} entries: entries {last + 1} to {anchor.entries} were deleted")
        elif anchor.entries not in hashes:
            failing.append(f"entry {anchor.entries}: anchored by {anchor.describe()} but missing (deleted)")
        elif hashes[anchor.entries] != anchor.head_hash:
            failing.append(f"entry {anchor.entries}: its hash differs from the anchor of {anchor.describe()}: the "
                           f"chain was rewritten at or before it")
    problems = failing[:1]
    if len(failing) > 1:      # a rewritten chain fails every anchor since: the newest says it, the rest are counted
        more = len(failing) - 1
        problems.append(f"{more} earlier anchor{'s do' if more > 1 else ' does'} not match either")
    published = {a.publication_id: a for a in reversed(anchors) if a.publication_id is not None}
    recorded = {row.publication_id: row for row in conn.execute(
        select(publication.c.publication_id, publication.c.run_id, publication.c.audit_head_id,
               publication.c.audit_head_hash).where(publication.c.publication_id.in_(list(published))))}
    for publication_id, anchor in sorted(published.items()):
        row = recorded.get(publication_id)
        if row is None:
            problems.append(f"publication {publication_id}: anchored by {anchor.describe()} but missing from the "
                            f"store")
        elif (row.audit_head_id or 0) != anchor.entries:
            problems.append(f"publication {publication_id} (run {row.run_id}): records entry {row.audit_head_id or 0} "
                            f"as its head, but its anchor records entry {anchor.entries}")
        elif (row.audit_head_hash or GENESIS) != anchor.head_hash:
            problems.append(f"publication {publication_id} (run {row.run_id}): its recorded head's hash differs from "
                            f"its anchor's")
    return problems


def _ids(values, limit: int = 5) -> str:
    shown = ", ".join("none" if v is None else str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _uncovered_disclosures(conn: Connection) -> list[str]:
    """Per publication, the disclosure rows whose audit entry does not exist or does not record disclosing that
    class to that recipient about that child."""
    rows = shared_disclosure
    covers = and_(audit.c.entry_id == rows.c.audit_entry_id, audit.c.recipient == rows.c.recipient,
                  audit.c.child_id == rows.c.child_id, audit.c.decision == "disclose",
                  # the class among the entry's semicolon-separated classes ('_' escaped: LIKE reads it as any one)
                  (literal(";") + audit.c.data_classes + literal(";")).like(
                      literal("%;") + func.replace(rows.c.data_class, "_", "/_") + literal(";%"), escape="/"))
    found = conn.execute(select(rows.c.publication_id, rows.c.audit_entry_id, func.count())
                         .select_from(rows.outerjoin(audit, covers)).where(audit.c.entry_id.is_(None))
                         .group_by(rows.c.publication_id, rows.c.audit_entry_id)
                         .order_by(rows.c.publication_id, rows.c.audit_entry_id)).all()
    rows_of: dict[int, int] = {}
    entries_of: dict[int, list] = {}
    for publication_id, entry_id, n in found:
        rows_of[publication_id] = rows_of.get(publication_id, 0) + n
        entries_of.setdefault(publication_id, []).append(entry_id)
    return [f"publication {publication_id}: {n} disclosure row{'s are' if n != 1 else ' is'} not covered by the "
            f"audit entry {'they point' if n != 1 else 'it points'} at (entries {_ids(entries_of[publication_id])})"
            for publication_id, n in sorted(rows_of.items())]


def _uncovered_notices(conn: Connection) -> list[str]:
    """The notices about a child without an audit entry recording that decision (disclose, or withhold for a
    withheld notice) under its rule, to its recipient, about its child."""
    covers = and_(audit.c.entry_id == notice.c.audit_entry_id, audit.c.recipient == notice.c.recipient,
                  audit.c.child_id == notice.c.child_id, audit.c.rule_id == notice.c.rule_id,
                  audit.c.decision == case((notice.c.status == "withheld", "withhold"), else_="disclose"))
    found = conn.execute(select(notice.c.notice_id, notice.c.audit_entry_id)
                         .select_from(notice.outerjoin(audit, covers))
                         .where(notice.c.child_id.is_not(None), audit.c.entry_id.is_(None))
                         .order_by(notice.c.notice_id)).all()
    if not found:
        return []
    listed = [f"notice {notice_id}: audit entry {'none' if entry_id is None else entry_id}"
              for notice_id, entry_id in found]
    return [f"{len(found)} notice{'s' if len(found) != 1 else ''} about a child "
            f"{'are' if len(found) != 1 else 'is'} not covered by an audit entry ({_ids(listed)})"]


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

