"""Export one recipient's shared view to files: what an agency without direct database access receives.

Every text value is written safe to open in a spreadsheet (``mash.spreadsheet``). Reads the recipient's SQL views (``<recipient>_shared_children``, ``_involvement``, ``_chronology``), so an export
can only ever hold what the database would show that recipient. The three files come from one publication: if the
view is republished while they are read, the export starts again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select, text

from mash.errors import Refused
from mash.spreadsheet import write_csv
from mash.store.schema import publication

VIEWS = ("children", "involvement", "chronology")
ORDER = {"children": "child_id", "involvement": "child_id, agency", "chronology": "child_id, entry"}


class ExportError(Refused):
    """The export cannot be made: an unknown recipient, or nothing published yet."""


def _current(engine: Engine):
    with engine.connect() as conn:
        return conn.execute(select(publication).where(publication.c.is_current.is_(True))).first()


def export_view(engine: Engine, recipient: str, recipients: list[str], out: Path, attempts: int = 3) -> dict:
    """Write ``children.csv``, ``involvement.csv`` (with each agency's open episodes), ``chronology.csv`` and
    ``publication.json`` into ``out``; returns the publication's id and the row counts."""
    if recipient not in recipients:
        raise ExportError(f"unknown recipient {recipient!r}; one of {sorted(recipients)}")
    for _ in range(attempts):
        current = _current(engine)
        if current is None:
            raise ExportError("nothing has been published yet: run the nightly DAG or `mash publish`")
        with engine.connect() as conn:
            frames = {name: pd.read_sql(text(f"SELECT * FROM {recipient}_shared_{name} ORDER BY {ORDER[name]}"),
                                        conn) for name in VIEWS}
        ids = {int(i) for frame in frames.values() for i in frame["publication_id"].unique()} | {
            current.publication_id}
        if ids == {current.publication_id} and _current(engine).publication_id == current.publication_id:
            break
    else:
        raise ExportError("the view kept changing while it was read; try again")
    chronology = frames["chronology"]
    open_episodes = (chronology[chronology["is_open"].astype(bool)].groupby(["child_id", "agency"])["event"]
                     .agg(lambda events: "; ".join(sorted(set(events)))).rename("open_episodes").reset_index())
    frames["involvement"] = frames["involvement"].merge(open_episodes, on=["child_id", "agency"], how="left")
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, frame in frames.items():
        path = out / f"{name}.csv"
        write_csv(frame.drop(columns=["publication_id"]), path)
        path.chmod(0o600)                        # personal data: readable by the exporting account only
        counts[name] = len(frame)
    summary = {"recipient": recipient, "publication_id": current.publication_id, "run_id": current.run_id,
               "as_of": current.as_of.isoformat(), "rows": counts}
    (out / "publication.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
