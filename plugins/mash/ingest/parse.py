"""Lossless parsing of one extract file against its contract: every record is typed and loaded, or quarantined.

A record is quarantined with its row number (the header is row 1, as a spreadsheet counts) and one entry per
problem: wrong number of fields, undecodable bytes, a required value missing, a bad date, datetime, integer or
Y/N flag, or a code outside its code list. Problems describe the column and the rule broken, never the value.
A header that does not match the contract rejects the whole file.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mash.contracts import Contract, FileSpec
from mash.landing import CHUNK, codec

CHUNK_ROWS = 100_000
FIRST_DATA_ROW = 2
SURROGATES = re.compile("[\udc80-\udcff]")
FORMAT_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "MM", "%S": "SS"}
WHOLE_ROW = "*"
INTEGER = r"[+-]?\d{1,18}"                # fits the store's 64-bit integers; no exponents or decimals


class HeaderError(ValueError):
    """The file's header does not match its contract; the message names the file and the column."""


@dataclass(frozen=True)
class Problem:
    row_number: int
    column: str
    reason: str
    detail: str


@dataclass
class ParsedChunk:
    columns: list[str]                      # row_number, then the contract's columns
    rows: list[tuple]                       # the loaded records, typed; None for an empty value
    problems: list[Problem] = field(default_factory=list)
    rows_in: int = 0
    rows_quarantined: int = 0


def human_format(fmt: str) -> str:
    for directive, word in FORMAT_WORDS.items():
        fmt = fmt.replace(directive, word)
    return fmt


def decodes_cleanly(path: Path, encoding: str) -> bool:
    """True when every byte of the file decodes, so no field can hold an undecodable byte."""
    decoder = codecs.getincrementaldecoder(codec(encoding))()
    try:
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_header(header: list[str], spec: FileSpec, file_name: str) -> list[str]:
    """The header's column names, or HeaderError.

    Messages quote only the contract's own column names; a header cell that is not one of them is named by its
    position, because a file that lost its header has a child's details in its first line.
    """
    header = [h.strip() for h in header]
    expected = spec.column_names
    if not set(header) & set(expected):
        raise HeaderError(f"{file_name}: the first line holds none of the {spec.name} contract's column names "
                          f"(is the header row missing?)")
    for position, name in enumerate(header, start=1):
        if name in expected and header.index(name) != position - 1:
            raise HeaderError(f"{file_name}: column {name!r} appears more than once in the header")
    missing = [c for c in expected if c not in header]
    unexpected = [position for position, h in enumerate(header, start=1) if h not in expected]
    if missing and unexpected:
        raise HeaderError(f"{file_name}: column {missing[0]!r} is missing and header column {unexpected[0]} is not "
                          f"in the {spec.name} contract (renamed?)")
    if missing:
        raise HeaderError(f"{file_name}: column {missing[0]!r} is missing")
    if unexpected:
        raise HeaderError(f"{file_name}: header column {unexpected[0]} is not in the {spec.name} contract")
    return header


