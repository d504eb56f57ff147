"""One batch's files as pandas frames, typed as the contract says: what validation checks and the board report reads.

A file identical to one loaded earlier was not loaded again, so its rows are read from ``batch_file.rows_batch_id``.
Two checks of event order span files; for them ``with_derived`` gives a frame a column from the file it references.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, select

from mash.contracts import Contract
from mash.store.schema import batch_file, feed_tables

# (agency, file) -> (referenced file, key column, {column there: name here})
DERIVED = {
    ("social_care", "assessments"): ("referrals", "referral_id", {"decision_date": "referral_decision_date"}),
    ("social_care", "conferences"): ("s47_enquiries", "s47_id",
                                     {"strategy_discussion_date": "strategy_discussion_date"}),
}


def batch_frames(conn: Connection, contract: Contract, batch_id: str, files: set[str] | None = None
                 ) -> dict[str, pd.DataFrame]:
    """Every file of the batch (or those named in ``files``) as a frame of its loaded rows: dates and date-times as
    datetime64, integers as Int64, flags as boolean, everything else as text (None where empty)."""
    holders = dict(conn.execute(select(batch_file.c.contract_file, batch_file.c.rows_batch_id)
                                .where(batch_file.c.batch_id == batch_id)).all())
    frames = {}
    for spec in contract.files:
        if files is not None and spec.name not in files:
            continue
        table = feed_tables[(contract.agency, spec.name)]
        query = select(*(table.c[c.name] for c in spec.columns)).where(table.c.batch_id == holders[spec.name])
        frame = pd.read_sql(query, conn)
        for col in spec.columns:
            if col.type in ("date", "datetime"):
                frame[col.name] = pd.to_datetime(frame[col.name])
            elif col.type == "integer":
                frame[col.name] = frame[col.name].astype("Int64")
            elif col.type == "boolean":
                frame[col.name] = frame[col.name].astype("boolean")
        frames[spec.name] = frame
    return frames


def with_derived(agency: str, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The frames as the suites see them: with the columns ``DERIVED`` takes from referenced files."""
    out = dict(frames)
    for (owner, name), (other, key, columns) in DERIVED.items():
        if owner == agency:
            out[name] = with_referenced(frames[name], frames[other], key, columns)
    return out


def with_referenced(frame: pd.DataFrame, other: pd.DataFrame, key: str, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` with ``columns`` of the ``other`` row it references by ``key`` (missing where there is none)."""
    lookup = other.drop_duplicates(key).set_index(key)
    out = frame.copy()
    for there, here in columns.items():
        out[here] = lookup[there].reindex(frame[key].to_numpy()).to_numpy()   # map() fails on an empty lookup
    return out
