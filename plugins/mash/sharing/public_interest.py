"""Public-interest decisions: an officer's recorded decision to share a child's information without consent.

Each names the child, the data classes and recipients, the lawful basis and rationale, who decided and who approved
(two different people), and a review date. Sharing under a decision stops once its review date has passed, and the
decision is then listed as due for review until an officer records a fresh one. Decisions are kept, never edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import Connection, insert, select

from mash.errors import Refused
from mash.sharing.policy import Policy
from mash.store.schema import child, public_interest_decision as decisions


class DecisionError(Refused):
    """A decision that cannot be recorded: the message says which part is wrong."""


@dataclass(frozen=True)
class PublicInterestDecision:
    decision_id: int
    child_id: str
    data_classes: frozenset[str]
    recipients: frozenset[str]
    review_date: date


def record_decision(conn: Connection, policy: Policy, *, child_id: str, data_classes: list[str],
                    recipients: list[str], lawful_basis: str, rationale: str, decided_by: str, approved_by: str,
                    review_date: date, today: date | None = None) -> int:
    """Validate and record a decision; returns its id."""
    today = today or date.today()
    if conn.execute(select(child.c.child_id).where(child.c.child_id == child_id)).first() is None:
        raise DecisionError(f"no child {child_id}")
    unknown = sorted(set(data_classes) - set(policy.data_classes)) + sorted(set(recipients) - set(policy.recipients))
    if unknown:
        raise DecisionError(f"unknown data class or recipient: {unknown}")
    forbidden = sorted((c, r) for c in data_classes for r in recipients if policy.never(c, r))
    if forbidden:
        rule = policy.never(*forbidden[0])
        raise DecisionError(f"{forbidden[0][0]} to {forbidden[0][1]} is never shared (rule {rule.id})")
    uncovered = sorted((c, r) for c in data_classes for r in recipients
                       if not any(rule.when == "public_interest" and c in rule.classes and r in rule.recipients
                                  for rule in policy.rules))
    if uncovered:
        raise DecisionError(f"no public-interest rule in the policy covers {uncovered[0][0]} to {uncovered[0][1]}")
    if not data_classes or not recipients:
        raise DecisionError("name at least one data class and one recipient")
    if not (lawful_basis.strip() and rationale.strip() and decided_by.strip() and approved_by.strip()):
        raise DecisionError("lawful basis, rationale, decided by and approved by are all required")
    if decided_by.strip().casefold() == approved_by.strip().casefold():
        raise DecisionError("a decision must be approved by someone other than the officer who made it")
    if review_date <= today:
        raise DecisionError("the review date must be in the future")
    result = conn.execute(insert(decisions).values(
        child_id=child_id, data_classes=";".join(sorted(set(data_classes))),
        recipients=";".join(sorted(set(recipients))), lawful_basis=lawful_basis.strip(), rationale=rationale.strip(),
        decided_by=decided_by.strip(), approved_by=approved_by.strip(), decided_at=datetime.now(timezone.utc),
        review_date=review_date))
    return int(result.inserted_primary_key[0])


def _surviving_child(conn: Connection) -> dict[str, str]:
    """Retired child id -> the child it was finally merged into, so a decision follows its child through merges."""
    retired = dict(conn.execute(select(child.c.child_id, child.c.retired_into)
                                .where(child.c.retired_into.is_not(None))).all())

    def follow(child_id: str) -> str:
        seen = set()
        while child_id in retired and child_id not in seen:
            seen.add(child_id)
            child_id = retired[child_id]
        return child_id
    return {c: follow(c) for c in retired}


def all_decisions(conn: Connection) -> list[PublicInterestDecision]:
    survivor = _surviving_child(conn)
    return [PublicInterestDecision(row.decision_id, survivor.get(row.child_id, row.child_id),
                                   frozenset(row.data_classes.split(";")), frozenset(row.recipients.split(";")),
                                   row.review_date)
            for row in conn.execute(select(decisions).order_by(decisions.c.decision_id))]


def in_force(found: list[PublicInterestDecision], as_of: date) -> list[PublicInterestDecision]:
    return [d for d in found if d.review_date >= as_of]


def due_for_review(found: list[PublicInterestDecision], as_of: date) -> list[PublicInterestDecision]:
    """Decisions whose review date has passed and that no later decision for the same child has replaced."""
    renewed = {d.child_id for d in in_force(found, as_of)}
    return [d for d in found if d.review_date < as_of and d.child_id not in renewed]


def listing(conn: Connection, as_of: date) -> list[dict]:
    """Every decision with its state on ``as_of``: in force, due for review, or replaced. Ids and dates only."""
    found = all_decisions(conn)
    live = {d.decision_id for d in in_force(found, as_of)}
    due = {d.decision_id for d in due_for_review(found, as_of)}
    rows = conn.execute(select(decisions.c.decision_id, decisions.c.decided_by, decisions.c.approved_by,
                               decisions.c.decided_at).order_by(decisions.c.decision_id)).all()
    meta = {r.decision_id: r for r in rows}
    return [dict(decision_id=d.decision_id, child_id=d.child_id, data_classes=sorted(d.data_classes),
                 recipients=sorted(d.recipients), review_date=d.review_date.isoformat(),
                 decided_by=meta[d.decision_id].decided_by, approved_by=meta[d.decision_id].approved_by,
                 state="in force" if d.decision_id in live else "due for review" if d.decision_id in due
                 else "replaced")
            for d in found]
