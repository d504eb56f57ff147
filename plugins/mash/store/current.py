"""Each agency's current data: its latest loaded batch, and that batch's rows of any contract file.

Every later stage (matching, the shared view, notices, reports) reads what agencies hold tonight through here, so
a rejected or waiting drop never replaces an agency's last good data.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sqlalchemy import Boolean, Connection, Date, DateTime, Engine, Text, select, type_coerce

from mash.store.schema import batch, batch_file, feed_tables


def current_batches(engine: Engine) -> dict[str, str]:
    """The current batch of each agency: its latest loaded batch by extract date, then by finish time.

    A batch dated after the day it was received is a mistyped date (ingest refuses one now, but a store may hold one
    loaded before): it is never current, so it cannot hold back every later night.
    """
    query = (select(batch.c.agency, batch.c.batch_id, batch.c.extract_date, batch.c.received_at)
             .where(batch.c.state == "loaded")
             .order_by(batch.c.agency, batch.c.extract_date, batch.c.finished_at))
    with engine.connect() as conn:
        return {row.agency: row.batch_id for row in conn.execute(query)       # the last one per agency wins
                # a day's margin: received_at is UTC, an extract is dated by the London night
                if row.extract_date is None or row.extract_date <= row.received_at.date() + timedelta(days=1)}


def current_rows(conn: Connection, batch_id: str, agency: str, contract_file: str,
                 columns: list[str]) -> pd.DataFrame:
    """The rows of ``contract_file`` in the agency's batch ``batch_id``, as loaded (typed), in file order.

    A file identical to one loaded earlier is not loaded again: its rows are those of ``rows_batch_id``.
    """
    rows_batch_id = conn.execute(
        select(batch_file.c.rows_batch_id).where(batch_file.c.batch_id == batch_id,
                                                 batch_file.c.contract_file == contract_file)).scalar()
    table = feed_tables[(agency, contract_file)]
    # Dates, times and flags are read as the driver returns them and converted column by column below: SQLAlchemy's
    # value-by-value conversion would be most of the time spent reading a large file.
    selected = [type_coerce(table.c[name], Text) if isinstance(table.c[name].type, CONVERTED) else table.c[name]
                for name in columns]
    rows = [] if rows_batch_id is None else conn.execute(
        select(*selected).where(table.c.batch_id == rows_batch_id).order_by(table.c.row_number)).fetchall()
    values = list(zip(*rows)) or [() for _ in columns]     # column by column: a frame built from Row objects is slow
    return pd.DataFrame({name: _typed(pd.Series(column, dtype=object), table.c[name].type)
                         for name, column in zip(columns, values)})


CONVERTED = (Date, DateTime, Boolean)


def _typed(values: pd.Series, kind) -> pd.Series:
    """A column as Python values: dates as ``date``, times as ``datetime``, flags as ``bool``; missing as None."""
    if not isinstance(kind, CONVERTED) or values.empty:
        return values
    if isinstance(kind, Boolean):
        return values.map({True: True, False: False, 1: True, 0: False}).astype(object).where(values.notna(), None)
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    converted = pd.Series(parsed.dt.date if isinstance(kind, Date) else parsed.dt.to_pydatetime(), index=values.index,
                          dtype=object)
    return converted.where(parsed.notna(), None)
