"""Feedback to referrers (Working Together 2023; the seed report's recommendation 33): an acknowledgement once
social care has decided on a referral, and an outcome notice once the outcome is recorded, to the professional who
referred (their email on the referral, else their agency's safeguarding inbox).

A notice carries the child's name and date of birth (so the referrer knows whom it is about), the referral's id,
dates, decision and outcome category with its coded reason, and the allocated worker's contact: never assessment
content, free text or anyone else's information. Referrals from individuals (referrer agency "other") are answered
by social care itself, not by the hub.
"""

from __future__ import annotations

from datetime import date

from mash.notices.notice import Field, Notice, text
from mash.notices.referral import FEEDBACK_AGENCIES, ack_key, label, outcome_key, track
from mash.notices.settings import Settings
from mash.sharing.tonight import Tonight

CHILDREN = ("social_care", "children")
REFERRALS = ("social_care", "referrals")


def _child_fields(child) -> list[Field]:
    return [Field("Child", f"{text(child.given_name)} {text(child.family_name)}".strip(), (*CHILDREN, "family_name")),
            Field("Date of birth", text(child.date_of_birth), (*CHILDREN, "date_of_birth"))]


def _worker_fields(child) -> list[Field]:
    if child is None or not text(child.allocated_worker):
        return []
    return [Field("Allocated worker", text(child.allocated_worker), (*CHILDREN, "allocated_worker")),
            Field("Worker's email", text(child.worker_email), (*CHILDREN, "worker_email")),
            Field("Worker's phone", text(child.worker_phone), (*CHILDREN, "worker_phone"))]


def _outcome_source(outcome: str) -> tuple[str, str, str]:
    if outcome.startswith("Section 47"):
        return ("social_care", "s47_enquiries", "outcome")
    if outcome.startswith("Single assessment"):
        return ("social_care", "assessments", "authorised_date")
    return (*REFERRALS, "decision")


def feedback_notices(tonight: Tonight, as_of: date, since: date, settings: Settings) -> list[Notice]:
    """Tonight's acknowledgement and outcome notices, for every referral from an agency decided (or concluded) by
    ``as_of`` and made on or after ``since``."""
    referrals = track(tonight, as_of, settings, since)
    referrals = referrals[referrals["referrer_agency"].isin(FEEDBACK_AGENCIES)]
    children = tonight.rows("social_care", "children", ["given_name", "family_name", "date_of_birth",
                                                       "allocated_worker", "worker_email", "worker_phone"])
    child_of = dict(zip(children["child_id"], children.itertuples(index=False)))
    found = []
    for r in referrals.itertuples(index=False):
        child = child_of.get(r.child_id)
        if child is None or r.decision_date is None:
            continue
        to = r.referrer_email or settings.inboxes[r.referrer_agency]["safeguarding"]
        common = [*_child_fields(child),
                  Field("Referral", r.referral_id, (*REFERRALS, "referral_id")),
                  Field("Referred on", text(r.referral_date), (*REFERRALS, "referral_date")),
                  Field("Decision", label("referral_decision", r.decision), (*REFERRALS, "decision")),
                  Field("Decided on", text(r.decision_date), (*REFERRALS, "decision_date"))]
        found.append(Notice(ack_key(r.referral_id), "referral_acknowledgement", r.referrer_agency, to,
                            r.referral_id, r.child_id, r.acknowledgement_due,
                            tuple(common + _worker_fields(child))))
        if r.outcome_date is None:
            continue
        outcome = [Field("Outcome", r.outcome, _outcome_source(r.outcome)),
                   Field("Outcome recorded on", text(r.outcome_date), _outcome_source(r.outcome))]
        if text(r.closure_reason):
            outcome.append(Field("Reason", label("closure_reason", r.closure_reason), (*REFERRALS, "closure_reason")))
        found.append(Notice(outcome_key(r.referral_id), "referral_outcome", r.referrer_agency, to, r.referral_id,
                            r.child_id, r.outcome_due, tuple(common + outcome + _worker_fields(child))))
    return found
