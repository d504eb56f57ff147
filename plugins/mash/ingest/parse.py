"""Lossless parsing of one extract file against its contract: every record is typed and loaded, or quarantined.

A record is quarantined with its row number (the header is row 1, as a spreadsheet counts) and one entry per
problem: a quote left open (named at the row where it opened; the records after it are read as the records they
are), wrong number of fields, undecodable bytes, a required value missing, a value longer than its contract's
``max_length``, mojibake (UTF-8 text read as windows-1252), a bad date, datetime, integer or Y/N flag, or a code
outside its code list. Values are trimmed of white space and invisible characters first, so a value of only a
zero-width space or byte order mark is empty. Problems describe the column and the rule broken, never the value.
A header that does not match the contract rejects the whole file.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from mash.contracts import TRUE_VALUES, Contract, FileSpec
from mash.landing import CHUNK, codec
from mash.records import Records

CHUNK_ROWS = 100_000
FIRST_DATA_ROW = 2
UNREADABLE = re.compile("[\x00\udc80-\udcff]")    # a NUL, or a byte the encoding could not decode
FORMAT_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "MM", "%S": "SS"}
WHOLE_ROW = "*"
# Trimmed from both ends of every value: white space, and the invisible characters (zero-width space and joiners,
# word joiner, byte order mark) that would let a required value hold nothing visible and count as present.
BLANK = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
MOJIBAKE = ("looks like UTF-8 text read as windows-1252 (such as 'Ã©' for 'é'): export the file in the encoding its "
            "contract declares")
OTHER_DELIMITERS = (";", "\t", "|")
INTEGER = re.compile(r"[+-]?\d{1,18}")    # fits the store's 64-bit integers; no exponents or decimals
UNTERMINATED = "a quote opened in this row and column is not closed before the next record (the row is cut here)"


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
    """One chunk of a file: the loaded records column by column, ready for the store, and the problems found.

    Values are None where empty, dates and date-times are ISO text (``2026-11-22``, ``2026-11-22 09:05:00``),
    integers are ints and Y/N flags are bools: what both database drivers take in bulk.
    """
    columns: list[str]                      # row_number, then the contract's columns
    values: list[list]                      # one list per column, all the same length
    problems: list[Problem] = field(default_factory=list)
    rows_in: int = 0
    rows_quarantined: int = 0

    @property
    def rows_loaded(self) -> int:
        return len(self.values[0])


def _trimmed(value: str) -> str:
    return value.strip(BLANK)


def human_format(fmt: str) -> str:
    for directive, word in FORMAT_WORDS.items():
        fmt = fmt.replace(directive, word)
    return fmt


def decodes_cleanly(path: Path, encoding: str) -> bool:
    """True when every byte of the file decodes and none is NUL, so no field can hold an unreadable byte."""
    decoder = codecs.getincrementaldecoder(codec(encoding))()
    try:
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                if b"\x00" in block:
                    return False
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_header(header: list[str], spec: FileSpec, file_name: str) -> list[str]:
    """The header's column names, or HeaderError.

    Names are taken exactly: one padded with spaces or cased differently is refused with a message saying so, as is
    a file separated by semicolons, tabs or bars. Messages quote only the contract's own column names (or a cell
    that is one but for case or spaces); any other header cell is named by its position, because a file that lost
    its header has a child's details in its first line.
    """
    expected = spec.column_names
    folded = {name.casefold(): name for name in expected}
    if not {h.strip().casefold() for h in header} & set(folded):
        if delimiter := _other_delimiter(header, expected):
            raise HeaderError(f"{file_name}: the file uses {delimiter!r} between fields, not ','")
        raise HeaderError(f"{file_name}: the first line holds none of the {spec.name} contract's column names "
                          f"(is the header row missing?)")
    for position, name in enumerate(header, start=1):
        known = folded.get(name.strip().casefold())
        if name != name.strip():
            quoted = f" is {name!r}" if known else " has spaces around its name"
            raise HeaderError(f"{file_name}: header column {position}{quoted}: padded names are not accepted")
        if known and name != known:
            raise HeaderError(f"{file_name}: header column {position} is {name!r}: names are written exactly as "
                              f"the contract's {known!r}")
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


def _other_delimiter(header: list[str], expected: list[str]) -> str | None:
    """The separator a header uses instead of commas, if split by it the header names the contract's columns."""
    line = ",".join(header)
    for delimiter in OTHER_DELIMITERS:
        if delimiter in line and {part.strip() for part in line.split(delimiter)} & set(expected):
            return delimiter
    return None


