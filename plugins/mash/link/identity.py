"""Stable child ids: a child keeps its hub id from night to night, new records join existing ids, and merges and
splits are recorded with their lineage. An id is issued once and never reused.

Given tonight's clusters of person records, each earlier child id goes to the cluster that now holds most of its
records (ties: the cluster with the smallest record id). A cluster that receives several ids keeps the oldest and
the others are retired into it (a merge); a cluster that receives none gets a new id, recorded as a split when its
records belonged to a child before (from the child that held most of them; ties: the smallest id), else as a new
child. A child in force none of whose records is present tonight has ended (re-keyed or withdrawn): it is retired
with no successor, and a record of it that comes back later joins a child as a new record would. New ids are issued in the order of the clusters' smallest record ids. So the ids are a function of tonight's
clusters and the ids in force, whatever order the records and clusters come in.
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
    ended: int = 0              # children in force none of whose records is present tonight (re-keyed or gone)


def format_id(number: int) -> str:
    return f"{ID_PREFIX}{number:0{ID_DIGITS}d}"


@dataclass(frozen=True)
class IdentityPlan:
    """What storing tonight's clusters would do to the children (:func:`plan_child_ids`), before anything is
    written: the record -> child id mapping, the lineage, the ids issued and retired."""
    mapping: pd.DataFrame               # record_id, child_id
    changes: IdentityChanges
    new_children: list[str]
    retired: dict[str, str]             # retired child id -> the child it was merged into
    lineage: list[tuple[str, str | None]]   # (event, child_id, other_child_id)
    moved: pd.DataFrame                 # record_id, child_id: records new tonight or assigned to another child
    children_before: int                # children in force before tonight
    records_before: int                 # records assigned to a child before tonight


def plan_child_ids(conn: Connection, clusters: pd.DataFrame) -> IdentityPlan:
    """The child ids tonight's clusters (columns record_id, person_id) would get (see the module's docstring);
    reads the store, writes nothing."""
    previous = dict(conn.execute(select(child_record.c.record_id, child_record.c.child_id)
                                 .join(child, child.c.child_id == child_record.c.child_id)
                                 .where(child.c.retired_run.is_(None))).all())     # children in force
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
    assignment, new_children, lineage, retired = {}, [], [], {}
    for person, records in sorted(members.items(), key=lambda item: item[1][0]):
        ids = sorted(owned.get(person, []))
        if ids:
            assignment[person] = ids[0]
            for other in ids[1:]:
                retired[other] = ids[0]
                lineage.append(("merge", ids[0], other))
            continue
        assignment[person] = format_id(next_number)
        next_number += 1
        new_children.append(assignment[person])
        earlier = Counter(previous[r] for r in records if r in previous)
        lineage.append(("split", assignment[person], _most_common(earlier)) if earlier
                       else ("new", assignment[person], None))

    mapping = clusters.assign(child_id=clusters["person_id"].map(assignment))[["record_id", "child_id"]]
    earlier = mapping["record_id"].map(previous)
    moved = mapping[earlier.ne(mapping["child_id"])]              # new records, and records that changed child
    lineage += [("ended", old, None) for old in sorted(set(previous.values()) - set(holders))]
    counts = Counter(event for event, *_ in lineage)
    changes = IdentityChanges(children=len(assignment), new=counts["new"], merged=counts["merge"],
                              split=counts["split"], records_moved=int(earlier.notna()[moved.index].sum()),
                              ended=counts["ended"])
    return IdentityPlan(mapping=mapping, changes=changes, new_children=new_children, retired=retired,
                        lineage=lineage, moved=moved, children_before=len(set(previous.values())),
                        records_before=len(previous))


def _most_common(counts: Counter) -> str:
    """The child that held most of the records, the smallest id among equals (Counter.most_common keeps the order
    the records were met in, which is not a total order)."""
    return min(counts, key=lambda child_id: (-counts[child_id], child_id))


def apply_child_ids(conn: Connection, plan: IdentityPlan, run_id: str) -> None:
    """Persist a plan: new ids, retired ids, the records that moved, and the lineage."""
    now = datetime.now(timezone.utc).isoformat(sep=" ")        # ISO text: what bulk_insert takes for a time
    bulk_insert(conn, child, ["child_id", "created_run", "created_at", "retired_run", "retired_into"],
                ((child_id, run_id, now, None, None) for child_id in plan.new_children))
    for old, survivor in plan.retired.items():
        conn.execute(update(child).where(child.c.child_id == old).values(retired_run=run_id, retired_into=survivor))
    ended = [other for event, other, _ in plan.lineage if event == "ended"]
    for start in range(0, len(ended), 5000):
        conn.execute(update(child).where(child.c.child_id.in_(ended[start:start + 5000])).values(retired_run=run_id))
    changed = plan.moved["record_id"].tolist()
    for start in range(0, len(changed), 5000):
        conn.execute(delete(child_record).where(child_record.c.record_id.in_(changed[start:start + 5000])))
    bulk_insert(conn, child_record, ["record_id", "child_id", "assigned_run"],
                ((r, c, run_id) for r, c in plan.moved.itertuples(index=False)))
    bulk_insert(conn, child_lineage, ["run_id", "event", "child_id", "other_child_id", "at"],
                ((run_id, event, child_id, other, now) for event, child_id, other in plan.lineage))


def assign_child_ids(conn: Connection, clusters: pd.DataFrame, run_id: str) -> tuple[pd.DataFrame, IdentityChanges]:
    """Give every cluster (columns record_id, person_id) a stable child id; persist ids, records and lineage.

    Returns the record -> child id mapping (columns record_id, child_id) and counts of what changed.
    """
    plan = plan_child_ids(conn, clusters)
    apply_child_ids(conn, plan, run_id)
    return plan.mapping, plan.changes


def _next_number(conn: Connection) -> int:
    """One more than the highest id ever issued (retired ids included, so none is reused)."""
    highest = conn.execute(select(func.max(child.c.child_id))).scalar()
    return int(highest[len(ID_PREFIX):]) + 1 if highest else 1
