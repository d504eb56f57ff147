"""Deterministic matching: the same records, decisions and model give the same children and links whatever the
history: a rerun with no new data (in the library, and through `mash match` after `mash match --full`: no new
publication or audit entry either), records read in another order, an incremental night against rescoring everything with the same model."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mash.cli import main
from mash.link import Previous, link
from mash.link.records import records_from_night
from mash.synth import generate
from tests.drops import dump
from tests.test_link_incremental import previous_of


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("synth")
    generate(children=600, seed=42, nights=1, out=out)
    return records_from_night(out / "night-01")


def grouping(result) -> set[frozenset[str]]:
    return {frozenset(group) for group in result.clusters.groupby("person_id")["record_id"].agg(list)}


def decisions(result) -> dict[tuple[str, str], str]:
    pairs = result.pairs[result.pairs["decision"] != "non-link"]
    return {tuple(sorted(pair)): decision for *pair, decision
            in pairs[["record_id_l", "record_id_r", "decision"]].itertuples(index=False)}


def test_reruns_with_no_new_data_change_nothing(town):
    full = link(town)
    rerun = link(town, previous=previous_of(full, town))
    again = link(town, previous=previous_of(rerun, town))
    assert rerun.stats["records_rescored"] == 0 and rerun.stats["pairs_kept"] > 0
    for later in (rerun, again):
        assert grouping(later) == grouping(full)
        assert decisions(later) == decisions(full)
        pd.testing.assert_series_equal(later.clusters["person_id"], full.clusters["person_id"])


def test_records_in_another_order_give_the_same_children_and_links(town):
    shuffled = town.sample(frac=1.0, random_state=1).reset_index(drop=True)
    a, b = link(town), link(shuffled)
    assert grouping(a) == grouping(b) and decisions(a) == decisions(b)


def test_an_incremental_night_agrees_with_rescoring_everything_with_its_model(town):
    earlier = town.iloc[: int(len(town) * 0.9)].reset_index(drop=True)
    previous = previous_of(link(earlier), earlier)
    incremental = link(town, previous=previous)
    everything = link(town, previous=Previous(previous.fingerprints.iloc[:0], previous.pairs.iloc[:0],
                                              previous.model, previous.records))
    assert 0 < incremental.stats["records_rescored"] < len(town)
    assert grouping(incremental) == grouping(everything)
    links = [{pair for pair, d in decisions(r).items() if d == "link"} for r in (incremental, everything)]
    assert links[0] == links[1]


def test_mash_match_after_a_full_relink_reruns_without_changing_the_store(store, home, tmp_path, capsys):
    out = tmp_path / "synth"
    main(["synth", "--children", "1500", "--seed", "42", "--nights", "2", "--out", str(out)])
    for night in ("night-01", "night-02"):
        main(["deliver", str(out / night)])
        main(["ingest", "--strict"])
        assert main(["match", "--run-id", night]) == 0
    assert main(["match", "--run-id", "full", "--full"]) == 0
    assert main(["publish", "--run-id", "full", "--as-of", "2026-11-03"]) == 0
    after_full = dump(store)
    capsys.readouterr()
    for rerun in ("rerun-1", "rerun-2"):
        assert main(["match", "--run-id", rerun]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert main(["publish", "--run-id", rerun, "--as-of", "2026-11-03"]) == 0      # nothing new to publish
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["audit_entries"] == 0
        assert (summary["records_rescored"], summary["merged"], summary["split"], summary["records_moved"],
                summary["new_children"]) == (0, 0, 0, 0, 0)
        now = dump(store)
        assert {name: rows for name, rows in now.items() if name != "link_review"} == {
            name: rows for name, rows in after_full.items() if name != "link_review"}
        # the review queue is the same pairs, scores and statuses; only the run that last saw them moves on
        assert [row[:6] + row[7:] for row in now["link_review"]] == [
            row[:6] + row[7:] for row in after_full["link_review"]]
        assert main(["match", "--run-id", f"{rerun}-in-partitions", "--partitions", "3", "--processes", "1"]) == 0
        assert {name: rows for name, rows in dump(store).items() if name != "link_review"} == {
            name: rows for name, rows in after_full.items() if name != "link_review"}
