"""Person records for the matcher: every agency's person-level file standardised into one schema.

Each agency describes the same children differently: health and social care code sex as numbers, police write
dates as dd/mm/yyyy and all forenames in one field, social care gives an unborn child an expected date of birth
in a column of its own. :data:`FEEDS` says, as data, how each agency's person-level file maps onto
:data:`PERSON_COLUMNS`; both entry points use it:

    records_from_night(Path("var/synth/night-01"))   # a generated or delivered night folder
    records_from_store(engine)                        # the current loaded batch of every agency in the store

Values stay the agency's own (trimmed): names are not normalised and NHS numbers are not validated here, the
matcher does both. Only the form changes: dates become YYYY-MM-DD text (empty where missing or not a date), sex
becomes M, F or U, and ``record_id`` is ``<agency>:<local id>`` (the local id is ground_truth.csv's record_id).
Two deliberate exceptions: a social care address marked ``address_protected`` (a refuge, a confidential or
adoptive placement) is never shared, so its postcode and address are left empty; and schools' ``preferred_name``
is kept as an extra column (:data:`EXTRA_COLUMNS`), because a child gives police or a nurse the name they go by,
which is often not a nickname any name table knows. ``la_child_id`` (also extra) is the local authority's child
identifier where a feed carries it: social care's own records and the consent register, which is keyed by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from mash.contracts import Contract, code_lists, contracts
from mash.landing import codec
from mash.store.current import current_batches, current_rows

PERSON_COLUMNS = ["record_id", "source", "nhs_number", "upn", "given_name", "middle_names", "family_name",
                  "former_family_name", "date_of_birth", "sex", "postcode", "address"]
EXTRA_COLUMNS = ["preferred_name", "la_child_id"]
COLUMNS = PERSON_COLUMNS + EXTRA_COLUMNS
SEX_BY_LABEL = {"male": "M", "female": "F"}          # any other code (not known, not specified) is U
UNKNOWN_SEX = "U"


@dataclass(frozen=True)
class Feed:
    """How one agency's person-level file maps onto the person schema."""
    contract_file: str
    columns: dict[str, str]                  # person column -> the file's column; absent person columns are empty
    forenames: str | None = None             # all forenames in one column: the first is given_name, the rest middle
    dob_fallback: str | None = None          # the date used where date_of_birth is empty (an unborn child)
    protected: str | None = None             # a Y/N column: where Y the postcode and address are withheld

    def source_columns(self) -> list[str]:
        extra = [self.forenames, self.dob_fallback, self.protected]
        return list(dict.fromkeys([*self.columns.values(), *(c for c in extra if c)]))


_ADDRESS = dict(postcode="postcode", address="address")
FEEDS: dict[str, Feed] = {
    "health": Feed("persons", dict(record_id="patient_id", nhs_number="nhs_number", given_name="given_name",
                                   family_name="family_name", date_of_birth="date_of_birth", sex="gender",
                                   **_ADDRESS)),
    "police": Feed("persons", dict(record_id="person_id", nhs_number="nhs_number", family_name="surname",
                                   date_of_birth="date_of_birth", sex="sex", **_ADDRESS),
                   forenames="forenames"),
    "schools": Feed("pupils", dict(record_id="upn", upn="upn", given_name="legal_given_name",
                                   middle_names="middle_names", family_name="legal_family_name",
                                   preferred_name="preferred_name", date_of_birth="date_of_birth", sex="sex",
                                   **_ADDRESS)),
    "social_care": Feed("children", dict(record_id="child_id", la_child_id="child_id", nhs_number="nhs_number",
                                         upn="upn", given_name="given_name", middle_names="middle_names",
                                         family_name="family_name", former_family_name="former_family_name",
                                         date_of_birth="date_of_birth", sex="gender", **_ADDRESS),
                        dob_fallback="expected_date_of_birth", protected="address_protected"),
    "consent": Feed("consents", dict(record_id="consent_id", la_child_id="child_id", nhs_number="nhs_number",
                                     given_name="given_name", family_name="family_name",
                                     date_of_birth="date_of_birth")),
}


def _column_types(contract: Contract, feed: Feed) -> dict[str, str]:
    spec = contract.file(feed.contract_file)
    return {c.name: c.type for c in spec.columns if c.name in feed.source_columns()}


