"""`mash match` and `mash review` across nights: stable ids, and officers' decisions splitting and joining children."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import select

from mash.cli import main
from mash.store.schema import child_lineage, child_record, record_link


def _children(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(child_record.c.record_id, child_record.c.child_id)).all())


def test_officer_decisions_split_and_join_children_on_later_nights(home, engine, tmp_path, capsys):
    out = tmp_path / "synth"
    main(["synth", "--children", "250", "--seed", "11", "--nights", "3", "--out", str(out)])
    main(["deliver", str(out / "night-01")])
    main(["ingest", "--strict"])
    assert main(["match", "--run-id", "night-1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["records"] > 250 and 0 < summary["children"] < summary["records"]
    assert summary["new_children"] == summary["children"]
    night1 = _children(engine)
    _assert_consent_rows_join_their_social_care_child(engine, night1)

    with engine.connect() as conn:          # record_link holds every pair that counts as evidence, links or not
        linked = next(pair for pair in conn.execute(select(record_link.c.record_id_l, record_link.c.record_id_r)
                                                    .order_by(record_link.c.match_probability))
                      if night1[pair.record_id_l] == night1[pair.record_id_r])
    sizes = Counter(night1.values())
    alone = sorted(r for r, c in night1.items() if sizes[c] == 1)        # records that are a child on their own
    singles = [alone[0], alone[-1]]
    assert night1[linked.record_id_l] == night1[linked.record_id_r]
    assert main(["review", "decide", linked.record_id_l, linked.record_id_r, "--different", "--by", "A. Officer",
                 "--reason", "different mothers, confirmed with the health visitor"]) == 0
    assert main(["review", "decide", *singles, "--same", "--by", "A. Officer",
                 "--reason", "same child, confirmed with the school"]) == 0

    main(["deliver", str(out / "night-02")])
    main(["ingest", "--strict"])
    assert main(["match", "--run-id", "night-2"]) == 0
    night2 = _children(engine)
    assert night2[linked.record_id_l] != night2[linked.record_id_r]
    assert night2[singles[0]] == night2[singles[1]]
    with engine.connect() as conn:
        events = {(row.event, row.child_id) for row in conn.execute(
            select(child_lineage).where(child_lineage.c.run_id == "night-2"))}
    assert any(event == "split" for event, _ in events)
    assert ("merge", night2[singles[0]]) in events
    unchanged = [r for r in night1 if r in night2 and r not in (linked.record_id_l, linked.record_id_r, *singles)]
    assert sum(night1[r] == night2[r] for r in unchanged) / len(unchanged) > 0.98

    main(["deliver", str(out / "night-03")])
    main(["ingest", "--strict"])
    capsys.readouterr()
    assert main(["match", "--run-id", "night-3"]) == 0
    night3 = _children(engine)
    assert night3[linked.record_id_l] != night3[linked.record_id_r], "a decision binds every later run"
    assert night3[singles[0]] == night3[singles[1]]
    assert main(["review", "list"]) == 0
    assert capsys.readouterr().out.strip().endswith("pairs waiting for an officer's decision")


def _assert_consent_rows_join_their_social_care_child(engine, children: dict[str, str]) -> None:
    """The consent register is keyed by the local authority child id: its rows are that child's, by definition."""
    from mash.link.records import records_from_store
    records = records_from_store(engine)
    keyed = records[records["la_child_id"] != ""]
    held = set(keyed.loc[keyed["source"] == "social_care", "la_child_id"])
    consent = keyed[(keyed["source"] == "consent") & keyed["la_child_id"].isin(held)]
    assert len(consent) > 5
    for row in consent.itertuples():
        assert children[row.record_id] == children[f"social_care:{row.la_child_id}"]
