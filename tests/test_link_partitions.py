"""Linkage in partitions (mash.link.partitions): the same clusters, pair decisions, weights and model as link() on a
generated town, full and incremental, in this process and in a pool of processes; and `mash match --partitions`
storing exactly what `mash match` stores, night after night, on SQLite."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import DateTime, select

from mash.cli import main
from mash.link import link, prepare
from mash.home import match_partitions
from mash.link.partitions import combine, compare_partition, link_in_partitions, remove, split
from mash.link.records import records_from_night
from mash.store import migrate
from mash.store.schema import child, child_lineage, child_record, link_model, link_review, record_link
from mash.synth import generate
from tests.test_link_incremental import previous_of


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> pd.DataFrame:
    """One generated night of 400 children's records."""
    out = tmp_path_factory.mktemp("synth")
    generate(children=400, seed=11, nights=1, out=out)
    return records_from_night(out / "night-01")


def assert_same_result(partitioned, single) -> None:
    assert_frame_equal(partitioned.clusters, single.clusters)
    assert_frame_equal(partitioned.pairs, single.pairs)
    assert partitioned.model.as_dict() == single.model.as_dict()
    assert np.array_equal(partitioned.fingerprints, single.fingerprints)
    assert np.array_equal(partitioned.rescored, single.rescored)
    assert ({k: v for k, v in partitioned.stats.items() if k != "seconds"}
            == {k: v for k, v in single.stats.items() if k != "seconds"})


@pytest.fixture(scope="module")
def single(town):
    return link(town)


@pytest.mark.parametrize("partitions, processes", [(1, 1), (3, 1), (2, 2)])
def test_partitions_give_exactly_the_result_of_link(town, single, tmp_path, partitions, processes):
    assert single.stats["decisions"]["link"] > 100 and single.stats["decisions"]["review"] > 0
    result = link_in_partitions(town, partitions, tmp_path / "work", processes=processes)
    assert_same_result(result, single)
    assert not (tmp_path / "work").exists(), "the work (personal data) must be removed"


def test_incremental_night_in_partitions_equals_link(town, tmp_path):
    rng = np.random.default_rng(2)
    earlier = town[rng.random(len(town)) >= 0.1].reset_index(drop=True)
    previous = previous_of(link(earlier), earlier)
    result = link_in_partitions(town, 4, tmp_path / "work", previous=previous)
    assert result.stats["mode"] == "incremental" and 0 < result.stats["records_rescored"] < len(town) / 4
    assert_same_result(result, link(town, previous=previous))


def test_partitions_are_compared_apart_and_combined_in_order(town, single, tmp_path):
    """As Celery workers would: each partition on its own, in any order, one of them twice (a retry)."""
    directory = tmp_path / "work"
    numbers = split(prepare(town), 3, directory)
    assert numbers == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match="partition 0 of 3 has not been compared"):
        combine(directory)
    counts = {k: compare_partition(directory, k) for k in (2, 0, 1, 2)}
    assert sum(counts.values()) == single.stats["candidate_pairs"]
    assert max(counts.values()) - min(counts.values()) <= 1
    result, work = combine(directory)
    assert work.previous is None
    assert_same_result(result, single)
    with pytest.raises(ValueError, match="partition 3 is not among the 3 partitions"):
        compare_partition(directory, 3)
    remove(directory)
    with pytest.raises(FileNotFoundError, match="run the partitioning step"):
        compare_partition(directory, 0)


def test_a_failed_nights_work_is_removed_by_the_next_night(town, tmp_path):
    """The work is personal data: a night that failed before storing must not leave it behind for good."""
    work = prepare(town)
    failed, tonight = tmp_path / "match" / "night-2026-11-02", tmp_path / "match" / "night-2026-11-03"
    split(work, 2, failed)
    assert (failed / "work.pickle").is_file()
    split(work, 2, tonight)
    assert not failed.exists() and sorted(p.name for p in tonight.iterdir()) == ["work.pickle"]


def test_more_partitions_than_pairs(tmp_path):
    records = pd.DataFrame({"record_id": ["a", "b", "c"], "given_name": ["Amy", "Amy", "Zed"],
                            "family_name": ["Holt", "Holt", "Quill"], "date_of_birth": ["2015-03-02"] * 2 + [""],
                            "nhs_number": ["", "", ""]})
    assert_same_result(link_in_partitions(records, 5, tmp_path / "work"), link(records))


def test_the_number_of_partitions_is_a_setting():
    assert match_partitions({}) == 1
    assert match_partitions({"MASH_MATCH_PARTITIONS": "4"}) == 4
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="MASH_MATCH_PARTITIONS must be a whole number of at least 1"):
            match_partitions({"MASH_MATCH_PARTITIONS": bad})


def matching_tables(engine) -> dict[str, list[tuple]]:
    """The matching's tables, sorted, without their timestamps."""
    found = {}
    with engine.connect() as conn:
        for table in (child, child_record, child_lineage, record_link, link_review, link_model):
            columns = [c for c in table.columns if not isinstance(c.type, DateTime) and c.name != "lineage_id"]
            found[table.name] = sorted(tuple(map(repr, row)) for row in conn.execute(select(*columns)))
    return found


def test_mash_match_in_partitions_stores_what_mash_match_stores(home, tmp_path, capsys, monkeypatch):
    """Two copies of one store, night after night: one matched in one process, the other in partitions."""
    out = tmp_path / "synth"
    main(["synth", "--children", "250", "--seed", "9", "--nights", "2", "--out", str(out)])
    single = migrate(home.db_url())
    copy_path = tmp_path / "partitioned.db"
    partitioned = migrate(f"sqlite:///{copy_path}")
    summaries = []
    for night in (1, 2):
        main(["deliver", str(out / f"night-{night:02d}")])
        main(["ingest", "--strict"])
        single.dispose()
        partitioned.dispose()
        shutil.copyfile(home.root / "mash.db", copy_path)        # the same store, matched in one process so far
        capsys.readouterr()
        assert main(["match", "--run-id", f"night-{night}"]) == 0
        one = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        with monkeypatch.context() as env:
            env.setenv("MASH_DB_URL", f"sqlite:///{copy_path}")
            assert main(["match", "--run-id", f"night-{night}", "--partitions", "3", "--processes", "2"]) == 0
        many = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        # Both share MASH_HOME, so the partitioned run reuses the features the single run just remembered.
        assert many.pop("features_remembered") == many["records"]
        one.pop("features_remembered")
        assert many == one
        assert matching_tables(partitioned) == matching_tables(single)
        assert not home.matching_work(f"night-{night}").exists()
        summaries.append(one)
    assert summaries[0]["full_relink"] and not summaries[1]["full_relink"]
    assert summaries[1]["links"] > 100