def _sex_codes(contract: Contract, feed: Feed) -> dict[str, str]:
    if "sex" not in feed.columns:
        return {}
    column = next(c for c in contract.file(feed.contract_file).columns if c.name == feed.columns["sex"])
    return {code: SEX_BY_LABEL.get(entry.label, UNKNOWN_SEX) for code, entry in code_lists()[column.codes].items()}


def standardise(agency: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Map one agency's person-level rows onto :data:`COLUMNS`.

    ``frame`` holds the file's columns as text: empty for a missing value, dates as YYYY-MM-DD, flags as Y/N.
    """
    feed = FEEDS[agency]
    contract = contracts()[agency]
    n = len(frame)
    empty = pd.Series([""] * n, index=frame.index, dtype=object)
    out = {name: frame[feed.columns[name]] if name in feed.columns else empty for name in COLUMNS}
    out["record_id"] = f"{agency}:" + frame[feed.columns["record_id"]]
    out["source"] = pd.Series([agency] * n, index=frame.index, dtype=object)
    if feed.forenames:
        parts = frame[feed.forenames].str.split(n=1, expand=True).reindex(columns=[0, 1])
        out["given_name"] = parts[0].fillna("")
        out["middle_names"] = parts[1].fillna("")
    if feed.dob_fallback:
        dob = out["date_of_birth"]
        out["date_of_birth"] = dob.where(dob != "", frame[feed.dob_fallback])
    if feed.protected:
        withheld = frame[feed.protected] == "Y"
        out["postcode"] = out["postcode"].mask(withheld, "")
        out["address"] = out["address"].mask(withheld, "")
    sex_codes = _sex_codes(contract, feed)
    out["sex"] = out["sex"].map(sex_codes).fillna(UNKNOWN_SEX) if sex_codes else empty.replace("", UNKNOWN_SEX)
    return pd.DataFrame(out, columns=COLUMNS).reset_index(drop=True).astype(str)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS).astype(str)
    return pd.concat(frames, ignore_index=True)


def _iso_dates(values: pd.Series, fmt: str | None = None) -> pd.Series:
    """Dates (text in ``fmt``, or date objects) as YYYY-MM-DD text; empty where missing or not a date."""
    parsed = pd.to_datetime(values, format=fmt, errors="coerce")
    return parsed.dt.strftime("%Y-%m-%d").fillna("").astype(object)


def night_file(night_dir: Path, agency: str, contract_file: str) -> Path | None:
    """The agency's file for ``contract_file`` in a night folder (the latest extract date if several)."""
    found = sorted((Path(night_dir) / agency).glob(f"{agency}-*-{contract_file}.csv"))
    return found[-1] if found else None


def records_from_night(night_dir: Path) -> pd.DataFrame:
    """Person records from a night folder laid out as ``<agency>/<agency>-YYYYMMDD-<file>.csv``.

    Agencies without a person-level file in the folder are skipped.
    """
    frames = []
    for agency, contract in contracts().items():
        feed = FEEDS[agency]
        path = night_file(night_dir, agency, feed.contract_file)
        if path is None:
            continue
        types = _column_types(contract, feed)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=codec(contract.encoding),
                            usecols=list(types))
        if frame.empty:
            continue
        frame = frame.apply(lambda s: s.str.strip())
        for name, kind in types.items():
            if kind == "date":
                frame[name] = _iso_dates(frame[name], contract.date_format)
        frames.append(standardise(agency, frame))
    return _concat(frames)


def _store_text(values: pd.Series, kind: str) -> pd.Series:
    """A feed table column as the text :func:`standardise` takes."""
    if kind == "date":
        return _iso_dates(values)
    if kind == "boolean":
        return values.map({True: "Y", False: "N", 1: "Y", 0: "N"}).fillna("").astype(object)
    return values.where(values.notna(), "").astype(object)          # ingestion stores values trimmed


def records_from_store(engine: Engine) -> pd.DataFrame:
    """Person records of each agency's current batch, read from the feed tables of the hub's store."""
    current = current_batches(engine)
    frames = []
    with engine.connect() as conn:
        for agency, contract in contracts().items():
            if agency not in current:
                continue
            feed = FEEDS[agency]
            types = _column_types(contract, feed)
            rows = current_rows(conn, current[agency], agency, feed.contract_file, list(types))
            if rows.empty:
                continue
            frame = pd.DataFrame({name: _store_text(rows[name], kind) for name, kind in types.items()})
            frames.append(standardise(agency, frame))
    return _concat(frames)
