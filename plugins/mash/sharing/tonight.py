"""What the agencies hold tonight, keyed to the hub's children: each agency's current rows of any contract file,
with the hub child id of the child each row is about."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from mash.contracts import contracts
from mash.link.records import FEEDS
from mash.store.current import current_batches, current_rows
from mash.store.schema import child_record

AGENCIES = ("health", "police", "schools", "social_care")     # the agencies that work with children


def person_column(agency: str, contract_file: str) -> str:
    """The column of ``contract_file`` that names the agency's person: its key in the person file, or the column
    that references that key."""
    feed = FEEDS[agency]
    key = feed.columns["record_id"]
    if contract_file == feed.contract_file:
        return key
    spec = contracts()[agency].file(contract_file)
    return next(c.name for c in spec.columns if c.references == f"{feed.contract_file}.{key}")


class Tonight:
    """Each agency's current batch, each file read once, joined to the child each row is about."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.batches = current_batches(engine)
        with engine.connect() as conn:
            self.child_of = dict(conn.execute(select(child_record.c.record_id, child_record.c.child_id)).all())
        self._read: dict[tuple[str, str], pd.DataFrame] = {}

    def rows(self, agency: str, contract_file: str, columns: list[str]) -> pd.DataFrame:
        """The file's ``columns`` plus ``child_id`` (the hub's child id), for rows about a child the matching has
        placed; empty (with those columns) when the agency has no loaded batch. A file's own ``child_id`` column
        (social care's and the register's local authority id) is not available: the name is the hub's."""
        if "child_id" in columns:
            raise ValueError("child_id names the hub's child id here; the agency's own column is not available")
        if agency not in self.batches:
            return pd.DataFrame(columns=[*columns, "child_id"])
        if (agency, contract_file) not in self._read:
            person = person_column(agency, contract_file)
            with self.engine.connect() as conn:
                frame = current_rows(conn, self.batches[agency], agency, contract_file,
                                     contracts()[agency].file(contract_file).column_names)
            frame["child_id"] = (f"{agency}:" + frame[person].astype(str)).map(self.child_of)
            self._read[(agency, contract_file)] = frame[frame["child_id"].notna()].reset_index(drop=True)
        return self._read[(agency, contract_file)][[*columns, "child_id"]]
