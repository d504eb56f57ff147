"""Stable child ids across nights: new children, records joining, merges and splits with lineage, no id reused."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from mash.link.identity import assign_child_ids
from mash.store.schema import child, child_lineage


def _clusters(*groups: str) -> pd.DataFrame:
    """'a b c' -> one cluster of records a, b and c."""
    return pd.DataFrame([(record, f"P{i}") for i, group in enumerate(groups) for record in group.split()],
                        columns=["record_id", "person_id"])


def _night(engine, run_id: str, *groups: str) -> dict[str, str]:
    with engine.begin() as conn:
        mapping, _ = assign_child_ids(conn, _clusters(*groups), run_id)
    return dict(mapping.itertuples(index=False))


def test_three_nights_new_child_merge_and_split(store):
    first = _night(store, "n1", "h:1 p:1", "h:2", "h:3 s:3")
    assert len(set(first.values())) == 3
    assert first["h:1"] == first["p:1"] and first["h:3"] == first["s:3"]

    second = _night(store, "n2", "h:1 p:1 s:9", "h:2 h:3 s:3", "h:4")      # s:9 joins; 2 and 3 merge; 4 is new
    assert second["s:9"] == second["h:1"] == first["h:1"]
    assert second["h:2"] == second["h:3"] == min(first["h:2"], first["h:3"])
    assert second["h:4"] not in first.values()

    third = _night(store, "n3", "h:1 p:1 s:9", "h:2", "h:3 s:3", "h:4")     # an officer split 2 from 3
    assert third["h:1"] == first["h:1"] and third["h:4"] == second["h:4"]
    kept, fresh = sorted([third["h:2"], third["h:3"]], key=lambda cid: cid in first.values(), reverse=True)
    assert kept == second["h:2"]
    assert fresh not in set(first.values()) | set(second.values()), "an id was reused"

    with store.connect() as conn:
        events = {(row.run_id, row.event, row.child_id, row.other_child_id)
                  for row in conn.execute(select(child_lineage))}
        retired = {row.child_id: row.retired_into for row in conn.execute(select(child)) if row.retired_into}
    merged_away = max(first["h:2"], first["h:3"])
    assert ("n2", "merge", second["h:2"], merged_away) in events
    assert ("n3", "split", fresh, second["h:2"]) in events
    assert retired == {merged_away: second["h:2"]}
    assert sum(event == "new" for _, event, _, _ in events) == 4        # three on night 1, h:4 on night 2


def test_a_rerun_of_the_same_night_changes_nothing(store):
    first = _night(store, "n1", "h:1 p:1", "h:2")
    with store.connect() as conn:
        lineage_before = conn.execute(select(child_lineage.c.lineage_id)).all()
    assert _night(store, "n1", "h:1 p:1", "h:2") == first
    with store.connect() as conn:
        events = conn.execute(select(child_lineage.c.event, child_lineage.c.child_id)).all()
    assert len(events) == len(lineage_before)
