"""The management information the board asks for, computed from children's social care's extract.

Every function takes the social care files as frames (``batch_frames``: dates as datetime64) and the report's
``Month``, and returns one table of the report as a DataFrame; tests/test_board_figures.py checks each against
figures worked out by hand. Children "on a plan" are those with a plan started on or before the month's last day
and not ended by then. Timeliness counts working days (``mash.timescales``) against mash/config/timescales.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from mash.contracts import labels
from mash.timescales import Timescales, working_days_between

AGE_BANDS = [("Unborn", None, 0), ("Under 1", 0, 1), ("1-4", 1, 5), ("5-9", 5, 10), ("10-15", 10, 16),
             ("16 and over", 16, 200)]
DURATIONS = ["Under 12 months", "12 to 24 months", "Over 24 months"]
PROTECTED_AREA = "Protected address (not shown)"


@dataclass(frozen=True)
class Month:
    first: date
    last: date

    @classmethod
    def parse(cls, text: str) -> "Month":
        """``YYYY-MM``."""
        try:
            first = date.fromisoformat(f"{text}-01")
        except ValueError:
            raise ValueError(f"month {text!r} is not in the form YYYY-MM") from None
        return cls(first, (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date())

    @property
    def label(self) -> str:
        return f"{self.first:%B %Y}"

    def back(self, months: int) -> "Month":
        return Month.parse(f"{pd.Timestamp(self.first) - pd.DateOffset(months=months):%Y-%m}")

    def contains(self, values: pd.Series) -> pd.Series:
        return (values >= pd.Timestamp(self.first)) & (values <= pd.Timestamp(self.last))


def _labels(list_name: str) -> dict[str, str]:
    return {code: label[0].upper() + label[1:] for code, label in labels(list_name).items()}


def children_on_plans(sc: dict[str, pd.DataFrame], month: Month) -> pd.DataFrame:
    """One row per child on a plan at the month's end (their latest plan), with the child's details."""
    plans = sc["plans"]
    end = pd.Timestamp(month.last)
    open_ = plans[(plans["start_date"] <= end) & (plans["end_date"].isna() | (plans["end_date"] > end))]
    open_ = open_.sort_values(["child_id", "start_date"]).drop_duplicates("child_id", keep="last")
    return open_.merge(sc["children"], on="child_id", how="left", validate="one_to_one")


def _crosstab(rows: pd.Series, columns: pd.Series, row_order: list[str], column_order: list[str]) -> pd.DataFrame:
    table = (pd.crosstab(rows, columns).rename_axis(index=None, columns=None)
             .reindex(index=row_order, columns=column_order, fill_value=0))
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0] if len(table) else table
    table["Total"] = table.sum(axis=1)
    table.loc["Total"] = table.sum(axis=0)
    return table.astype(int)


def plans_by_category_and_gender(sc, month: Month) -> pd.DataFrame:
    on = children_on_plans(sc, month)
    categories, genders = _labels("abuse_category"), _labels("cin_gender")
    return _crosstab(on["latest_category"].map(categories), on["gender"].map(genders),
                     list(categories.values()), list(genders.values()))


def age_band(date_of_birth: pd.Series, on: date) -> pd.Series:
    """Age band in whole years on ``on``; 'Unborn' where there is no date of birth yet (or it is still to come)."""
    born = date_of_birth.notna() & (date_of_birth <= pd.Timestamp(on))
    dob = date_of_birth.where(born, pd.Timestamp(on))
    had_birthday = (dob.dt.month < on.month) | ((dob.dt.month == on.month) & (dob.dt.day <= on.day))
    age = on.year - dob.dt.year - (~had_birthday).astype(int)
    bands = pd.cut(age, bins=[low for _, low, _ in AGE_BANDS[1:]] + [AGE_BANDS[-1][2]], right=False,
                   labels=[label for label, _, _ in AGE_BANDS[1:]]).astype(object)
    return bands.where(born, "Unborn")


def plans_by_age_and_gender(sc, month: Month) -> pd.DataFrame:
    on = children_on_plans(sc, month)
    genders = _labels("cin_gender")
    return _crosstab(age_band(on["date_of_birth"], month.last), on["gender"].map(genders),
                     [b[0] for b in AGE_BANDS], list(genders.values()))


def plans_by_ethnicity(sc, month: Month) -> pd.DataFrame:
    on = children_on_plans(sc, month)
    labels = _labels("ethnicity")
    counts = on["ethnicity"].map(labels).value_counts().reindex(list(labels.values()), fill_value=0)
    table = counts[counts > 0].rename_axis(None).to_frame("Children")
    table.loc["Total"] = table["Children"].sum()
    return table.astype(int)


def area(postcode: pd.Series, protected: pd.Series) -> pd.Series:
    """The postcode district (outward code); protected addresses are never shown, even as an area."""
    district = postcode.fillna("").str.strip().str.upper().str.split().str[0].fillna("Not recorded")
    return district.where(~protected.fillna(False).astype(bool), PROTECTED_AREA)


def plans_by_area(sc, month: Month) -> pd.DataFrame:
    on = children_on_plans(sc, month)
    counts = area(on["postcode"], on["address_protected"]).value_counts()
    order = sorted(k for k in counts.index if k not in (PROTECTED_AREA, "Not recorded"))
    table = counts.reindex(order + [k for k in ("Not recorded", PROTECTED_AREA) if k in counts.index]
                           ).rename_axis(None).to_frame("Children")
    table.loc["Total"] = table["Children"].sum()
    return table.astype(int)


def duration_band(start: pd.Series, end: pd.Series) -> pd.Series:
    band = pd.Series(DURATIONS[2], index=start.index, dtype=object)
    band[end < start + pd.DateOffset(months=24)] = DURATIONS[1]
    band[end < start + pd.DateOffset(months=12)] = DURATIONS[0]
    return band


def plan_durations(sc, month: Month) -> pd.DataFrame:
    """Plans that ended in the twelve months to the month's end, and plans open at its end, by length."""
    plans = sc["plans"]
    end = pd.Timestamp(month.last)
    year_start = pd.Timestamp(month.back(11).first)
    ended = plans[plans["end_date"].notna() & (plans["end_date"] >= year_start) & (plans["end_date"] <= end)]
    open_ = plans[(plans["start_date"] <= end) & (plans["end_date"].isna() | (plans["end_date"] > end))]
    table = pd.DataFrame({
        "Plans ended in the last 12 months": duration_band(ended["start_date"], ended["end_date"]).value_counts(),
        "Plans open at month end (so far)": duration_band(open_["start_date"],
                                                          pd.Series(end, index=open_.index)).value_counts(),
    }).reindex(DURATIONS).fillna(0)
    table.loc["Total"] = table.sum(axis=0)
    return table.astype(int)


