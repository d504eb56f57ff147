"""The clerical review queue: pairs the matcher is unsure of, and officers' decisions on them.

Each uncertain pair is kept with its per-field weights, so the officer sees why it was uncertain. A decision
("same child" or "not the same child") is kept for good and becomes a must-link or cannot-link constraint that
every later run honours. Pairs are stored in a fixed order (smaller record id first) so a pair has one row.

Officers never see a record id (a school's is the pupil's UPN): each record in the queue has a reference,
``<agency>-R<number>``, assigned in order when it is first queued and kept for good (``record_reference``), and a
decision takes references (``mash.sharing.references`` decides what else of a record an officer sees).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, and_, func, insert, select, update

from mash.errors import Refused
from mash.store.schema import child_record, link_decision, link_review, record_reference

DECISIONS = {"same", "different"}
PATTERN = re.compile(r"(?P<agency>[a-z_]+)-R(?P<number>\d+)")
CHUNK = 500


class ReviewError(Refused):
    """A decision that cannot be recorded; the message names the pair and the problem."""


def references(conn: Connection, record_ids: Iterable[str]) -> dict[str, str]:
    """Each record's reference, giving the next numbers to records that have none yet, in the order given (not
    the ids' order, which would hint at the ids)."""
    wanted = list(dict.fromkeys(record_ids))
    found = {}
    for start in range(0, len(wanted), CHUNK):
        found.update(conn.execute(select(record_reference.c.record_id, record_reference.c.reference)
                                  .where(record_reference.c.record_id.in_(wanted[start:start + CHUNK]))).all())
    missing = [record for record in wanted if record not in found]
    if missing:
        last = conn.execute(select(func.max(record_reference.c.reference_no))).scalar() or 0
        rows = [dict(record_id=record, reference_no=number, reference=f"{record.split(':', 1)[0]}-R{number:06d}")
                for number, record in enumerate(missing, start=last + 1)]
        conn.execute(insert(record_reference), rows)
        found.update((row["record_id"], row["reference"]) for row in rows)
    return found


def resolve(conn: Connection, given: str, which: str = "record") -> str:
    """The record id that a reference names; a record id is also taken, for a record never shown to officers yet
    (then it must be one the hub has matched)."""
    given = given.strip()
    if PATTERN.fullmatch(given):
        record = conn.execute(select(record_reference.c.record_id)
                              .where(record_reference.c.reference == given)).scalar()
        if record is None:
            raise ReviewError(f"{given}: no record has this reference")
        return record
    if conn.execute(select(child_record.c.record_id).where(child_record.c.record_id == given)).first() is None:
        raise ReviewError(f"the {which} is neither a record reference (like police-R000042, as `mash review "
                          "list` shows) nor a record the hub has matched")
    return given


def _ordered(left: str, right: str) -> tuple[str, str]:
    return (left, right) if left <= right else (right, left)


def _key(left: str, right: str):
    left, right = _ordered(left, right)
    return and_(link_review.c.record_id_l == left, link_review.c.record_id_r == right)


def explanations(pairs: pd.DataFrame) -> pd.Series:
    """Each pair's per-field weights as JSON text (``{"w_given_name": 4.2, ...}``): why it scored as it did."""
    weight_columns = [c for c in pairs.columns if c.startswith("w_")]
    weights = pairs[weight_columns].astype(float).round(3)
    return pd.Series([json.dumps(dict(zip(weight_columns, row))) for row in weights.itertuples(index=False)],
                     index=pairs.index, dtype=object)


def sync_review_queue(conn: Connection, pairs: pd.DataFrame, run_id: str) -> int:
    """Record tonight's review pairs: new ones join the queue, known ones get tonight's score, and undecided pairs
    that are no longer uncertain leave the open queue (kept as stale, for the audit). Returns the count."""
    uncertain = pairs[pairs["decision"] == "review"]
    uncertain = uncertain.assign(explanation=explanations(uncertain))
    conn.execute(update(link_review).where(link_review.c.status == "open").values(status="stale"))
    references(conn, [record for pair in zip(uncertain["record_id_l"], uncertain["record_id_r"]) for record in pair])
    for row in uncertain.itertuples(index=False):
        left, right = _ordered(row.record_id_l, row.record_id_r)
        values = dict(match_probability=float(row.match_probability), match_weight=float(row.match_weight),
                      weights=row.explanation,
                      last_seen_run=run_id)
        known = conn.execute(select(link_review.c.status).where(_key(left, right))).first()
        if known:
            status = "decided" if known.status == "decided" else "open"
            conn.execute(update(link_review).where(_key(left, right)).values(status=status, **values))
        else:
            conn.execute(insert(link_review).values(record_id_l=left, record_id_r=right, first_seen_run=run_id,
                                                    status="open", **values))
    return len(uncertain)


def open_reviews(conn: Connection) -> list[dict]:
    """Undecided pairs that the latest run still found uncertain, least certain first, with their references."""
    left, right = record_reference.alias("left"), record_reference.alias("right")
    rows = conn.execute(select(link_review, left.c.reference.label("reference_l"),
                               right.c.reference.label("reference_r"))
                        .join(left, left.c.record_id == link_review.c.record_id_l)
                        .join(right, right.c.record_id == link_review.c.record_id_r)
                        .where(link_review.c.status == "open")
                        .order_by((link_review.c.match_probability - 0.5) * (link_review.c.match_probability - 0.5),
                                  link_review.c.record_id_l, link_review.c.record_id_r))
    return [{**row, "weights": json.loads(row["weights"])} for row in rows.mappings()]


def decide(conn: Connection, left: str, right: str, decision: str, decided_by: str, reason: str) -> tuple[str, str]:
    """Record an officer's decision on a pair (queued or not), each record given by its reference (or its record
    id); it binds every later run. A later decision on the same pair replaces it in force; every decision is kept
    in ``link_decision``. Returns the pair's references."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {sorted(DECISIONS)}")
    if not decided_by.strip() or not reason.strip():
        raise ReviewError("a decision needs the officer's name and a reason")
    left, right = resolve(conn, left, "first record"), resolve(conn, right, "second record")
    if left == right:
        raise ReviewError("the two records are one: a record is always the same child as itself")
    left, right = _ordered(left, right)
    shown = references(conn, [left, right])
    values = dict(decision=decision, decided_by=decided_by, reason=reason, decided_at=datetime.now(timezone.utc))
    conn.execute(insert(link_decision).values(record_id_l=left, record_id_r=right, **values))
    values["status"] = "decided"
    if conn.execute(select(link_review.c.decision).where(_key(left, right))).first():
        conn.execute(update(link_review).where(_key(left, right)).values(**values))
    else:
        conn.execute(insert(link_review).values(record_id_l=left, record_id_r=right, match_probability=0.0,
                                                match_weight=0.0, weights="{}", first_seen_run="officer",
                                                last_seen_run="officer", **values))
    return shown[left], shown[right]


def constraints(conn: Connection) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(must_link, cannot_link) pairs from every decision ever recorded."""
    rows = conn.execute(select(link_review.c.record_id_l, link_review.c.record_id_r, link_review.c.decision)
                        .where(link_review.c.decision.is_not(None))).all()
    return ([(l, r) for l, r, d in rows if d == "same"], [(l, r) for l, r, d in rows if d == "different"])
