"""The board report's management information against figures worked out by hand on a small fixture.

The month is December 2025: Christmas Day and Boxing Day are bank holidays, which decides three of the timeliness
figures below (each noted where it does).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from mash.config import ConfigError
from mash.home import config_path
from mash.report.figures import (Month, children_not_seen, feedback_overdue, plan_durations, plans_by_age_and_gender,
                                 plans_by_area, plans_by_category_and_gender, plans_by_ethnicity,
                                 referrals_without_outcome, s47_by_quarter, timeliness)
from mash.timescales import Timescales, add_working_days, working_days_between

DECEMBER = Month.parse("2025-12")
TIMESCALES = Timescales.load()


def _frame(columns: str, rows: list[tuple], dates: str = "") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns.split())
    for name in dates.split():
        frame[name] = pd.to_datetime(frame[name])
    return frame


@pytest.fixture
def sc():
    return {
        "children": _frame(
            "child_id gender ethnicity date_of_birth postcode address_protected last_seen_date", [
                ("C1", "1", "WBRI", "2020-06-15", "AB1 2CD", False, "2025-12-22"),
                ("C2", "2", "NOBT", "2025-03-01", "AB2 9XY", True, None),
                ("C3", "2", "APKN", None, None, False, "2025-12-10"),
                ("C4", "1", "WBRI", "2009-12-31", "AB1 5EF", False, "2025-11-01"),
            ], dates="date_of_birth last_seen_date"),
        "plans": _frame("plan_id child_id start_date end_date latest_category", [
            ("P1", "C1", "2025-01-10", None, "NEG"),           # open, under 12 months so far
            ("P2", "C2", "2024-06-01", None, "PHY"),           # open, 12-24 months so far
            ("P3", "C3", "2025-12-01", None, "EMO"),           # open, unborn child
            ("P4", "C4", "2023-01-01", "2025-12-31", "NEG"),   # ended on the last day: not open; over 24 months
            ("P5", "C4", "2022-05-01", "2023-03-01", "NEG"),   # ended before the year
            ("P6", "C1", "2024-01-01", "2024-12-20", "PHY"),   # ended before the year
            ("P7", "C2", "2025-02-01", "2025-06-30", "SAB"),   # ended in the year, under 12 months
        ], dates="start_date end_date"),
        "s47_enquiries": _frame("s47_id child_id strategy_discussion_date start_date", [
            ("S1", "C4", "2025-02-10", "2025-02-10"),
            ("S2", "C4", "2025-11-03", "2025-10-05"),
            ("S3", "C3", "2025-12-05", "2025-12-20"),
            ("S4", "C1", "2024-12-31", "2024-12-31"),
        ], dates="strategy_discussion_date start_date"),
        "referrals": _frame("referral_id child_id referral_date decision_date decision", [
            ("R1", "C1", "2025-12-24", "2025-12-29", "ASSESS"),   # 1 working day only thanks to 25 and 26 Dec
            ("R2", "C2", "2025-12-01", "2025-12-03", "NFA"),      # 2 working days: late
            ("R3", "C3", "2025-12-15", None, None),              # not decided
            ("R4", "C4", "2025-11-28", "2025-12-01", "ASSESS"),   # received in November
            ("R5", "C4", "2025-09-01", "2025-09-02", "ASSESS"),
        ], dates="referral_date decision_date"),
        "assessments": _frame("assessment_id referral_id child_id start_date authorised_date", [
            ("A1", "R4", "C4", "2025-12-01", "2025-12-10"),   # 8 working days
            ("A2", "R5", "C4", "2025-09-03", "2025-12-05"),   # 69 working days: late
            ("A3", "R1", "C1", "2025-12-29", None),            # not authorised
        ], dates="start_date authorised_date"),
        "conferences": _frame("conference_id child_id s47_id conference_type conference_date", [
            ("K1", "C3", "S3", "ICPC", "2025-12-29"),   # 14 working days with the bank holidays, 16 without
            ("K2", "C4", "S2", "ICPC", "2025-12-02"),   # 21 working days: late
            ("K3", "C5", None, "ICPC", "2025-12-20"),   # no strategy discussion recorded
            ("K4", "C1", "S4", "ICPC", "2025-01-08"),
            ("K5", "C1", None, "RCPC", "2025-04-08"),   # on time, but not in December
            ("K6", "C1", None, "RCPC", "2025-12-10"),   # due 8 October (6 months): late
            ("K7", "C2", None, "ICPC", "2025-09-01"),
            ("K8", "C2", None, "RCPC", "2025-12-01"),   # due 1 December (3 months): on time
            ("K9", "C6", None, "RCPC", "2025-12-15"),   # no earlier conference
        ], dates="conference_date"),
    }


def test_working_days_skip_weekends_and_english_bank_holidays():
    assert working_days_between(date(2025, 12, 24), date(2025, 12, 29)) == 1    # Christmas and Boxing Day
    assert working_days_between(date(2025, 4, 17), date(2025, 4, 22)) == 1     # Good Friday, Easter Monday
    assert working_days_between(date(2025, 8, 22), date(2025, 8, 26)) == 1     # English (not Scottish) August holiday
    assert working_days_between(date(2025, 12, 1), date(2025, 12, 1)) == 0
    assert working_days_between(date(2025, 12, 3), date(2025, 12, 1)) == -2
    assert add_working_days(date(2025, 12, 24), 1) == date(2025, 12, 29)
    assert add_working_days(date(2025, 12, 27), 1) == date(2025, 12, 29)       # received on a Saturday
    assert add_working_days(date(2025, 12, 5), 15) == date(2025, 12, 30)      # 26 Dec without the holidays
    days = working_days_between(pd.Series(pd.to_datetime(["2025-12-24", None])),
                                pd.Series(pd.to_datetime(["2025-12-29", "2025-12-29"])))
    assert days[0] == 1 and pd.isna(days[1])


def test_timescales_config_is_checked(tmp_path):
    bad = tmp_path / "timescales.yaml"
    bad.write_text(config_path("timescales.yaml").read_text().replace("decision_working_days: 1 ",
                                                                      "decision_working_days: one "))
    with pytest.raises(ConfigError, match=r"timescales\.yaml:8:26: referrals\.decision_working_days: Input should be a "
                                          "valid integer"):
        Timescales.load(bad)


def test_children_on_plans_by_category_age_ethnicity_and_area(sc):
    by_category = plans_by_category_and_gender(sc, DECEMBER)
    assert by_category.to_dict("index") == {
        "Neglect": {"Male": 1, "Female": 0, "Total": 1},
        "Physical abuse": {"Male": 0, "Female": 1, "Total": 1},
        "Emotional abuse": {"Male": 0, "Female": 1, "Total": 1},
        "Total": {"Male": 1, "Female": 2, "Total": 3},
    }
    by_age = plans_by_age_and_gender(sc, DECEMBER)
    assert by_age.to_dict("index") == {
        "Unborn": {"Male": 0, "Female": 1, "Total": 1},
        "Under 1": {"Male": 0, "Female": 1, "Total": 1},
        "5-9": {"Male": 1, "Female": 0, "Total": 1},
        "Total": {"Male": 1, "Female": 2, "Total": 3},
    }
    assert plans_by_ethnicity(sc, DECEMBER)["Children"].to_dict() == {
        "White British": 1, "Pakistani": 1, "Information not yet obtained": 1, "Total": 3}
    assert plans_by_area(sc, DECEMBER)["Children"].to_dict() == {
        "AB1": 1, "Not recorded": 1, "Protected address (not shown)": 1, "Total": 3}


def test_plan_durations_and_section_47_enquiries_per_quarter(sc):
    assert plan_durations(sc, DECEMBER).to_dict("index") == {
        "Under 12 months": {"Plans ended in the last 12 months": 1, "Plans open at month end (so far)": 2},
        "12 to 24 months": {"Plans ended in the last 12 months": 0, "Plans open at month end (so far)": 1},
        "Over 24 months": {"Plans ended in the last 12 months": 1, "Plans open at month end (so far)": 0},
        "Total": {"Plans ended in the last 12 months": 2, "Plans open at month end (so far)": 3},
    }
    assert s47_by_quarter(sc, DECEMBER)["Section 47 enquiries started"].to_dict() == {
        "Jan-Mar 2025": 1, "Apr-Jun 2025": 0, "Jul-Sep 2025": 0, "Oct-Dec 2025": 2}
    partial = s47_by_quarter(sc, Month.parse("2025-11"))["Section 47 enquiries started"]
    assert partial.to_dict() == {"Jan-Mar 2025": 1, "Apr-Jun 2025": 0, "Jul-Sep 2025": 0,
                                 "Oct-Dec 2025 (to 30 Nov)": 1}


def test_timeliness_in_working_days(sc):
    table = timeliness(sc, DECEMBER, TIMESCALES)
    rows = {name.split(" (")[0]: {k: v for k, v in row.items() if v} for name, row in table.to_dict("index").items()}
    assert rows == {
        "Referral decisions within 1 working day": {"On time": 1, "Late": 1, "Not yet done": 1},
        "Assessments within 45 working days of referral": {"On time": 1, "Late": 1},
        "Initial conferences within 15 working days of the strategy discussion": {
            "On time": 1, "Late": 1, "No strategy discussion recorded": 1},
        "Review conferences on time": {"On time": 1, "Late": 1, "No earlier conference recorded": 1},
    }


def test_overdue_feedback_is_counted_by_referring_agency_and_notice():
    overdue = pd.DataFrame([("R1", "MASH-1", "police", "acknowledgement"), ("R1", "MASH-1", "police", "outcome"),
                            ("R2", "MASH-2", "health", "outcome"), ("R3", "MASH-3", "police", "outcome")],
                           columns=["referral_id", "child_id", "referrer_agency", "feedback"])
    assert feedback_overdue(overdue).to_dict("index") == {
        "health": {"Acknowledgement": 0, "Outcome": 1}, "police": {"Acknowledgement": 1, "Outcome": 2},
        "Total": {"Acknowledgement": 1, "Outcome": 3}}
    assert feedback_overdue(overdue.iloc[:0]).to_dict("index") == {"Total": {"Acknowledgement": 0, "Outcome": 0}}


def test_referrals_without_outcome_and_children_not_seen(sc):
    assert referrals_without_outcome(sc, DECEMBER)["Referrals"].to_dict() == {
        "Received in the month": 3, "No decision or outcome recorded": 1}
    assert children_not_seen(sc, DECEMBER, TIMESCALES, date(2025, 12, 31))["Children"].to_dict() == {
        "On a plan": 3, "Not seen within 10 working days": 1, "No visit recorded": 1}
