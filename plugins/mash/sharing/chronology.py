"""The multi-agency chronology: every agency's dated events for a child, in one timeline.

Each kind of entry comes from one contract file (:data:`ENTRIES`). Its data class is not chosen here but read
from the sharing policy: the class of the columns the entry shows, which must agree (a policy that splits them
stops the run), with the policy's row classes applied (a sensitive health service is ``sensitive_health``).
Descriptions are built from dates and coded values with their labels only: free text never enters the chronology.
What counts as significant is configuration (``chronology.yaml``, read by :mod:`mash.config` when the chronology is
built; a malformed file stops the publication naming its line and key): a half-term's school attendance appears
only when the pupil missed a persistent-absence share of the sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from mash import config
from mash.contracts import contracts, labels, sensitive_codes
from mash.sharing.policy import Policy, PolicyError
from mash.sharing.tonight import Tonight

COLUMNS = ["child_id", "event_date", "end_date", "is_open", "agency", "data_class", "event", "description"]


def _code_list(agency: str, contract_file: str, column: str) -> str:
    """The name of the code list a contract column takes its codes from."""
    return next(c.codes for c in contracts()[agency].file(contract_file).columns if c.name == column)


def _label(frame: pd.DataFrame, agency: str, contract_file: str, column: str) -> pd.Series:
    return frame[column].map(labels(_code_list(agency, contract_file, column))).fillna("not recorded").astype(object)


def _text(values: pd.Series, prefix: str = "") -> pd.Series:
    """``prefix`` + value, or empty where the value is missing."""
    present = values.notna() & (values.astype(str) != "")
    return (prefix + values.astype(str)).where(present, "")


def _join(*parts: pd.Series) -> pd.Series:
    """The parts joined with "; ", skipping empty ones."""
    joined = parts[0].astype(object).fillna("")
    for part in parts[1:]:
        part = part.astype(object).fillna("")
        joined = (joined + "; " + part).where((joined != "") & (part != ""), joined + part)
    return joined


@dataclass(frozen=True)
class Entry:
    """One kind of chronology entry, built from one contract file."""
    agency: str
    file: str
    event: str
    start: str
    end: str | None
    shows: tuple[str, ...]                                 # the columns the description draws on
    describe: Callable[[pd.DataFrame, "Entry"], pd.Series]
    episode: Callable[[pd.DataFrame], pd.Series] | None = None   # rows that are episodes (open until ``end``)
    significant: Callable[[pd.DataFrame], pd.Series] | None = None   # the rows worth an entry; default all
    place: str | None = None                # a column naming where it happened: left out for a protected child

    def label(self, frame: pd.DataFrame, column: str) -> pd.Series:
        return _label(frame, self.agency, self.file, column)


def _as_date(values: pd.Series) -> pd.Series:
    """Dates as ``datetime.date`` (a datetime column keeps only its date)."""
    if not values.map(lambda v: isinstance(v, datetime)).any():
        return values
    return values.map(lambda v: v.date() if isinstance(v, datetime) else v)


ENTRIES = (
    Entry("health", "events", "health contact", "event_date", None, ("event_type", "site"),
          lambda f, e: _join(e.label(f, "event_type"), _text(f["site"], "at ")), place="site"),
    Entry("police", "incidents", "police incident", "occurred_at", "ended_at",
          ("incident_type", "child_role", "dash_risk"),
          lambda f, e: _join(e.label(f, "incident_type"), e.label(f, "child_role"),
                             _text(f["dash_risk"].map(str.lower, na_action="ignore"), "DASH risk ")),
          episode=lambda f: f["incident_type"] == "MISS"),
    Entry("schools", "enrolments", "school enrolment", "entry_date", "leaving_date", ("enrolment_status",),
          lambda f, e: e.label(f, "enrolment_status")),
    Entry("schools", "attendance", "school attendance", "period_start", "period_end",
          ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence"),
          lambda f, e: _attendance(f),
          significant=lambda f: _absence(f) >= absence_threshold()),
    Entry("schools", "exclusions", "school exclusion", "start_date", None, ("category", "reason", "sessions"),
          lambda f, e: _join(e.label(f, "category"), e.label(f, "reason"), _text(f["sessions"], "sessions: "))),
    Entry("social_care", "referrals", "referral", "referral_date", "closure_date",
          ("referral_source", "decision", "decision_date", "primary_need", "closure_reason"),
          lambda f, e: _join("referred by " + e.label(f, "referral_source"),
                             _text(f["decision_date"], "decided ") + _text(e.label(f, "decision").where(
                                 f["decision"].notna(), ""), ": "),
                             _text(e.label(f, "primary_need").where(f["primary_need"].notna()), "need: "),
                             _text(e.label(f, "closure_reason").where(f["closure_reason"].notna()), "closed: "))),
    Entry("social_care", "assessments", "assessment", "start_date", "authorised_date", (),
          lambda f, e: pd.Series("single assessment", index=f.index)),
    Entry("social_care", "s47_enquiries", "section 47 enquiry", "start_date", "outcome_date",
          ("strategy_discussion_date", "outcome"),
          lambda f, e: _join(_text(f["strategy_discussion_date"], "strategy discussion "),
                             _text(e.label(f, "outcome").where(f["outcome"].notna()), "outcome: "))),
    Entry("social_care", "conferences", "child protection conference", "conference_date", None,
          ("conference_type", "outcome"),
          lambda f, e: _join(e.label(f, "conference_type"),
                             _text(e.label(f, "outcome").where(f["outcome"].notna()), "outcome: "))),
    Entry("social_care", "plans", "child protection plan", "start_date", "end_date",
          ("initial_category", "latest_category"),
          lambda f, e: _join(e.label(f, "latest_category"), "initially " + e.label(f, "initial_category"))),
    Entry("social_care", "looked_after", "looked after", "start_date", "end_date", ("legal_status", "placement_type"),
          lambda f, e: _join(e.label(f, "legal_status"), e.label(f, "placement_type"))),
    Entry("consent", "consents", "consent", "recorded_date", "withdrawn_date", ("state", "scope", "given_by"),
          lambda f, e: _join(e.label(f, "state"), _text(f["scope"], "scope "),
                             _text(e.label(f, "given_by").where(f["given_by"].notna()), "by "))),
)


def absence_threshold() -> float:
    """The share of missed sessions from which a half-term's attendance is significant (``chronology.yaml``)."""
    return config.load("chronology.yaml", PolicyError).value.attendance_absence_at_least


