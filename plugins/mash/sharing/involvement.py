"""Who's involved: for each child, the agencies that work with them, with the named practitioner and how to reach
them, and the child's consolidated identity as the hub knows it.

Practitioners come from each agency's most recent record of the child: the allocated social worker, the current
school's designated safeguarding lead, the police officer of the latest incident, and the practitioner of the latest
health contact that is not with a sensitive service (which would disclose the service).
"""

from __future__ import annotations

import pandas as pd
from stdnum.gb import nhs

from mash.contracts import sensitive_codes
from mash.link.records import FEEDS, records_from_store
from mash.sharing.tonight import AGENCIES, Tonight

INVOLVEMENT_COLUMNS = ["child_id", "agency", "organisation", "practitioner_name", "practitioner_role",
                       "practitioner_email", "practitioner_phone", "last_contact"]
IDENTITY_COLUMNS = ["child_id", "agencies", "given_name", "family_name", "date_of_birth", "sex", "nhs_number", "upn",
                    "postcode", "address", "address_protected"]
PREFERENCE = {"social_care": 0, "health": 1, "schools": 2, "police": 3}   # whose identity details lead


def _latest(frame: pd.DataFrame, date_column: str) -> pd.DataFrame:
    frame = frame[frame[date_column].notna()].sort_values(["child_id", date_column], kind="stable")
    return frame.drop_duplicates("child_id", keep="last")


LOCAL = ("health", "schools")          # whose organisation and practitioner say where a child lives (GP, school)


def involvement(tonight: Tonight, children: set[str], protected: set[str] = frozenset()) -> pd.DataFrame:
    """One row per child and agency (columns :data:`INVOLVEMENT_COLUMNS`). For a child whose address is protected
    (``protected``), the GP practice, the school and their practitioners are left out: they would point to where
    the child lives; the row still says the agency is involved."""
    events = tonight.rows("health", "events", ["event_date", "event_type", "practitioner_name", "practitioner_role",
                                               "practitioner_email", "practitioner_phone"])
    sensitive = sensitive_codes("health_event_type")
    # A sexual health nurse or CAMHS practitioner named as "involved" would tell the recipient of a sensitive
    # service: the named health practitioner comes from the latest contact that is not one.
    health = _latest(events[~events["event_type"].isin(list(sensitive))], "event_date")
    gp = tonight.rows("health", "persons", ["gp_practice_code"]).drop_duplicates("child_id", keep="last")
    health = health.merge(gp, on="child_id", how="left")
    health["organisation"] = _prefixed(health["gp_practice_code"], "GP practice ")
    police = _latest(tonight.rows("police", "incidents", ["occurred_at", "officer_name", "officer_email",
                                                         "officer_phone"]), "occurred_at")
    police = police.rename(columns={"officer_name": "practitioner_name", "officer_email": "practitioner_email",
                                    "officer_phone": "practitioner_phone", "occurred_at": "last_contact"})
    police["practitioner_role"], police["organisation"] = "Police officer", "Police"
    enrolments = tonight.rows("schools", "enrolments", ["school_name", "entry_date", "leaving_date", "dsl_name",
                                                       "dsl_email", "dsl_phone"])
    schools = _latest(enrolments[enrolments["leaving_date"].isna()], "entry_date").rename(columns={
        "school_name": "organisation", "dsl_name": "practitioner_name", "dsl_email": "practitioner_email",
        "dsl_phone": "practitioner_phone"})
    schools["practitioner_role"], schools["last_contact"] = "Designated safeguarding lead", None
    social = tonight.rows("social_care", "children", ["allocated_worker", "worker_email", "worker_phone"])
    social = social.drop_duplicates("child_id", keep="last").rename(columns={
        "allocated_worker": "practitioner_name", "worker_email": "practitioner_email",
        "worker_phone": "practitioner_phone"})
    social["practitioner_role"], social["organisation"], social["last_contact"] = (
        "Allocated social worker", "Children's social care", None)
    frames = [health.rename(columns={"event_date": "last_contact"}).assign(agency="health"),
              police.assign(agency="police"), schools.assign(agency="schools"), social.assign(agency="social_care")]
    found = pd.concat([f.reindex(columns=INVOLVEMENT_COLUMNS) for f in frames if len(f)], ignore_index=True) \
        if any(len(f) for f in frames) else pd.DataFrame(columns=INVOLVEMENT_COLUMNS)
    found["last_contact"] = found["last_contact"].map(lambda v: v.date() if hasattr(v, "hour") else v)
    found = found[found["child_id"].isin(children)].copy()
    hidden = found["child_id"].isin(protected) & found["agency"].isin(LOCAL)
    found.loc[hidden, ["organisation", "practitioner_name", "practitioner_email", "practitioner_phone"]] = None
    return found.sort_values(["child_id", "agency"]).reset_index(drop=True)


def _prefixed(values: pd.Series, prefix: str) -> pd.Series:
    return values.map(lambda v: f"{prefix}{v}" if isinstance(v, str) and v else None)


def agencies_by_child(tonight: Tonight) -> dict[str, list[str]]:
    """Hub child id -> the agencies with a current person record of the child."""
    found: dict[str, set[str]] = {}
    for agency in AGENCIES:
        for child_id in tonight.rows(agency, FEEDS[agency].contract_file, [])["child_id"]:
            found.setdefault(child_id, set()).add(agency)
    return {child_id: sorted(agencies) for child_id, agencies in found.items()}


def identities(tonight: Tonight, agencies: dict[str, list[str]]) -> pd.DataFrame:
    """The consolidated identity of each child in ``agencies`` (columns :data:`IDENTITY_COLUMNS`): each detail from
    the most authoritative agency that records it; a valid NHS number only. ``address_protected`` is true where social
    care marks the child's address protected: then no agency's address for the child is used."""
    records = records_from_store(tonight.engine)
    records["child_id"] = records["record_id"].map(tonight.child_of)
    records = records[records["child_id"].isin(agencies) & records["source"].isin(PREFERENCE)].copy()
    records["rank"] = records["source"].map(PREFERENCE)
    records = records.sort_values(["child_id", "rank", "record_id"], kind="stable")
    records["nhs_number"] = records["nhs_number"].map(lambda v: v if v and nhs.is_valid(v) else "")
    records["sex"] = records["sex"].replace("U", "")
    protected = tonight.rows("social_care", "children", ["address_protected"])
    protected = set(protected.loc[protected["address_protected"].map(lambda v: v is True), "child_id"])

    def first(column: str, *others: str) -> pd.DataFrame:
        """Per child, ``column`` (and ``others``, from the same record) from the first record that has it."""
        present = records[records[column] != ""]
        return present.drop_duplicates("child_id").set_index("child_id")[[column, *others]]
    found = pd.DataFrame({"child_id": sorted(agencies)}).set_index("child_id", drop=False)
    for column in ("given_name", "family_name", "date_of_birth", "sex", "nhs_number", "upn"):
        found[column] = first(column)[column]
    home = first("postcode", "address")                   # postcode and address from one record, never mixed
    found["postcode"], found["address"] = home["postcode"], home["address"].replace("", None)
    found["agencies"] = found["child_id"].map(lambda c: ";".join(agencies[c]))
    found["address_protected"] = found["child_id"].isin(protected)
    found.loc[found["address_protected"], ["postcode", "address"]] = None
    found["date_of_birth"] = pd.to_datetime(found["date_of_birth"], errors="coerce").dt.date
    return found.reset_index(drop=True)[IDENTITY_COLUMNS].astype(object).where(lambda f: f.notna(), None)