def parse_file(path: Path, spec: FileSpec, contract: Contract, encoding: str,
               chunk_rows: int = CHUNK_ROWS) -> Iterator[ParsedChunk]:
    """Yield the file's records in typed chunks; raise HeaderError before the first chunk if the header is wrong."""
    clean = decodes_cleanly(path, encoding)
    with path.open(encoding=codec(encoding), errors="surrogateescape", newline="") as handle:
        split = Records(handle)
        reader = csv.reader(split)
        header, ordinal = None, 0                   # ordinal: records read so far, blank lines included
        for record in reader:
            ordinal += 1
            if record:                              # blank lines are not records
                header = record
                break
        if header is None:
            raise HeaderError(f"{path.name}: the file is empty (no header row)")
        if ordinal - 1 in split.unterminated:
            raise HeaderError(f"{path.name}: the header opens a quote that is never closed")
        if not clean and UNREADABLE.search("".join(header)):
            raise HeaderError(f"{path.name}: the header holds bytes that are not valid {encoding}")
        header = check_header(header, spec, path.name)
        width = len(header)
        seen_keys: set = set()
        last_row = FIRST_DATA_ROW - 1
        while block := list(islice(reader, chunk_rows)):
            lengths = np.fromiter(map(len, block), dtype=np.int64, count=len(block))
            numbers = last_row + np.cumsum(lengths > 0)         # blank lines are not records
            last_row = int(numbers[-1])
            open_quote = np.zeros(len(block), dtype=bool)
            problems = []
            for at in sorted(o - ordinal for o in split.unterminated if ordinal <= o < ordinal + len(block)):
                open_quote[at] = True
                field_at = split.unterminated[ordinal + at]
                problems.append(Problem(int(numbers[at]), header[field_at] if field_at < width else WHOLE_ROW,
                                        "unterminated_quote", UNTERMINATED))
            ordinal += len(block)
            wrong = np.flatnonzero((lengths > 0) & (lengths != width) & ~open_quote)
            problems += [Problem(int(numbers[i]), WHOLE_ROW, "wrong_field_count",
                                 f"expected {width} fields, found {lengths[i]}") for i in wrong]
            keep = (lengths == width) & ~open_quote
            if not keep.all():
                block = [block[i] for i in np.flatnonzero(keep)]
                numbers = numbers[keep]
            yield _typed_chunk(block, numbers, problems, header, spec, contract, encoding, clean, seen_keys)


