"""The board's share of records matched to another agency, per agency and ethnic group: on a handmade example, and
on a generated town matched by the real matcher, against the generator's truth."""

from __future__ import annotations

import pandas as pd
import pytest

from mash.link import link
from mash.link.records import records_from_night
from mash.report.extracts import ethnic_group, matched_by_ethnicity
from mash.synth import generate


def test_shares_per_agency_and_ethnic_group_worked_by_hand():
    links = pd.DataFrame({"record_id": ["schools:U1", "health:1", "schools:U2", "schools:U3", "social_care:L1",
                                        "police:9", "social_care:L2", "schools:U4"],
                          "child_id": ["M1", "M1", "M2", "M3", "M3", "M4", "M5", "M5"]})
    persons = {"schools": pd.DataFrame({"upn": ["U1", "U2", "U3", "U4", "U5"],
                                        "ethnicity": ["WBRI", "APKN", "AIND", "NOBT", None]}),
               "social_care": pd.DataFrame({"child_id": ["L1", "L2"], "ethnicity": ["ABAN", "NOBT"]})}
    table = matched_by_ethnicity(links, persons)
    assert table.to_dict("index") == {
        # U1 matched (health); U2 alone; U3 matched (social care); U4 matched (social care); U5 not placed
        ("schools", "White"): {"Person records": 1, "Matched to another agency": 1, "Matched %": 100.0},
        ("schools", "Asian or Asian British"): {"Person records": 2, "Matched to another agency": 1,
                                                "Matched %": 50.0},
        ("schools", "Information not yet obtained"): {"Person records": 1, "Matched to another agency": 1,
                                                      "Matched %": 100.0},
        ("schools", "Not recorded"): {"Person records": 1, "Matched to another agency": 0, "Matched %": 0.0},
        ("social_care", "Asian or Asian British"): {"Person records": 1, "Matched to another agency": 1,
                                                    "Matched %": 100.0},
        ("social_care", "Information not yet obtained"): {"Person records": 1, "Matched to another agency": 1,
                                                          "Matched %": 100.0},
    }
    assert list(ethnic_group(pd.Series(["MWBC", "BAFR", "CHNE", "OOTH", "REFU", ""]))) == [
        "Mixed", "Black or Black British", "Chinese", "Any other ethnic group", "Refused", "Not recorded"]
    assert matched_by_ethnicity(links, {}).empty


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    out = tmp_path_factory.mktemp("town")
    generate(children=1500, seed=21, nights=1, out=out)
    night = out / "night-01"
    clusters = link(records_from_night(night)).clusters
    persons = {"schools": pd.read_csv(next((night / "schools").glob("*-pupils.csv")), dtype=str,
                                      encoding="utf-8-sig", keep_default_na=False),
               "social_care": pd.read_csv(next((night / "social_care").glob("*-children.csv")), dtype=str,
                                          keep_default_na=False)}
    truth = pd.read_csv(out / "ground_truth.csv", dtype=str)
    return clusters.rename(columns={"person_id": "child_id"}), persons, truth


def test_on_a_generated_town_the_shares_are_those_of_the_truth(town):
    clusters, persons, truth = town
    table = matched_by_ethnicity(clusters, persons)
    # The same figure from the generator's truth: a record is matched where its child has another agency's record.
    true_links = pd.DataFrame({"record_id": truth["agency"] + ":" + truth["record_id"],
                               "child_id": truth["child_key"]})
    expected = matched_by_ethnicity(true_links, persons)
    assert table.index.equals(expected.index)
    assert table["Person records"].equals(expected["Person records"])
    assert table["Person records"].groupby(level=0).sum().to_dict() == {a: len(f) for a, f in persons.items()}
    groups = set(table.index.get_level_values(1))
    assert {"White", "Asian or Asian British", "Black or Black British", "Mixed"} <= groups
    big = table[table["Person records"] >= 30]
    assert len(big) >= 6
    # the matcher finds nearly every true link and makes no false one here, so the shares agree within 2 points
    difference = (big["Matched %"] - expected.loc[big.index, "Matched %"]).abs()
    assert difference.max() <= 2.0, difference.to_dict()
    assert 0 < table.loc[("schools", "White"), "Matched %"] < 100
