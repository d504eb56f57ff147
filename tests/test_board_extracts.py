"""The board report's data-quality figures against figures worked out by hand on a small ledger and person files."""

from __future__ import annotations

from datetime import date

import pandas as pd

from mash.report.extracts import (ethnicity_not_obtained, extract_punctuality, identifier_quality, identifier_trend,
                                  matched_to_another_agency, quarantined, trends)
from mash.report.figures import Month

NOVEMBER = Month.parse("2026-11")
AGENCIES = ["health", "police"]


def _ledger() -> pd.DataFrame:
    rows = [  # agency, extract date, received (UTC), state, rows in, quarantined
        ("health", "2026-11-02", "2026-11-03 01:30", "loaded", 1000, 10),     # on time (by the end of the next day)
        ("health", "2026-11-03", "2026-11-04 23:30", "loaded", 1000, 0),      # 23:30 UTC is 23:30 in London: on time
        ("health", "2026-11-04", "2026-11-06 00:30", "loaded", 1000, 30),     # late
        ("health", "2026-11-05", "2026-11-06 01:30", "rejected", 1000, 0),    # rejected
        ("police", "2026-11-02", "2026-11-03 01:30", "waiting", 0, 0),        # incomplete: late
        ("police", "2026-10-31", "2026-11-01 01:30", "loaded", 500, 5),       # October's
    ]
    return pd.DataFrame(rows, columns=["agency", "extract_date", "received_at", "state", "rows_in",
                                       "rows_quarantined"]).assign(
        extract_date=lambda f: pd.to_datetime(f["extract_date"]).dt.date,
        received_at=lambda f: pd.to_datetime(f["received_at"]).dt.tz_localize("UTC"))


def test_extracts_on_time_late_rejected_and_missing_nights():
    table = extract_punctuality(_ledger(), NOVEMBER, AGENCIES, on_time_days=1, as_of=date(2026, 11, 10))
    assert table.to_dict("index") == {
        "health": {"On time": 2, "Late": 1, "Rejected": 1, "Nights with no extract": 6},
        "police": {"On time": 0, "Late": 1, "Rejected": 0, "Nights with no extract": 9},
    }


def test_rows_quarantined_in_the_months_extracts():
    assert quarantined(_ledger(), NOVEMBER, AGENCIES).to_dict("index") == {
        "health": {"Rows received": 4000, "Rows quarantined": 40, "Quarantined %": 1.0},
        "police": {"Rows received": 0, "Rows quarantined": 0, "Quarantined %": 0.0},
    }
    trend = trends(_ledger(), NOVEMBER, AGENCIES, 1, 2, as_of=date(2026, 11, 10)).set_index(["Month", "Agency"])
    assert trend.loc[("2026-10", "police")].to_dict() == {"On time %": 3.2, "Rejected": 0, "Quarantined %": 1.0}
    assert trend.loc[("2026-11", "health")].to_dict() == {"On time %": 20.0, "Rejected": 1, "Quarantined %": 1.0}


def test_identifier_completeness_validity_and_duplicates():
    persons = {
        "health": pd.DataFrame({"nhs_number": ["9434765919", "9434765919", "9434765918", None, " ", "4010232137"]}),
        "schools": pd.DataFrame({"upn": ["B801200005001", "A801200301001"]}),
    }
    table = identifier_quality(persons)
    assert table.loc[("health", "NHS number")].to_dict() == {
        "Records": 6, "Recorded %": 66.7, "Valid % of recorded": 75.0, "Duplicate records": 2}
    assert table.loc[("schools", "UPN")].to_dict() == {
        "Records": 2, "Recorded %": 100.0, "Valid % of recorded": 50.0, "Duplicate records": 0}


def test_matched_to_another_agency_and_ethnicity_not_obtained():
    links = pd.DataFrame({"record_id": ["health:1", "police:7", "health:2", "health:3", "police:8"],
                          "child_id": ["MASH-1", "MASH-1", "MASH-2", "MASH-2", "MASH-3"]})
    assert matched_to_another_agency(links, AGENCIES).to_dict("index") == {
        "health": {"Person records": 3, "Matched to another agency": 1, "Matched %": 33.3},
        "police": {"Person records": 2, "Matched to another agency": 1, "Matched %": 50.0},
    }
    frames = {"social_care": pd.DataFrame({"ethnicity": ["WBRI", "NOBT", "NOBT", "REFU"]}),
              "schools": pd.DataFrame({"ethnicity": ["APKN", None]})}
    assert ethnicity_not_obtained(frames).to_dict("index") == {
        "schools": {"Records": 2, "Not obtained": 1, "Not obtained %": 50.0},
        "social_care": {"Records": 4, "Not obtained": 2, "Not obtained %": 50.0},
    }


def test_identifier_trend_from_the_results_stored_per_batch():
    checks = pd.DataFrame([  # agency, extract date, expectation, unexpected, rows checked
        ("health", "2026-10-30", "expect_column_values_to_be_valid_nhs_number", 4, 1000),
        ("health", "2026-11-02", "expect_column_values_to_be_valid_nhs_number", 3, 1000),
        ("health", "2026-11-03", "expect_column_values_to_be_valid_nhs_number", 1, 1000),
        ("health", "2026-11-03", "expect_column_values_to_not_be_null", 9, 1000),          # not an identifier check
        ("schools", "2026-11-02", "expect_column_values_to_be_valid_upn", 1, 400),
        ("schools", "2026-11-02", "expect_column_values_to_be_valid_upn", 0, 400),          # former_upn
        ("health", "2026-08-01", "expect_column_values_to_be_valid_nhs_number", 50, 1000),  # outside the months
    ], columns=["agency", "extract_date", "expectation", "unexpected_count", "element_count"])
    table = identifier_trend(checks, NOVEMBER, 2)
    assert table.loc[("2026-10", "health"), "Invalid NHS numbers per 1,000 records"] == 4.0
    assert table.loc[("2026-11", "health"), "Invalid NHS numbers per 1,000 records"] == 2.0
    assert table.loc[("2026-11", "schools"), "Invalid UPNs per 1,000 records"] == 1.2
    assert sorted(table.index) == [("2026-10", "health"), ("2026-11", "health"), ("2026-11", "schools")]