def parse_file(path: Path, spec: FileSpec, contract: Contract, encoding: str,
               chunk_rows: int = CHUNK_ROWS) -> Iterator[ParsedChunk]:
    """Yield the file's records in typed chunks; raise HeaderError before the first chunk if the header is wrong."""
    clean = decodes_cleanly(path, encoding)
    with path.open(encoding=codec(encoding), errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        header = next((record for record in reader if record), None)      # blank lines are not records
        if header is None:
            raise HeaderError(f"{path.name}: the file is empty (no header row)")
        if not clean and SURROGATES.search("".join(header)):
            raise HeaderError(f"{path.name}: the header holds bytes that are not valid {encoding}")
        header = check_header(header, spec, path.name)
        width = len(header)
        rows, numbers, problems = [], [], []
        row_number = FIRST_DATA_ROW - 1
        for record in reader:
            if not record:
                continue
            row_number += 1
            if len(record) != width:
                problems.append(Problem(row_number, WHOLE_ROW, "wrong_field_count",
                                        f"expected {width} fields, found {len(record)}"))
            else:
                rows.append(record)
                numbers.append(row_number)
            if len(rows) + len(problems) >= chunk_rows:
                yield _typed_chunk(rows, numbers, problems, header, spec, contract, encoding, clean)
                rows, numbers, problems = [], [], []
        if rows or problems:
            yield _typed_chunk(rows, numbers, problems, header, spec, contract, encoding, clean)


def _typed_chunk(rows, numbers, problems, header, spec, contract, encoding, clean) -> ParsedChunk:
    columns = ["row_number", *spec.column_names]
    if not rows:
        return ParsedChunk(columns, [], list(problems), rows_in=len(problems), rows_quarantined=len(problems))
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    row_numbers = np.asarray(numbers, dtype=np.int64)
    bad = np.zeros(len(raw), dtype=bool)
    typed = {"row_number": row_numbers}
    found = list(problems)
    for col in spec.columns:
        values = raw[col.name].str.strip()
        empty = (values == "").to_numpy()
        checks = []
        if not clean:
            checks.append((values.str.contains(SURROGATES).to_numpy(dtype=bool), "undecodable_bytes",
                           f"holds bytes that are not valid {encoding}"))
        if col.required:
            checks.append((empty, "missing_required", "a required value is empty"))
        converted, invalid, detail, reason = _convert(values, col, contract)
        if invalid is not None:
            checks.append((invalid & ~empty, reason, detail))
        column_bad = np.zeros(len(raw), dtype=bool)
        for mask, reason_code, text in checks:      # the first rule a value breaks is the one reported
            hits = np.flatnonzero(mask & ~column_bad)
            found.extend(Problem(int(row_numbers[i]), col.name, reason_code, text) for i in hits)
            column_bad |= mask
        bad |= column_bad
        typed[col.name] = np.where(empty, None, converted)
    keep = ~bad
    loaded = list(zip(*(column[keep].tolist() for column in typed.values())))
    return ParsedChunk(columns, loaded, found, rows_in=len(raw) + len(problems),
                       rows_quarantined=int(bad.sum()) + len(problems))


def _convert(values: pd.Series, col, contract: Contract):
    """The column's typed values, a mask of values that break the type, the problem's detail and reason."""
    kind = col.type
    if kind == "date" or kind == "datetime":
        fmt = contract.date_format if kind == "date" else contract.datetime_format
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        invalid = parsed.isna().to_numpy()
        stamps = parsed.astype(object).to_numpy()
        out = np.array([None if bad else (t.date() if kind == "date" else t.to_pydatetime())
                        for t, bad in zip(stamps, invalid)], dtype=object)
        return out, invalid, f"not a {kind} in the form {human_format(fmt)}", f"bad_{kind}"
    if kind == "integer":
        invalid = ~values.str.fullmatch(INTEGER).fillna(False).to_numpy(dtype=bool)
        out = np.array([None if bad else int(v) for v, bad in zip(values.tolist(), invalid)], dtype=object)
        return out, invalid, "not a whole number (at most 18 digits)", "bad_integer"
    if kind == "boolean":
        out = values.map({"Y": True, "N": False})
        return out.to_numpy(dtype=object), out.isna().to_numpy(), "not Y or N", "bad_boolean"
    if kind == "code":
        codes = contract.code_lists[col.codes]
        return values.to_numpy(dtype=object), (~values.isin(codes)).to_numpy(), \
            f"not a code in the {col.codes} list", "unknown_code"
    if kind == "codes":
        codes = contract.code_lists[col.codes]
        invalid = values.map(lambda v: not all(part.strip() in codes for part in v.split(";")))
        return values.to_numpy(dtype=object), invalid.to_numpy(dtype=bool), \
            f"holds a code outside the {col.codes} list", "unknown_code"
    return values.to_numpy(dtype=object), None, "", ""
