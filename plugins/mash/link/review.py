"""The clerical review queue: pairs the matcher is unsure of, and officers' decisions on them.

Each uncertain pair is kept with its per-field weights, so the officer sees why it was uncertain. A decision
("same child" or "not the same child") is kept for good and becomes a must-link or cannot-link constraint that
every later run honours. Pairs are stored in a fixed order (smaller record id first) so a pair has one row.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, and_, insert, select, update

from mash.errors import Refused
from mash.store.schema import child_record, link_decision, link_review

DECISIONS = {"same", "different"}


class ReviewError(Refused):
    """A decision that cannot be recorded; the message names the pair and the problem."""


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
    """Undecided pairs that the latest run still found uncertain, least certain first."""
    rows = conn.execute(select(link_review).where(link_review.c.status == "open")
                        .order_by((link_review.c.match_probability - 0.5) * (link_review.c.match_probability - 0.5)))
    return [{**row, "weights": json.loads(row["weights"])} for row in rows.mappings()]


def decide(conn: Connection, left: str, right: str, decision: str, decided_by: str, reason: str) -> None:
    """Record an officer's decision on a pair (queued or not); it binds every later run. A later decision on the
    same pair replaces it in force; every decision is kept in ``link_decision``."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {sorted(DECISIONS)}")
    if left == right:
        raise ReviewError(f"{left}: a record is always the same child as itself")
    if not decided_by.strip() or not reason.strip():
        raise ReviewError("a decision needs the officer's name and a reason")
    known = set(conn.execute(select(child_record.c.record_id)
                             .where(child_record.c.record_id.in_([left, right]))).scalars())
    if unknown := sorted({left, right} - known):
        raise ReviewError(f"{unknown[0]}: no such record has been matched by the hub")
    left, right = _ordered(left, right)
    values = dict(decision=decision, decided_by=decided_by, reason=reason, decided_at=datetime.now(timezone.utc))
    conn.execute(insert(link_decision).values(record_id_l=left, record_id_r=right, **values))
    values["status"] = "decided"
    if conn.execute(select(link_review.c.decision).where(_key(left, right))).first():
        conn.execute(update(link_review).where(_key(left, right)).values(**values))
    else:
        conn.execute(insert(link_review).values(record_id_l=left, record_id_r=right, match_probability=0.0,
                                                match_weight=0.0, weights="{}", first_seen_run="officer",
                                                last_seen_run="officer", **values))


def constraints(conn: Connection) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(must_link, cannot_link) pairs from every decision ever recorded."""
    rows = conn.execute(select(link_review.c.record_id_l, link_review.c.record_id_r, link_review.c.decision)
                        .where(link_review.c.decision.is_not(None))).all()
    return ([(l, r) for l, r, d in rows if d == "same"], [(l, r) for l, r, d in rows if d == "different"])
