"""Files people open in a spreadsheet: a text value that a spreadsheet would run as a formula (it starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return: OWASP "CSV injection") is written with a leading ``'``, so it is
shown as the text it is. Every CSV or tab-separated table the hub writes for people goes through here; numbers
are written as they are (a spreadsheet reads ``-3`` as the number it is, not a formula)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value`` as a spreadsheet will show it; text that would start a formula gets a leading ``'``."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def safe_column(values: pd.Series) -> pd.Series:
    """:func:`safe_cell` over a column, vectorised (a pairs file has millions of rows)."""
    try:
        formula = values.str.startswith(FORMULA_STARTS).fillna(False).astype(bool)
    except AttributeError:                      # an object column holding no text at all (numbers, dates, None)
        return values
    return values.where(~formula, "'" + values.where(formula, "")) if formula.any() else values


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text column made safe (numeric columns are left as they are)."""
    text = [name for name, values in frame.items()
            if values.dtype == object or isinstance(values.dtype, pd.StringDtype)]
    return frame.assign(**{name: safe_column(frame[name]) for name in text}) if text else frame


def write_csv(frame: pd.DataFrame, path: Path | str, **options) -> None:
    """``frame.to_csv(path, index=False, **options)`` with every text value safe to open in a spreadsheet, lines
    ended by CRLF (RFC 4180), so that a value holding a carriage return is quoted, not split."""
    safe_frame(frame).to_csv(path, index=False, lineterminator="\r\n", **options)