def _absence(f: pd.DataFrame) -> pd.Series:
    """The share of possible sessions missed (authorised or not); 0 where none were possible."""
    possible = pd.to_numeric(f["sessions_possible"])
    absent = pd.to_numeric(f["sessions_authorised_absence"]) + pd.to_numeric(f["sessions_unauthorised_absence"])
    return (absent / possible.where(possible > 0)).fillna(0)


def _attendance(f: pd.DataFrame) -> pd.Series:
    rate = (100 * (1 - _absence(f))).round(1).where(pd.to_numeric(f["sessions_possible"]) > 0)
    return ("attendance " + rate.map(lambda r: "n/a" if pd.isna(r) else f"{r:g}%") + "; unauthorised absence "
            + f["sessions_unauthorised_absence"].astype(str) + " of " + f["sessions_possible"].astype(str)
            + " sessions")


def entry_class(policy: Policy, entry: Entry) -> str:
    """The data class the policy gives the entry's columns; they must agree."""
    shown = [entry.start, *([entry.end] if entry.end else []), *entry.shows]
    classes = {policy.class_of(entry.agency, entry.file, column) for column in shown}
    if len(classes) != 1:
        raise PolicyError(f"fields.{entry.agency}.{entry.file}: the {entry.event} entry shows "
                          f"{', '.join(shown)}, which the policy puts in different classes {sorted(classes)}")
    return classes.pop()


def _row_classes(policy: Policy, entry: Entry, frame: pd.DataFrame, base: str) -> pd.Series:
    classes = pd.Series(base, index=frame.index, dtype=object)
    for row_class in policy.row_classes:
        if (row_class.agency, row_class.file) != (entry.agency, entry.file) or row_class.replaces:
            continue
        if row_class.when == "sensitive_code":
            hit = frame[row_class.column].isin(list(sensitive_codes(_code_list(entry.agency, entry.file,
                                                                               row_class.column))))
        else:
            hit = frame[row_class.column].map(lambda value: value is True)
        classes = classes.mask(hit.astype(bool), row_class.data_class)
    return classes


def chronology(tonight: Tonight, policy: Policy, as_of: date, children: set[str],
               protected: set[str] = frozenset()) -> pd.DataFrame:
    """Every entry about ``children`` (columns :data:`COLUMNS`), ordered by child, date and agency; without the
    place (clinic, hospital site) for a child whose address is protected."""
    frames = []
    for entry in ENTRIES:
        base = entry_class(policy, entry)
        columns = list(dict.fromkeys([entry.start, *([entry.end] if entry.end else []), *entry.shows,
                                      *(r.column for r in policy.row_classes
                                        if (r.agency, r.file) == (entry.agency, entry.file))]))
        frame = tonight.rows(entry.agency, entry.file, columns)
        frame = frame[frame["child_id"].isin(children) & frame[entry.start].notna()]
        if entry.significant:
            frame = frame[entry.significant(frame)]
        frame = frame.reset_index(drop=True)
        if entry.place:
            frame[entry.place] = frame[entry.place].where(~frame["child_id"].isin(protected), None)
        if frame.empty:
            continue
        end = _as_date(frame[entry.end]) if entry.end else pd.Series(None, index=frame.index, dtype=object)
        end = end.where(end.notna(), None)
        frames.append(pd.DataFrame({
            "child_id": frame["child_id"], "event_date": _as_date(frame[entry.start]), "end_date": end,
            "is_open": (end.isna() & (entry.episode(frame) if entry.episode else True)) if entry.end else False,
            "agency": entry.agency,
            "data_class": _row_classes(policy, entry, frame, base), "event": entry.event,
            "description": entry.describe(frame, entry).astype(str)}))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    found = pd.concat(frames, ignore_index=True)
    found = found[found["event_date"].map(lambda d: d <= as_of)]
    return found.sort_values(["child_id", "event_date", "agency", "event", "description"],
                             kind="stable").reset_index(drop=True)
