"""Notifications: events that matter, told to the professional who needs to act, each under its own rule of the
sharing policy.

- ``encompass`` (Operation Encompass): a police domestic-abuse incident at which a child was present or a victim:
  the designated safeguarding lead of the child's current school, due before the next school day starts.
- ``emergency_attendance``: an A&E attendance by a child on a child protection plan or looked after: the allocated
  social worker.
- ``school_move``: a child on a plan who leaves a school roll: the social worker, and the new school's lead if the
  child has joined one; a child of school age on a plan with no current enrolment: the social worker.
- ``visit_overdue``: a child on a plan not seen by a social worker within the visiting interval: the team manager.

Events before the hub's first notices night (less the lookback) are history and raise nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from mash.notices.notice import Field, Notice, text
from mash.notices.settings import Settings
from mash.sharing.significant_harm import open_on
from mash.sharing.tonight import Tonight
from mash.timescales import next_working_day, working_days_between

CHILDREN = ("social_care", "children")
ENCOMPASS_ROLES = ("PRESENT", "VICTIM")


def _day(value) -> date | None:
    if value is None or value != value:
        return None
    return value.date() if isinstance(value, datetime) else value


def _next_working_day(day: date) -> date:
    """The first working day after ``day`` (a Sunday night's incident is for Monday)."""
    return next_working_day(day + timedelta(days=1))


def _on_plan(tonight: Tonight, as_of: date) -> set[str]:
    plans = tonight.rows("social_care", "plans", ["start_date", "end_date"])
    return set(plans.loc[open_on(plans["start_date"], plans["end_date"], as_of), "child_id"])


def _episodes(tonight: Tonight) -> dict[str, list[tuple[date, date | None]]]:
    """Child -> the (start, end) of each child protection plan and looked-after episode."""
    found: dict[str, list] = {}
    for contract_file in ("plans", "looked_after"):
        for row in tonight.rows("social_care", contract_file, ["start_date", "end_date"]).itertuples(index=False):
            found.setdefault(row.child_id, []).append((row.start_date, _day(row.end_date)))
    return found


def _social_care(tonight: Tonight) -> dict:
    rows = tonight.rows("social_care", "children", ["given_name", "family_name", "date_of_birth", "allocated_worker",
                                                   "worker_email", "worker_phone", "team_manager_email",
                                                   "last_seen_date"])
    return dict(zip(rows["child_id"], rows.itertuples(index=False)))


def _identity(agency: str, contract_file: str, given: str, family: str, born: str, row) -> list[Field]:
    return [Field("Child", f"{text(getattr(row, given))} {text(getattr(row, family))}".strip(),
                  (agency, contract_file, family)),
            Field("Date of birth", text(getattr(row, born)), (agency, contract_file, born))]


def _current_schools(tonight: Tonight) -> pd.DataFrame:
    enrolments = tonight.rows("schools", "enrolments", ["school_urn", "school_name", "entry_date", "leaving_date",
                                                       "dsl_email"])
    return enrolments.sort_values(["child_id", "entry_date"], kind="stable")


def encompass(tonight: Tonight, as_of: date, since: date, settings: Settings) -> list[Notice]:
    incidents = tonight.rows("police", "incidents", ["incident_id", "occurred_at", "incident_type", "child_role"])
    incidents = incidents[(incidents["incident_type"] == "DA") & incidents["child_role"].isin(ENCOMPASS_ROLES)]
    persons = tonight.rows("police", "persons", ["forenames", "surname", "date_of_birth"])
    person_of = dict(zip(persons["child_id"], persons.itertuples(index=False)))
    enrolments = _current_schools(tonight)
    current = enrolments[enrolments["leaving_date"].isna()].drop_duplicates("child_id", keep="last")
    school_of = dict(zip(current["child_id"], current.itertuples(index=False)))
    found = []
    for i in incidents.itertuples(index=False):
        day = _day(i.occurred_at)
        school, person = school_of.get(i.child_id), person_of.get(i.child_id)
        if day is None or not since <= day <= as_of or school is None or person is None:
            continue
        found.append(Notice(
            f"encompass:{i.incident_id}:{i.child_id}", "encompass", "schools",
            text(school.dsl_email) or settings.inboxes["schools"]["safeguarding"], i.incident_id, i.child_id,
            _next_working_day(day),
            (*_identity("police", "persons", "forenames", "surname", "date_of_birth", person),
             Field("Incident", i.incident_id, ("police", "incidents", "incident_id")),
             Field("Date", text(day), ("police", "incidents", "occurred_at")),
             Field("Type", "Domestic abuse incident", ("police", "incidents", "incident_type")),
             Field("The child was", "present" if i.child_role == "PRESENT" else "a victim",
                   ("police", "incidents", "child_role"))),
            (f"Sent for the school day starting {_next_working_day(day).isoformat()} at "
             f"{settings.encompass_school_day_starts.strftime('%H:%M')}.",)))
    return found


def emergency_attendance(tonight: Tonight, as_of: date, since: date, settings: Settings) -> list[Notice]:
    events = tonight.rows("health", "events", ["event_id", "event_date", "event_type", "site"])
    events = events[events["event_type"] == "AE"]
    persons = tonight.rows("health", "persons", ["given_name", "family_name", "date_of_birth"])
    person_of = dict(zip(persons["child_id"], persons.itertuples(index=False)))
    social, episodes = _social_care(tonight), _episodes(tonight)
    found = []
    for e in events.itertuples(index=False):
        day = _day(e.event_date)
        if day is None or not since <= day <= as_of:
            continue
        if not any(start <= day and (end is None or end > day) for start, end in episodes.get(e.child_id, ())):
            continue
        child, person = social.get(e.child_id), person_of.get(e.child_id)
        if child is None or person is None:
            continue
        found.append(Notice(
            f"emergency-attendance:{e.event_id}", "emergency_attendance", "social_care",
            text(child.worker_email) or settings.inboxes["social_care"]["safeguarding"], e.event_id, e.child_id,
            _next_working_day(day),
            (*_identity("health", "persons", "given_name", "family_name", "date_of_birth", person),
             Field("Attendance", "Emergency department (A&E)", ("health", "events", "event_type")),
             Field("Date", text(day), ("health", "events", "event_date")),
             Field("Site", text(e.site), ("health", "events", "site")))))
    return found


def school_move(tonight: Tonight, as_of: date, since: date, settings: Settings) -> list[Notice]:
    on_plan = _on_plan(tonight, as_of)
    social = _social_care(tonight)
    enrolments = _current_schools(tonight)
    enrolments = enrolments[enrolments["child_id"].isin(on_plan)]
    window = max(since, as_of - timedelta(days=settings.school_roll_lookback_days))
    found = []
    for left in enrolments[enrolments["leaving_date"].notna()].itertuples(index=False):
        day = _day(left.leaving_date)
        child = social.get(left.child_id)
        if not window <= day <= as_of or child is None:
            continue
        joined = enrolments[(enrolments["child_id"] == left.child_id) & enrolments["leaving_date"].isna()
                            & (enrolments["school_urn"] != left.school_urn)]
        new = next(joined.itertuples(index=False), None)
        about = f"{left.school_urn}:{day.isoformat()}"
        content = (*_identity("social_care", "children", "given_name", "family_name", "date_of_birth", child),
                   Field("Left", text(left.school_name), ("schools", "enrolments", "school_name")),
                   Field("Leaving date", text(day), ("schools", "enrolments", "leaving_date")),
                   Field("Now on roll at", text(new.school_name) if new else "no school known to the hub",
                         ("schools", "enrolments", "school_name")))
        found.append(Notice(f"school-move:{left.child_id}:{about}", "school_move", "social_care",
                            text(child.worker_email) or settings.inboxes["social_care"]["safeguarding"], about,
                            left.child_id, _next_working_day(day), content))
        if new is not None:
            found.append(Notice(
                f"school-move-new-school:{left.child_id}:{about}", "school_move", "schools",
                text(new.dsl_email) or settings.inboxes["schools"]["safeguarding"], about, left.child_id,
                _next_working_day(day),
                (*content, Field("The child is on a child protection plan", "yes", ("social_care", "plans", "plan_id")),
                 *([Field("Allocated social worker", text(child.allocated_worker), (*CHILDREN, "allocated_worker")),
                    Field("Social worker's email", text(child.worker_email), (*CHILDREN, "worker_email")),
                    Field("Social worker's phone", text(child.worker_phone), (*CHILDREN, "worker_phone"))]
                   if text(child.allocated_worker) else []))))
    enrolled = set(enrolments.loc[enrolments["leaving_date"].isna(), "child_id"])
    return found + _no_school(tonight, as_of, social, enrolled, settings)


def _of_school_age(born: date | None, as_of: date) -> bool:
    """Of compulsory school age (5 to 15) on ``as_of``, roughly: by age, not by school year."""
    if born is None:
        return False
    age = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
    return 5 <= age < 16


def _no_school(tonight: Tonight, as_of: date, social: dict, enrolled: set[str], settings: Settings) -> list[Notice]:
    """A child of school age on a plan with no current enrolment: the social worker, once per plan."""
    plans = tonight.rows("social_care", "plans", ["plan_id", "start_date", "end_date"])
    plans = plans[open_on(plans["start_date"], plans["end_date"], as_of)].drop_duplicates("child_id")
    found = []
    for plan in plans.itertuples(index=False):
        child = social.get(plan.child_id)
        if child is None or plan.child_id in enrolled or not _of_school_age(_day(child.date_of_birth), as_of):
            continue
        found.append(Notice(
            f"no-school:{plan.child_id}:{plan.plan_id}", "school_move", "social_care",
            text(child.worker_email) or settings.inboxes["social_care"]["safeguarding"], plan.plan_id, plan.child_id,
            _next_working_day(as_of),
            (*_identity("social_care", "children", "given_name", "family_name", "date_of_birth", child),
             Field("On a child protection plan", "yes", ("social_care", "plans", "plan_id")),
             Field("School", "no current enrolment known to the hub", ("schools", "enrolments", "school_name")))))
    return found


def visit_overdue(tonight: Tonight, as_of: date, since: date, settings: Settings) -> list[Notice]:
    interval, on_plan = settings.visiting_interval_working_days, _on_plan(tonight, as_of)
    found = []
    for child_id, child in _social_care(tonight).items():
        if child_id not in on_plan:
            continue
        seen = _day(child.last_seen_date)
        if seen is not None and working_days_between(seen, as_of) <= interval:
            continue
        since_seen = f"{seen.isoformat()}" if seen else "never"
        found.append(Notice(
            f"visit-overdue:{child_id}:{since_seen}", "visit_overdue", "social_care",
            text(child.team_manager_email) or settings.inboxes["social_care"]["safeguarding"], since_seen, child_id,
            as_of,
            (*_identity("social_care", "children", "given_name", "family_name", "date_of_birth", child),
             Field("On a child protection plan", "yes", ("social_care", "plans", "plan_id")),
             Field("Last seen by a social worker", since_seen, (*CHILDREN, "last_seen_date")),
             Field("Allocated worker", text(child.allocated_worker), (*CHILDREN, "allocated_worker"))),
            (f"A child on a plan is to be seen by a social worker at least every {interval} working days.",)))
    return found


NOTIFICATIONS = (encompass, emergency_attendance, school_move, visit_overdue)
