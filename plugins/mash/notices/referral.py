"""Referral tracking: every referral in the social-care feed, who made it (agency, source code, named contact) and
what happened: the decision and whether it came within its timescale, the outcome (no further action and the coded
reason, step down to early help, assessment, section 47 enquiry and its outcome), the dates, and when feedback to the
referrer is due.

The outcome is recorded when the referral reaches its first conclusion: the decision itself for no further action
or early help, the authorised assessment, or the section 47 enquiry's outcome. Free text (why no further action) is
never read here: the reason is the coded closure reason.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from mash.contracts import labels
from mash.notices.settings import Settings
from mash.sharing.tonight import Tonight
from mash.store.schema import notice, notice_night
from mash.timescales import add_working_days

COLUMNS = ["referral_id", "child_id", "referral_date", "referral_source", "referrer_agency", "decision_due",
           "decision_date", "decision", "decided_in_time", "outcome", "outcome_date", "closure_reason",
           "acknowledgement_due", "outcome_due"]
CONCLUDED_AT_DECISION = ("NFA", "EH")


def label(code_list: str, code) -> str:
    """The code's label; empty for a missing or unknown code."""
    return labels(code_list).get(code, "") if code else ""


def _present(value) -> bool:
    return value is not None and value == value


def _outcome(row, assessment, s47) -> tuple[str, date | None]:
    """The referral's outcome as a label, and the day it was recorded; ("", None) while there is none."""
    if row.decision in CONCLUDED_AT_DECISION and _present(row.decision_date):
        return label("referral_decision", row.decision), row.decision_date
    if row.decision == "ASSESS" and assessment is not None and _present(assessment.authorised_date):
        return "Single assessment completed", assessment.authorised_date
    if s47 is not None and _present(s47.outcome_date):
        return f"Section 47 enquiry: {label('s47_outcome', s47.outcome)}", s47.outcome_date
    return "", None


def tracked_since(conn: Connection, as_of: date, settings: Settings) -> date:
    """Referrals made on or after this day are fed back: the hub's first notices night, less the lookback."""
    first = conn.execute(select(func.min(notice_night.c.as_of))).scalar() or as_of
    return add_working_days(min(first, as_of), -settings.first_night_lookback_working_days)


def track(tonight: Tonight, as_of: date, settings: Settings, since: date | None = None) -> pd.DataFrame:
    """Every referral made on or after ``since`` (all if None) and on or before ``as_of`` (columns
    :data:`COLUMNS`), with the referrer's contact columns for routing (``referrer_email``)."""
    referrals = tonight.rows("social_care", "referrals", [
        "referral_id", "referral_date", "referral_source", "referrer_agency", "referrer_email", "decision_date",
        "decision", "closure_date", "closure_reason"])
    keep = referrals["referral_date"].map(lambda d: _present(d) and d <= as_of and (since is None or d >= since))
    referrals = referrals[keep.astype(bool)]
    assessments = tonight.rows("social_care", "assessments", ["referral_id", "start_date", "authorised_date"])
    assessments = assessments.sort_values("start_date", kind="stable").drop_duplicates("referral_id")
    s47 = tonight.rows("social_care", "s47_enquiries", ["referral_id", "start_date", "outcome", "outcome_date"])
    s47 = s47.sort_values("start_date", kind="stable").drop_duplicates("referral_id")
    by_referral = {name: dict(zip(frame["referral_id"], frame.itertuples(index=False)))
                   for name, frame in (("assessment", assessments), ("s47", s47))}
    rows = []
    for r in referrals.itertuples(index=False):
        decision_due = add_working_days(r.referral_date, settings.decision_working_days)
        decided = _present(r.decision_date) and r.decision_date <= as_of
        outcome, outcome_date = _outcome(r, by_referral["assessment"].get(r.referral_id),
                                         by_referral["s47"].get(r.referral_id))
        if outcome_date is not None and outcome_date > as_of:
            outcome, outcome_date = "", None
        feedback = settings.feedback_working_days
        rows.append({
            "referral_id": r.referral_id, "child_id": r.child_id, "referral_date": r.referral_date,
            "referral_source": r.referral_source, "referrer_agency": r.referrer_agency,
            "decision_due": decision_due, "decision_date": r.decision_date if decided else None,
            "decision": r.decision if decided else None,
            "decided_in_time": decided and r.decision_date <= decision_due,
            "outcome": outcome or None, "outcome_date": outcome_date,
            "closure_reason": r.closure_reason if _present(r.closure_reason) and outcome_date else None,
            "acknowledgement_due": add_working_days(r.decision_date if decided else decision_due, feedback),
            "outcome_due": add_working_days(outcome_date, feedback) if outcome_date else
            add_working_days(r.referral_date, settings.assessment_working_days + feedback),
            "referrer_email": r.referrer_email if _present(r.referrer_email) else ""})
    found = pd.DataFrame(rows, columns=[*COLUMNS, "referrer_email"]).astype(object)
    return found.where(found.notna(), None)


def overdue(engine: Engine, as_of: date, settings: Settings) -> pd.DataFrame:
    """Referrals from an agency whose acknowledgement or outcome notice is past its due date and still not sent
    (columns referral_id, child_id, referrer_agency, feedback, due, status: queued, failed or "not built" while
    social care has recorded no decision or outcome): for officers and the board report. Ids only; no names or
    addresses. (Whether feedback that was sent came in time is in the notice table: ``due_date`` and ``sent_at``.)"""
    with engine.connect() as conn:
        since = tracked_since(conn, as_of, settings)
        sent = {row.idempotency_key: row for row in conn.execute(
            select(notice.c.idempotency_key, notice.c.status)
            .where(notice.c.kind.in_(["referral_acknowledgement", "referral_outcome"])))}
    found = []
    for r in track(Tonight(engine), as_of, settings, since).itertuples(index=False):
        if r.referrer_agency not in FEEDBACK_AGENCIES:
            continue
        for feedback, key, due in (("acknowledgement", ack_key(r.referral_id), r.acknowledgement_due),
                                   ("outcome", outcome_key(r.referral_id), r.outcome_due)):
            row = sent.get(key)
            if due < as_of and (row is None or row.status != "sent"):
                found.append((r.referral_id, r.child_id, r.referrer_agency, feedback, due,
                              row.status if row is not None else "not built"))
    return pd.DataFrame(found, columns=["referral_id", "child_id", "referrer_agency", "feedback", "due", "status"])


FEEDBACK_AGENCIES = ("health", "police", "schools", "social_care")   # "other" is an individual: social care replies


def ack_key(referral_id: str) -> str:
    return f"referral-ack:{referral_id}"


def outcome_key(referral_id: str) -> str:
    return f"referral-outcome:{referral_id}"
