"""Writing nightly drops: each agency's files exactly as its contract says, sealed with a manifest, and the
ground truth that maps every person-level record to the child it is about."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from mash.contracts import Contract
from mash.landing import seal_drop

from .noise import cp1252_safe

PYTHON_ENCODINGS = {"utf-8": "utf-8", "windows-1252": "cp1252"}
GROUND_TRUTH_COLUMNS = ("agency", "contract_file", "record_id", "child_key")
PEOPLE_COLUMNS = ("child_key", "household", "name_origin", "heritage", "ethnicity", "kind")


def file_encoding(agency: str, contract: Contract) -> str:
    """The Python codec for an agency's files; the schools' system writes a byte-order mark."""
    return "utf-8-sig" if agency == "schools" else PYTHON_ENCODINGS[contract.encoding]


def write_drop(night_dir: Path, contract: Contract, extract_date: date, tables: dict[str, list]) -> dict[str, int]:
    """Write one agency's files for one night, then its manifest; return the rows written per contract file."""
    agency = contract.agency
    agency_dir = night_dir / agency
    agency_dir.mkdir(parents=True, exist_ok=True)
    encoding = file_encoding(agency, contract)
    paths, counts = {}, {}
    for spec in contract.files:
        rows = tables[spec.name]
        if encoding == "cp1252":
            rows = [[cp1252_safe(value) for value in row] for row in rows]
        path = agency_dir / f"{agency}-{extract_date:%Y%m%d}-{spec.name}.csv"
        with path.open("w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
            writer.writerow(spec.column_names)
            writer.writerows(rows)
        paths[spec.name] = path
        counts[spec.name] = len(rows)
    seal_drop(agency_dir, agency, extract_date, paths, encoding=contract.encoding)
    return counts


def write_ground_truth(path: Path, truth: dict[tuple[str, str, str], str]) -> None:
    _write_csv(path, GROUND_TRUTH_COLUMNS, ((*key, child_key) for key, child_key in truth.items()))


def write_people(path: Path, rows) -> None:
    """Who each person of the ground truth is, by group (child_key is the person's key, an adult's too)."""
    _write_csv(path, PEOPLE_COLUMNS, rows)


def _write_csv(path: Path, header, rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
