"""The quality bench's figures per name-origin group, child or adult and pair of sources (bench/link_quality.py),
checked on a handmade example, and its shapes run end to end with the NHS-number baseline."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.link_quality import group_scores, main as link_quality, score, source_pair_scores
from mash.synth import SHAPES

# Three children: a and b of English names, c of South Asian; c's records are in three sources.
TRUTH = pd.DataFrame({
    "record_id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],
    "child_key": ["a", "a", "b", "b", "c", "c", "c"],
    "source": ["health", "schools", "health", "police", "health", "schools", "police"],
    "name_origin": ["English", "English", "English", "English", "South Asian", "South Asian", "South Asian"],
})
# r1-r2 rightly linked; r3 (English) wrongly linked to r5 (South Asian); r4 missed; r6-r7 rightly linked.
CLUSTERS = pd.DataFrame({"record_id": ["r1", "r2", "r3", "r5", "r6", "r7"],
                         "person_id": ["p1", "p1", "p2", "p2", "p3", "p3"]})


def by_group(rows: list[dict]) -> dict[str, dict]:
    return {row["group"]: row for row in rows}


def test_precision_and_recall_per_name_origin_group():
    rows = by_group(group_scores(TRUTH, CLUSTERS, "name_origin"))
    english, asian = rows["English"], rows["South Asian"]
    # English: true pairs r1-r2, r3-r4; linked pairs touching it r1-r2 and r3-r5 (the false link counts against both)
    assert (english["records"], english["true_pairs"], english["predicted_pairs"], english["true_positive_pairs"]) \
        == (4, 2, 2, 1)
    assert english["precision"] == english["recall"] == 0.5
    # South Asian: true pairs r5-r6, r5-r7, r6-r7; linked r3-r5 and r6-r7
    assert (asian["true_pairs"], asian["predicted_pairs"], asian["true_positive_pairs"]) == (3, 2, 1)
    assert asian["precision"] == 0.5 and asian["recall"] == pytest.approx(1 / 3)
    assert asian["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    overall = score(TRUTH, CLUSTERS)
    assert overall["true_pairs"] == english["true_pairs"] + asian["true_pairs"]
    assert overall["true_positive_pairs"] == english["true_positive_pairs"] + asian["true_positive_pairs"]


def test_precision_and_recall_per_pair_of_sources():
    rows = by_group(source_pair_scores(TRUTH, CLUSTERS))
    assert set(rows) == {"health / health", "health / police", "health / schools", "police / schools"}
    assert (rows["health / health"]["true_pairs"], rows["health / health"]["predicted_pairs"]) == (0, 1)
    assert rows["health / health"]["precision"] == 0 and rows["health / health"]["recall"] is None
    assert (rows["health / police"]["true_pairs"], rows["health / police"]["predicted_pairs"]) == (2, 0)
    assert rows["health / police"]["recall"] == 0 and rows["health / police"]["precision"] is None
    assert (rows["health / schools"]["precision"], rows["health / schools"]["recall"]) == (1, 0.5)
    assert (rows["police / schools"]["precision"], rows["police / schools"]["recall"]) == (1, 1)


def test_every_shape_is_generated_scored_and_broken_down(tmp_path, capsys):
    out = tmp_path / "lq"
    assert link_quality(["--children", "120", "--seed", "3", "--out", str(out), "--all-shapes",
                         "--matcher", "nhs"]) == 0
    printed = capsys.readouterr().out
    assert "Per name origin:" in printed and "Per source pair:" in printed and "Every shape:" in printed
    for shape in SHAPES:
        truth = pd.read_csv(out / shape / "truth.csv", dtype=str, keep_default_na=False)
        assert {"record_id", "child_key", "source", "name_origin", "kind"} <= set(truth.columns)
        assert (truth["name_origin"] != "").all()
        scores = json.loads((out / shape / "scores.json").read_text())
        assert scores[0]["shape"] == shape and scores[0]["records"] == len(truth)
    hh = pd.read_csv(out / "households-no-address" / "truth.csv", dtype=str, keep_default_na=False)
    assert set(hh["source"]) == {"health", "schools"} and set(hh["kind"]) == {"child", "adult"}
    assert f"| households-no-address | nhs baseline | {len(hh):,} |" in printed
