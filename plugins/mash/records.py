"""Splitting a CSV extract into the records its agency wrote, so that one unterminated quote cannot swallow the rest.

A CSV reader that meets a quote which is never closed reads every following line into that one value: hundreds of
records vanish inside a free-text field and the file still "parses". Here a record that opens a quote and is
followed by a line that is, on its own, a complete record of the file's width is taken to be unterminated: it is
reported (its ordinal and the column where the quote opened) and the following line is read as the record it is.
The ingest parser and the manifest's record count (``mash.landing.count_records``) both split files this way, so
the count is what the agency wrote, not what a fooled reader saw.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator

# Fields past the csv module's 128 KiB default are read and then judged against the contract's max_length.
csv.field_size_limit(2**31 - 1)

_FIELD = r'(?:"(?:[^"]|"")*"[^,\r\n]*|[^",\r\n][^,\r\n]*|)'   # quoted (quotes after it are literal), bare, empty
_COMPLETE = re.compile(rf"{_FIELD}(?:,{_FIELD})*")
# The usual line, checked in a fraction of the time: bare text and quoted fields holding no quote of their own.
_PLAIN = re.compile(r'(?:[^"]*+(?<![^,])"[^"]*+"(?=[,\r\n]|\Z))*+[^"]*+')
_CLOSING = re.compile(r'(?:[^"]|"")*"(?!")')                  # the rest of a quoted value, up to its closing quote
_TAIL = re.compile(rf"[^,\r\n]*(?:,{_FIELD})*")                # after a closing quote: the record's remaining fields
_OPEN_PREFIX = re.compile(rf"(?:{_FIELD},)*")                  # the complete fields before a quote left open


def _body(line: str) -> str:
    return line.rstrip("\r\n")


def _complete(line: str) -> bool:
    """True when a line, read from the start of a record, leaves no quote open."""
    return '"' not in line or _PLAIN.fullmatch(line) is not None or _COMPLETE.fullmatch(_body(line)) is not None


def _closes(line: str) -> bool:
    """True when a line read inside an open quoted value closes it and opens no other."""
    body = _body(line)
    closing = _CLOSING.match(body)
    return closing is not None and _TAIL.fullmatch(body, closing.end()) is not None


def _open_field(text: str) -> int:
    """The position (from 0) of the field whose quote a record's text leaves open."""
    prefix = _OPEN_PREFIX.match(text).group()
    return len(next(csv.reader([prefix]), [])) - 1 if prefix else 0


def _width(line: str) -> int:
    return len(next(csv.reader([line]), []))


class Records:
    """Iterate a text file (opened with ``newline=""``) as one string per CSV record, blank lines included.

    ``unterminated`` maps the ordinal (from 0, counting every string yielded) of each record whose quote was never
    closed to the field where it opened; such a record is yielded with its first line only, the quote closed, so a
    CSV reader still sees one record for it.
    """

    def __init__(self, lines: Iterable[str]):
        self.lines = lines
        self.unterminated: dict[int, int] = {}
        self.width: int | None = None        # fields in the first non-blank record (the header)

    def __iter__(self) -> Iterator[str]:
        ordinal = 0
        pending: list[str] = []              # the lines of a record whose quoted value is still open
        for line in self.lines:
            if pending:
                if self.width is not None and _complete(line) and _width(line) == self.width:
                    yield self._unterminated(pending, ordinal)
                    ordinal += 1
                    pending = []
                else:
                    pending.append(line)
                    if _closes(line):
                        yield "".join(pending)
                        ordinal += 1
                        pending = []
                    continue
            if _complete(line):
                if self.width is None and _body(line):
                    self.width = _width(line)
                yield line
                ordinal += 1
            else:
                pending = [line]
        if pending:
            yield self._unterminated(pending, ordinal)

    def _unterminated(self, pending: list[str], ordinal: int) -> str:
        self.unterminated[ordinal] = _open_field("".join(pending))
        return _body(pending[0]) + '"\r\n'


def count_records(lines: Iterable[str]) -> int:
    """Data records in a CSV text: the header and blank lines are not records; an unterminated quote swallows none."""
    return max(sum(1 for text in Records(lines) if _body(text)) - 1, 0)
