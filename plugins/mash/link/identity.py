"""Stable child ids: a child keeps its hub id from night to night, new records join existing ids, and merges and
splits are recorded with their lineage. An id is issued once and never reused.

Given tonight's clusters of person records, each earlier child id goes to the cluster that now holds most of its
records (ties: the cluster with the smallest record id). A cluster that receives several ids keeps the oldest and
the others are retired into it (a merge); a cluster that receives none gets a new id, recorded as a split when its
records belonged to a child before, else as a new child.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, delete, func, select, update

from mash.store import bulk_insert
from mash.store.schema import child, child_lineage, child_record

ID_PREFIX = "MASH-"
ID_DIGITS = 7


@dataclass(frozen=True)
class IdentityChanges:
    """What tonight's clustering did to the children: counts only."""
    children: int
    new: int
    merged: int
    split: int
    records_moved: int          # records that belonged to another child before tonight


def format_id(number: int) -> str:
    return f"{ID_PREFIX}{number:0{ID_DIGITS}d}"


def assign_child_ids(conn: Connection, clusters: pd.DataFrame, run_id: str) -> tuple[pd.DataFrame, IdentityChanges]:
    """Give every cluster (columns record_id, person_id) a stable child id; persist ids, records and lineage.

    Returns the record -> child id mapping (columns record_id, child_id) and counts of what changed.
    """
    now = datetime.now(timezone.utc).isoformat(sep=" ")        # ISO text: what bulk_insert takes for a time
    previous = dict(conn.execute(select(child_record.c.record_id, child_record.c.child_id)).all())
    members = clusters.groupby("person_id", sort=False)["record_id"].apply(sorted)
    first_record = {person: records[0] for person, records in members.items()}

    holders: dict[str, Counter] = {}
    for person, records in members.items():
        for record in records:
            if record in previous:
                holders.setdefault(previous[record], Counter())[person] += 1
    owner = {old: min(counts, key=lambda p: (-counts[p], first_record[p])) for old, counts in holders.items()}
    owned: dict[str, list[str]] = {}
    for old, person in owner.items():
        owned.setdefault(person, []).append(old)

    next_number = _next_number(conn)
    assignment, new_children, lineage, retired = {}, [], [], []
    for person, records in sorted(members.items(), key=lambda item: item[1][0]):
        ids = sorted(owned.get(person, []))
        if ids:
            assignment[person] = ids[0]
            for other in ids[1:]:
                retired.append(other)
                lineage.append((run_id, "merge", ids[0], other, now))
            continue
        assignment[person] = format_id(next_number)
        next_number += 1
        new_children.append((assignment[person], run_id, now, None, None))
        earlier = Counter(previous[r] for r in records if r in previous)
        lineage.append((run_id, "split", assignment[person], earlier.most_common(1)[0][0], now) if earlier
                       else (run_id, "new", assignment[person], None, now))

    mapping = clusters.assign(child_id=clusters["person_id"].map(assignment))[["record_id", "child_id"]]
    earlier = mapping["record_id"].map(previous)
    moved = mapping[earlier.ne(mapping["child_id"])]              # new records, and records that changed child
    bulk_insert(conn, child, ["child_id", "created_run", "created_at", "retired_run", "retired_into"], new_children)
    for old in retired:
        conn.execute(update(child).where(child.c.child_id == old)
                     .values(retired_run=run_id, retired_into=_survivor(old, lineage)))
    changed = moved["record_id"].tolist()
    for start in range(0, len(changed), 5000):
        conn.execute(delete(child_record).where(child_record.c.record_id.in_(changed[start:start + 5000])))
    bulk_insert(conn, child_record, ["record_id", "child_id", "assigned_run"],
                ((r, c, run_id) for r, c in moved.itertuples(index=False)))
    bulk_insert(conn, child_lineage, ["run_id", "event", "child_id", "other_child_id", "at"], lineage)
    counts = Counter(event for _, event, *_ in lineage)
    return mapping, IdentityChanges(children=len(assignment), new=counts["new"], merged=counts["merge"],
                                    split=counts["split"], records_moved=int(earlier.notna()[moved.index].sum()))


def _survivor(retired_id: str, lineage: list[tuple]) -> str:
    return next(survivor for _, event, survivor, other, _ in lineage if event == "merge" and other == retired_id)


def _next_number(conn: Connection) -> int:
    """One more than the highest id ever issued (retired ids included, so none is reused)."""
    highest = conn.execute(select(func.max(child.c.child_id))).scalar()
    return int(highest[len(ID_PREFIX):]) + 1 if highest else 1