def s47_by_quarter(sc, month: Month) -> pd.DataFrame:
    """Section 47 enquiries started in each of the four calendar quarters up to the month's end."""
    starts = sc["s47_enquiries"]["start_date"]
    last_quarter = pd.Period(month.last, freq="Q")
    rows = {}
    for q in [last_quarter - k for k in range(3, -1, -1)]:
        first, last = q.start_time.normalize(), min(q.end_time.normalize(), pd.Timestamp(month.last))
        partial = f" (to {month.last:%d %b})" if last < q.end_time.normalize() else ""
        label = f"{first:%b}-{q.end_time:%b %Y}{partial}"
        rows[label] = int(((starts >= first) & (starts <= last)).sum())
    return pd.Series(rows, name="Section 47 enquiries started").to_frame()


def _on_time(days: pd.Series, limit: int, done: pd.Series) -> dict[str, int]:
    return {"On time": int((done & (days <= limit)).sum()), "Late": int((done & (days > limit)).sum()),
            "Not yet done": int((~done).sum())}


def timeliness(sc, month: Month, timescales: Timescales) -> pd.DataFrame:
    """Referral decisions, assessments, initial and review conferences due or done in the month, against their
    timescales."""
    rows = {}
    ref = sc["referrals"]
    received = ref[month.contains(ref["referral_date"])]
    days = pd.Series(working_days_between(received["referral_date"], received["decision_date"]), index=received.index)
    rows[f"Referral decisions within {timescales.referral_decision_working_days} working day "
         f"(referrals received in the month)"] = _on_time(days, timescales.referral_decision_working_days,
                                                          received["decision_date"].notna())

    assessments = sc["assessments"].merge(ref[["referral_id", "referral_date"]], on="referral_id", how="left")
    done = assessments[month.contains(assessments["authorised_date"])]
    days = pd.Series(working_days_between(done["referral_date"], done["authorised_date"]), index=done.index)
    rows[f"Assessments within {timescales.assessment_working_days} working days of referral "
         f"(authorised in the month)"] = _on_time(days, timescales.assessment_working_days,
                                                  done["referral_date"].notna())

    conferences = sc["conferences"]
    icpc = conferences[(conferences["conference_type"] == "ICPC") & month.contains(conferences["conference_date"])]
    icpc = icpc.merge(sc["s47_enquiries"][["s47_id", "strategy_discussion_date"]], on="s47_id", how="left")
    days = pd.Series(working_days_between(icpc["strategy_discussion_date"], icpc["conference_date"]),
                     index=icpc.index)
    counts = _on_time(days, timescales.initial_conference_working_days, icpc["strategy_discussion_date"].notna())
    counts["No strategy discussion recorded"] = counts.pop("Not yet done")
    rows[f"Initial conferences within {timescales.initial_conference_working_days} working days of the strategy "
         f"discussion (held in the month)"] = counts

    ordered = conferences.sort_values(["child_id", "conference_date"])
    previous_date = ordered.groupby("child_id")["conference_date"].shift()
    previous_type = ordered.groupby("child_id")["conference_type"].shift()
    months = np.where(previous_type == "ICPC", timescales.first_review_months, timescales.later_review_months)
    due = pd.Series([d + pd.DateOffset(months=int(m)) if pd.notna(d) else pd.NaT
                     for d, m in zip(previous_date, months)], index=ordered.index, dtype="datetime64[ns]")
    review = (ordered["conference_type"] == "RCPC") & month.contains(ordered["conference_date"])
    late = ordered["conference_date"] > due
    rows[f"Review conferences on time ({timescales.first_review_months} months after the initial, then every "
         f"{timescales.later_review_months}; held in the month)"] = {
        "On time": int((review & due.notna() & ~late).sum()), "Late": int((review & late).sum()),
        "No earlier conference recorded": int((review & due.isna()).sum())}
    return pd.DataFrame.from_dict(rows, orient="index").fillna(0).astype(int)


