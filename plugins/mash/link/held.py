"""A held night: tonight's matching would merge, split or move more children, or end more children (none of their
records left: an agency's records re-keyed), than the link settings allow
(``held_night`` in settings.yaml), so it is not applied: the children, links and publication in force stay, the
officers are alerted, and an officer approves or rejects it (:func:`decide_held_night`, the one service behind `mash
match approve|reject` and the nightly DAG's approval task). An approval applies exactly the grouping that was held
(its digest), which a rerun of the same run reproduces (matching is deterministic: docs/matching.md); a rejection
leaves everything as it was. Every hold and decision is kept in ``match_hold``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select, update

from mash.errors import Refused
from mash.link import LinkSettings
from mash.link.identity import IdentityPlan
from mash.store.schema import match_hold

HELD, APPROVED, REJECTED, APPLIED = "held", "approved", "rejected", "applied"


class HoldError(Refused):
    """A decision on a held night that cannot be recorded, or an approval that no longer fits the records."""


def exceeds(plan: IdentityPlan, settings: LinkSettings) -> list[str]:
    """What in ``plan`` goes past the settings' thresholds, as counts (empty: the night is not held)."""
    limits = (("merged", plan.changes.merged, settings.hold_merged_share, plan.children_before),
              ("split", plan.changes.split, settings.hold_split_share, plan.children_before),
              ("records_moved", plan.changes.records_moved, settings.hold_moved_share, plan.records_before),
              ("ended", plan.changes.ended, settings.hold_ended_share, plan.children_before))
    return [f"{name} {count} of {whole}" for name, count, share, whole in limits
            if count > settings.hold_at_least and count > share * whole]


def digest(clusters: pd.DataFrame) -> str:
    """SHA-256 of a grouping of records (columns record_id, person_id) whatever its labels and order: each record
    id with the smallest record id of its group, in record id order."""
    first = clusters.groupby("person_id")["record_id"].transform("min")
    rows = pd.DataFrame({"r": clusters["record_id"].astype(str), "f": first.astype(str)}).sort_values("r")
    return hashlib.sha256("\n".join(rows["r"] + "\t" + rows["f"]).encode()).hexdigest()


def gate(conn: Connection, run_id: str, plan: IdentityPlan, grouping: str, full: bool, settings: LinkSettings,
         now: datetime | None = None) -> tuple[bool, bool]:
    """Whether run ``run_id`` may be applied, and whether it was held just now (the officers are to be alerted).
    A night within the thresholds is applied; one past them is applied only when an officer has approved this
    grouping (it is then marked applied); else it is held (recorded once; a rerun updates its counts)."""
    if not exceeds(plan, settings):
        return True, False
    now = now or datetime.now(timezone.utc)
    row = conn.execute(select(match_hold).where(match_hold.c.run_id == run_id)).mappings().first()
    counts = dict(children_before=plan.children_before, records_before=plan.records_before,
                  merged=plan.changes.merged, split=plan.changes.split, records_moved=plan.changes.records_moved,
                  ended=plan.changes.ended,
                  digest=grouping, full_relink=full)
    if row is None:
        conn.execute(insert(match_hold).values(run_id=run_id, held_at=now, status=HELD, **counts))
        return False, True
    if row["status"] in (APPROVED, APPLIED):
        if row["digest"] != grouping:
            raise HoldError(f"{run_id}: the records or decisions changed after the approval, so the approved "
                            "grouping is not tonight's; run `mash match` with a new run id (it is held anew)")
        conn.execute(update(match_hold).where(match_hold.c.run_id == run_id).values(status=APPLIED, applied_at=now))
        return True, False
    if row["status"] == HELD:
        conn.execute(update(match_hold).where(match_hold.c.run_id == run_id).values(**counts))
    return False, False


def decide_held_night(engine: Engine, run_id: str, approve: bool, decided_by: str, reason: str,
                      now: datetime | None = None) -> dict:
    """Record an officer's approval or rejection of the held run ``run_id``; returns the hold as recorded. The same
    decision again is accepted (a retry); a different one on a decided run is refused."""
    if not decided_by.strip() or not reason.strip():
        raise HoldError("an approval or rejection needs the officer's name and a reason")
    status = APPROVED if approve else REJECTED
    with engine.begin() as conn:
        row = conn.execute(select(match_hold).where(match_hold.c.run_id == run_id)).mappings().first()
        if row is None:
            raise HoldError(f"{run_id}: no such held matching run (`mash match held` lists them)")
        if row["status"] != HELD:
            if status == APPROVED and row["status"] in (APPROVED, APPLIED) or row["status"] == status:
                return dict(row)
            raise HoldError(f"{run_id}: already {row['status']} by {row['decided_by']}")
        conn.execute(update(match_hold).where(match_hold.c.run_id == run_id)
                     .values(status=status, decided_by=decided_by.strip(), reason=reason.strip(),
                             decided_at=now or datetime.now(timezone.utc)))
        return dict(conn.execute(select(match_hold).where(match_hold.c.run_id == run_id)).mappings().one())


def held_nights(engine: Engine, pending_only: bool = True) -> list[dict]:
    """The held runs (those awaiting a decision, or all), oldest first: counts and officers' decisions only."""
    query = select(match_hold).order_by(match_hold.c.held_at)
    if pending_only:
        query = query.where(match_hold.c.status == HELD)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
