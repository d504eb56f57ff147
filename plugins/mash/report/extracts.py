"""How good each agency's data is, for the board: extracts on time, late or rejected, rows quarantined, NHS number
and UPN completeness and validity, duplicates, records matched to another agency (also by ethnic group: cohort
studies find that minority children's records link less often), ethnicity not obtained, trends.

Each function takes plain frames (the batch ledger, an agency's current person records, the matching's
``child_record``) and returns one table; tests/test_board_extracts.py checks them against hand-worked figures.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from stdnum.gb import nhs, upn

from mash.contracts import labels
from mash.link.records import FEEDS
from mash.report.figures import Month

# Where each agency's person identifiers are: (file, {column: identifier}).
IDENTIFIERS = {
    "health": ("persons", {"nhs_number": "NHS number"}),
    "police": ("persons", {"nhs_number": "NHS number"}),
    "schools": ("pupils", {"upn": "UPN"}),
    "social_care": ("children", {"nhs_number": "NHS number", "upn": "UPN"}),
}
ETHNICITY = {"schools": "pupils", "social_care": "children"}
VALID = {"NHS number": nhs.is_valid, "UPN": upn.is_valid}
NOT_OBTAINED = "NOBT"
# The DfE's major ethnic groups, by the first letter of the code; the other codes (Chinese, any other ethnic group,
# refused, not obtained) are groups of their own.
ETHNIC_GROUPS = {"W": "White", "M": "Mixed", "A": "Asian or Asian British", "B": "Black or Black British"}


def extract_punctuality(batches: pd.DataFrame, month: Month, agencies: list[str], on_time_days: int,
                        as_of: date) -> pd.DataFrame:
    """Per agency, the month's extracts (by extract date): on time, late, rejected, and nights with none.

    On time: received no later than ``on_time_days`` after the extract date and not rejected. Nights counted up to
    ``as_of`` (the report's date, at most the month's end)."""
    dates = pd.to_datetime(batches["extract_date"])
    mine = batches[month.contains(dates)].assign(extract_date=dates)
    received = pd.to_datetime(mine["received_at"], utc=True).dt.tz_convert("Europe/London").dt.tz_localize(None)
    due = mine["extract_date"] + pd.Timedelta(days=on_time_days + 1)      # before midnight at the end of the due day
    rejected = mine["state"] == "rejected"
    late = ~rejected & ((received >= due) | (mine["state"] != "loaded"))
    nights = (min(as_of, month.last) - month.first).days + 1
    rows = {}
    for agency in agencies:
        of = mine["agency"] == agency
        rows[agency] = {"On time": int((of & ~rejected & ~late).sum()), "Late": int((of & late).sum()),
                        "Rejected": int((of & rejected).sum()),
                        "Nights with no extract": nights - mine.loc[of, "extract_date"].nunique()}
    return pd.DataFrame.from_dict(rows, orient="index")


def quarantined(batches: pd.DataFrame, month: Month, agencies: list[str]) -> pd.DataFrame:
    """Per agency, the rows received in the month's extracts and those quarantined (with the share)."""
    mine = batches[month.contains(pd.to_datetime(batches["extract_date"]))]
    rows = {}
    for agency in agencies:
        of = mine[mine["agency"] == agency]
        rows_in, held = int(of["rows_in"].sum()), int(of["rows_quarantined"].sum())
        rows[agency] = {"Rows received": rows_in, "Rows quarantined": held,
                        "Quarantined %": round(100 * held / rows_in, 2) if rows_in else 0.0}
    return pd.DataFrame.from_dict(rows, orient="index")