def referrals_without_outcome(sc, month: Month) -> pd.DataFrame:
    """Referrals received in the month with no decision recorded by the extract (feedback to referrers:
    :func:`feedback_overdue`)."""
    ref = sc["referrals"]
    received = ref[month.contains(ref["referral_date"])]
    return pd.DataFrame({"Referrals": {
        "Received in the month": len(received),
        "No decision or outcome recorded": int(received["decision"].isna().sum()),
    }})


def feedback_overdue(overdue: pd.DataFrame) -> pd.DataFrame:
    """Referrals whose acknowledgement or outcome notice to the referring agency is past its due date and not sent
    (``overdue``: :func:`mash.notices.referral.overdue`), by referring agency and notice."""
    counts = overdue.groupby(["referrer_agency", "feedback"]).size().unstack(fill_value=0) \
        .reindex(columns=["acknowledgement", "outcome"], fill_value=0)
    counts = counts.rename(columns=str.capitalize).rename_axis(index=None, columns=None).astype(int)
    counts.loc["Total"] = counts.sum()
    return counts


def children_not_seen(sc, month: Month, timescales: Timescales, as_of: date) -> pd.DataFrame:
    """Children on a plan at ``as_of`` (the extract's date, at most the month's end) not seen by a social worker
    within the visiting interval."""
    on = children_on_plans(sc, Month(month.first, min(as_of, month.last)))
    days = pd.Series(working_days_between(on["last_seen_date"], pd.Series(pd.Timestamp(as_of), index=on.index)),
                     index=on.index)
    return pd.DataFrame({"Children": {
        "On a plan": len(on),
        f"Not seen within {timescales.plan_visit_working_days} working days": int(
            (days > timescales.plan_visit_working_days).sum()),
        "No visit recorded": int(on["last_seen_date"].isna().sum()),
    }})