def _typed_chunk(rows, numbers, problems, header, spec, contract, encoding, clean, seen_keys) -> ParsedChunk:
    columns = ["row_number", *spec.column_names]
    if not rows:
        return ParsedChunk(columns, [[] for _ in columns], list(problems), len(problems), len(problems))
    grid = np.array(rows, dtype=object)             # every row has the header's width here
    position = {name: i for i, name in enumerate(header)}
    row_numbers = numbers.astype(object)
    bad = np.zeros(len(rows), dtype=bool)
    typed = [row_numbers]
    found = list(problems)
    for col in spec.columns:
        values = np.array(list(map(str.strip, grid[:, position[col.name]])), dtype=object)
        plain = "".join(values.tolist()).isascii()      # the usual column: no invisible characters, no mojibake
        if not plain:
            values = np.array(list(map(_trimmed, values)), dtype=object)
        empty = values == ""
        checks = []
        if not clean:
            checks.append((np.array([UNREADABLE.search(v) is not None for v in values], dtype=bool),
                           "undecodable_bytes", f"holds a NUL byte or bytes that are not valid {encoding}"))
        if col.required:
            checks.append((empty, "missing_required", "a required value is empty"))
        if col.max_length is not None:
            checks.append((np.fromiter(map(len, values), dtype=np.int64, count=len(values)) > col.max_length,
                           "too_long", f"longer than {col.max_length} characters"))
        if col.type == "string" and not plain:
            checks.append((_mojibake(values), "mojibake", MOJIBAKE))
        converted, invalid, detail, reason = _convert(values, col, contract)
        if invalid is not None:
            checks.append((invalid & ~empty, reason, detail))
        column_bad = np.zeros(len(rows), dtype=bool)
        for mask, reason_code, text in checks:      # the first rule a value breaks is the one reported
            hits = np.flatnonzero(mask & ~column_bad)
            found.extend(Problem(int(row_numbers[i]), col.name, reason_code, text) for i in hits)
            column_bad |= mask
        bad |= column_bad
        typed.append(np.where(empty, None, converted))
    duplicate = _repeated_keys(typed, columns, spec.key, bad, seen_keys)
    found.extend(Problem(int(row_numbers[i]), "+".join(spec.key), "duplicate_key",
                         "an earlier record of this file has the same key") for i in np.flatnonzero(duplicate))
    bad |= duplicate
    keep = ~bad
    return ParsedChunk(columns, [column[keep].tolist() for column in typed], found,
                       rows_in=len(rows) + len(problems), rows_quarantined=int(bad.sum()) + len(problems))


def _mojibake(values: np.ndarray) -> np.ndarray:
    """Values that are UTF-8 text decoded as windows-1252 ('Ã©' for 'é'): written back as windows-1252, their
    bytes read as UTF-8. A name genuinely in windows-1252 ('Zoë') does not, so it is not flagged."""
    return np.fromiter((not v.isascii() and _reads_as_utf8(v) for v in values), dtype=bool, count=len(values))


def _reads_as_utf8(value: str) -> bool:
    try:
        value.encode("windows-1252").decode("utf-8")
    except UnicodeError:
        return False
    return True


def _repeated_keys(typed: list, columns: list[str], key: tuple[str, ...], bad: np.ndarray, seen: set) -> np.ndarray:
    """Records (not otherwise quarantined) whose key an earlier record of the file already has: the first stays."""
    keys = list(zip(*(typed[columns.index(name)] for name in key)))
    repeated = np.zeros(len(keys), dtype=bool)
    for i in np.flatnonzero(~bad):
        if keys[i] in seen:
            repeated[i] = True
        else:
            seen.add(keys[i])
    return repeated


def _convert(values: np.ndarray, col, contract: Contract):
    """The column's store-ready values, a mask of values that break the type, the problem's detail and reason."""
    kind = col.type
    if kind in ("date", "datetime"):
        fmt = contract.date_format if kind == "date" else contract.datetime_format
        parsed = pd.to_datetime(pd.Series(values), format=fmt, errors="coerce")
        invalid = parsed.isna().to_numpy()
        iso = parsed.to_numpy(dtype="datetime64[D]" if kind == "date" else "datetime64[s]").astype(str)
        if kind == "datetime":
            iso = np.char.replace(iso, "T", " ")
        return iso.astype(object), invalid, f"not a {kind} in the form {human_format(fmt)}", f"bad_{kind}"
    if kind == "integer":
        invalid = np.array([INTEGER.fullmatch(v) is None for v in values], dtype=bool)
        out = np.array([None if bad else int(v) for v, bad in zip(values, invalid)], dtype=object)
        return out, invalid, "not a whole number (at most 18 digits)", "bad_integer"
    if kind == "boolean":
        out = np.array([TRUE_VALUES.get(v) for v in values], dtype=object)
        return out, np.array([v is None for v in out], dtype=bool), "not Y or N", "bad_boolean"
    if kind == "code":
        codes = contract.code_lists[col.codes]
        return values, np.array([v not in codes for v in values], dtype=bool), \
            f"not a code in the {col.codes} list", "unknown_code"
    if kind == "codes":
        codes = contract.code_lists[col.codes]
        invalid = np.array([not all(part.strip() in codes for part in v.split(";")) for v in values], dtype=bool)
        return values, invalid, f"holds a code outside the {col.codes} list", "unknown_code"
    return values, None, "", ""