def identifier_quality(persons: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency and identifier: records, share with the identifier recorded, share of those that are valid
    (check digit, python-stdnum), and records sharing a valid identifier with another record of the agency
    (duplicates)."""
    rows = []
    for agency, (_, columns) in IDENTIFIERS.items():
        if agency not in persons:
            continue
        frame = persons[agency]
        for column, identifier in columns.items():
            values = frame[column].fillna("").str.strip()
            recorded = values != ""
            valid = recorded & values.map(VALID[identifier])
            shared = values[valid].duplicated(keep=False)
            rows.append({"Agency": agency, "Identifier": identifier, "Records": len(frame),
                         "Recorded %": _percent(recorded.sum(), len(frame)),
                         "Valid % of recorded": _percent(valid.sum(), recorded.sum()),
                         "Duplicate records": int(shared.sum())})
    return pd.DataFrame(rows).set_index(["Agency", "Identifier"])


def matched_to_another_agency(child_records: pd.DataFrame, agencies: list[str]) -> pd.DataFrame:
    """Per agency, its current person records and the share whose child also has a record from another agency
    (the matching's latest run: ``child_record``, record ids ``<agency>:<local id>``)."""
    records = _shared(child_records)
    rows = {}
    for agency in agencies:
        of = records[records["agency"] == agency]
        rows[agency] = {"Person records": len(of), "Matched to another agency": int(of["shared"].sum()),
                        "Matched %": _percent(of["shared"].sum(), len(of))}
    return pd.DataFrame.from_dict(rows, orient="index")


def _shared(child_records: pd.DataFrame) -> pd.DataFrame:
    """``child_records`` with each record's agency and whether its child has a record from another agency."""
    records = child_records.assign(agency=child_records["record_id"].str.split(":", n=1).str[0])
    agencies_per_child = records.groupby("child_id")["agency"].nunique()
    return records.assign(shared=records["child_id"].map(agencies_per_child) > 1)


def ethnic_group(codes: pd.Series) -> pd.Series:
    """The DfE major ethnic group of each ethnicity code ("Not recorded" where empty)."""
    names = {code: label[0].upper() + label[1:] for code, label in labels("ethnicity").items()}
    codes = codes.fillna("").astype(str).str.strip()
    return codes.str[:1].map(ETHNIC_GROUPS).fillna(codes.map(names)).fillna("Not recorded")


def matched_by_ethnicity(child_records: pd.DataFrame, persons: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency recording ethnicity (schools, social care) and ethnic group (the record's own, :func:`ethnic_group`):
    its current person records and the share whose child also has a record from another agency (``child_record``;
    a record the matching has not placed counts as unmatched). Health and police extracts carry no ethnicity."""
    shared = _shared(child_records).drop_duplicates("record_id").set_index("record_id")["shared"]
    order = [*ETHNIC_GROUPS.values(), *(label[0].upper() + label[1:] for code, label in labels("ethnicity").items()
                                        if code[0] not in ETHNIC_GROUPS), "Not recorded"]
    rows = []
    for agency in ETHNICITY:
        if agency not in persons:
            continue
        frame = persons[agency]
        ids = agency + ":" + frame[FEEDS[agency].columns["record_id"]].astype(str)
        matched = ids.map(shared).fillna(False).astype(bool)
        groups = ethnic_group(frame["ethnicity"])
        for group in [g for g in order if (groups == g).any()]:
            of = groups == group
            rows.append({"Agency": agency, "Ethnic group": group, "Person records": int(of.sum()),
                         "Matched to another agency": int((of & matched).sum()),
                         "Matched %": _percent((of & matched).sum(), of.sum())})
    columns = ["Agency", "Ethnic group", "Person records", "Matched to another agency", "Matched %"]
    return pd.DataFrame(rows, columns=columns).set_index(["Agency", "Ethnic group"])


def ethnicity_not_obtained(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency recording ethnicity: records, and those with ethnicity not obtained (NOBT) or empty."""
    rows = {}
    for agency in ETHNICITY:
        if agency in frames:
            ethnicity = frames[agency]["ethnicity"]
            missing = ethnicity.isna() | (ethnicity == NOT_OBTAINED)
            rows[agency] = {"Records": len(ethnicity), "Not obtained": int(missing.sum()),
                            "Not obtained %": _percent(missing.sum(), len(ethnicity))}
    return pd.DataFrame.from_dict(rows, orient="index")


def trends(batches: pd.DataFrame, month: Month, agencies: list[str], on_time_days: int, months: int,
           as_of: date) -> pd.DataFrame:
    """Per month (the last ``months`` to ``month``) and agency: extracts on time as a share of nights, rejected,
    and rows quarantined as a share of rows received."""
    rows = []
    for k in range(months - 1, -1, -1):
        m = month.back(k)
        punctual = extract_punctuality(batches, m, agencies, on_time_days, as_of)
        held = quarantined(batches, m, agencies)
        nights = (min(as_of, m.last) - m.first).days + 1
        for agency in agencies:
            rows.append({"Month": f"{m.first:%Y-%m}", "Agency": agency,
                         "On time %": _percent(punctual.loc[agency, "On time"], max(nights, 0)),
                         "Rejected": int(punctual.loc[agency, "Rejected"]),
                         "Quarantined %": float(held.loc[agency, "Quarantined %"])})
    return pd.DataFrame(rows)


IDENTIFIER_CHECKS = {"expect_column_values_to_be_valid_nhs_number": "Invalid NHS numbers per 1,000 records",
                     "expect_column_values_to_be_valid_upn": "Invalid UPNs per 1,000 records"}


def identifier_trend(checks: pd.DataFrame, month: Month, months: int) -> pd.DataFrame:
    """Per month (the last ``months`` to ``month``) and agency: identifiers failing their check digit per 1,000
    records checked, from the results stored per batch (``quality_check`` of the NHS number and UPN expectations,
    with each batch's agency and extract date), over the month's validated batches."""
    checks = checks[checks["expectation"].isin(list(IDENTIFIER_CHECKS))].assign(
        Month=pd.to_datetime(checks["extract_date"]).dt.strftime("%Y-%m"),
        measure=checks["expectation"].map(IDENTIFIER_CHECKS))
    wanted = [f"{month.back(k).first:%Y-%m}" for k in range(months - 1, -1, -1)]
    totals = checks[checks["Month"].isin(wanted)].groupby(["Month", "agency", "measure"])[
        ["unexpected_count", "element_count"]].sum()
    rates = (1000 * totals["unexpected_count"] / totals["element_count"].where(totals["element_count"] > 0)).round(1)
    table = rates.unstack("measure").reindex(columns=list(IDENTIFIER_CHECKS.values()))
    return table.rename_axis(index=["Month", "Agency"], columns=None)


def _percent(part, whole) -> float:
    return round(100 * float(part) / float(whole), 1) if whole else 0.0
