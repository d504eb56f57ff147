"""Record linkage end to end: a hand-built town of records with known truth, the officers' constraints, the settings
and the `mash link` command."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest

from mash.cli import main, write_csv
from mash.link import ConstraintConflict, LinkSettings, Model, link
from mash.link.comparisons import Features, invalid_identifiers
from mash.link.blocking import Candidates, block_pairs
from mash.link.model import source_priors

# child | record_id | source | nhs_number | upn | given | middle | family | dob | sex | postcode | address
TOWN = """\
C01|H01|health|4010234563||Mohammed||Khan|2014-03-05|M|LS1 1AA|1 Park Road
C01|S01|schools||J380123401001|Muhammad||Khan|2014-03-05|M|LS1 1AA|1 Park Rd
C01|P01|police|||Mohammad||Khan|2014-05-03|M|LS1 1AA|1 Park Road
C02|H02|health|4010234571||Amelia|Rose|Patel|2016-07-21|F|LS2 2BB|14 Mill Lane
C02|S02|schools||Y380123401002|Amelia||Patel|2016-07-21|F|LS2 2BB|14 Mill Lane
C02|P02|police|||Amelia||Patel|2016-07-21|F|LS2 2BB|14 Mill Lane
C03|H03|health|4010234598||Olivia|Mae|Patel|2016-07-21|F|LS2 2BB|14 Mill Lane
C03|S03|schools||M380123401003|Olivia||Patel|2016-07-21|F|LS2 2BB|14 Mill Lane
C04|H04|health|4010234601||Arjun||Patel|2012-02-14|M|LS2 2BB|14 Mill Lane
C04|S04|schools||B380123401004|Arjun||Patel|2012-02-14|M|LS2 2BB|14 Mill Lane
C05|H05|health|4010234628||William|George|Jones|2011-09-30|M|LS3 3CC|7 Church Street
C05|P05|police|||Bill||Jones|2011-09-30|M|LS3 3CC|7 Church St
C05|S05|schools||Q380123401005|William||Jones|2011-09-30|M|LS3 3CC|7 Church Street
C06|H06|health|4010234636||Łukasz||Wójcik|2013-12-01|M|LS4 4DD|22 Queens Road
C06|S06|schools||E380123401006|Lukasz||Wojcik|2013-12-01|M|LS4 4DD|22 Queens Road
C06|C06|social_care|4010234636||Lukasz||Wojcik|2013-12-01|M|LS4 4DD|22 Queens Rd
C07|H07|health|4010234644||Aisha||Khan-Smith|2015-06-10|F|LS5 5EE|3 Oak Avenue
C07|S07|schools||U380123401007|Ayesha||Smith|2015-06-10|F|LS5 5EE|3 Oak Avenue
C07|C07|social_care|4010234644||Aisha||Khan-Smith|2015-06-10|F|LS5 5EE|3 Oak Ave
C08|H08|health|4010234652||Siobhan||Murphy|2010-04-04|F|LS6 6FF|9 Elm Close
C08|P08|police|||Murphy||Siobhan|2010-04-04|F|LS6 6FF|9 Elm Close
C08|S08|schools||H380123401008|Siobhan||Murphy|2010-04-04|F|LS6 6FF|9 Elm Close
C09|H09|health|4010234660||Baby||Ahmed|2026-10-20|U|LS7 7GG|5 Ash Grove
C09|C09|social_care|4010234660||Zainab||Ahmed|2026-10-20|F|LS7 7GG|5 Ash Grove
C10|H10|health|4010234679||Jakub||Nowak|2012-11-11|M|LS8 8HH|40 Bridge Street
C10|S10|schools||X380123401009|Kuba||Nowak|2012-11-11|M|LS8 8HH|40 Bridge Street
C11|H11|health|4010234687||Grace||Taylor|2009-01-01|F|LS9 9JJ|11 Hill Top
C11|S11|schools||H380123401010|Grace||Taylor|2009-01-01|F|LS9 9JJ|11 Hill Top
C12|H12|health|4010234695||Emily||Brown|2017-08-08|F|LS10 1KK|2 Station Road
C12|S12|schools||X380123401011|Emily||Brown|2017-08-08|F|LS10 1KK|2 Station Road
C13|H13|health|4010234709||Emily||Brown|2017-03-15|F|LS12 3MM|60 Valley Drive
C13|S13|schools||L380123401012|Emily||Brown|2017-03-15|F|LS12 3MM|60 Valley Drive
C14|H14|health|4010234717||Oluwaseun||Adeyemi|2014-10-02|M|LS13 4NN|8 Castle View
C14|P14|police|||Seun||Adeyemi|2014-10-02|M|LS13 4NN|8 Castle View
C15|H15|health|4010234725||Harry||Wilson|2013-05-17|M|LS14 5PP|19 Mount Pleasant
C15|P15|police|4010234726||Harry||Wilson|2013-05-17|M|LS14 5PP|19 Mount Pleasant
C16|H16|health|4010234733||Noah||Smith|2015-09-09|M|LS15 6QQ|31 Green Lane
C17|S17|schools||A380123401013|Noah||Smith|2015-02-02|M|LS16 7RR|4 Meadow Way
C18|H18|health|4010234741||Ruby||Clarke|2011-12-24|F|LS17 8SS|12 Moor Lane
C18|C18|social_care|||Ruby||Clarke|2011-12-24|F|LS17 8SS|12 Moor Lane
C19|H19|health|4010234768||Jack||Clarke|2014-06-02|M|LS17 8SS|12 Moor Lane
C20|S20|schools||P380123401014|Freya||Hughes|2012-07-07|F|LS18 9TT|6 Beech Road
"""
COLUMNS = ["child", "record_id", "source", "nhs_number", "upn", "given_name", "middle_names", "family_name",
           "date_of_birth", "sex", "postcode", "address"]


@pytest.fixture(scope="module")
def town() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(TOWN), sep="|", names=COLUMNS, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def linked(town):
    return link(town.drop(columns="child"))


def partition(records: pd.Series, labels: pd.Series) -> set[frozenset[str]]:
    return {frozenset(group) for group in records.groupby(labels.to_numpy()).agg(list)}


def pair(result, a: str, b: str) -> pd.Series:
    pairs = result.pairs
    found = pairs[((pairs.record_id_l == a) & (pairs.record_id_r == b))
                  | ((pairs.record_id_l == b) & (pairs.record_id_r == a))]
    assert len(found) == 1, f"{a}-{b} is not a candidate pair"
    return found.iloc[0]


def test_the_town_links_into_exactly_its_children(town, linked):
    clusters = linked.clusters.set_index("record_id").loc[town.record_id, "person_id"]
    assert partition(town.record_id, clusters) == partition(town.record_id, town.child)
    assert linked.stats["records"] == len(town) == len(linked.clusters)


def test_twins_and_siblings_are_not_linked(linked):
    twins = pair(linked, "P02", "S03")           # same surname, birthday and address; Amelia and Olivia
    assert twins.decision == "non-link"
    assert twins.w_twins_guard < 0
    assert pair(linked, "H02", "H03").w_nhs_number < -2      # two different valid NHS numbers
    person = linked.clusters.set_index("record_id")["person_id"]
    assert person["H18"] != person["H19"] and person["H02"] != person["H04"]   # siblings


def test_twins_are_scored_but_not_trained_on(linked):
    # EM would take twins (same surname, birthday and home, different given names) for matches with a misspelt
    # given name; they are left out of training, so "given name else" stays rare among matches.
    assert linked.model.training["pairs_left_out_of_training_as_twins"] >= 1
    assert pair(linked, "P02", "S03").w_given_name < 0


def test_weights_sum_to_the_match_weight(linked):
    pairs = linked.pairs
    weights = pairs.filter(regex="^w_").sum(axis=1)
    assert np.allclose(weights, pairs.match_weight)
    assert np.allclose(pairs.match_probability, 2 ** pairs.match_weight / (1 + 2 ** pairs.match_weight))
    assert set(pairs.decision) <= {"link", "review", "clustered", "non-link"}
    assert {"w_nhs_number", "w_upn", "w_given_name", "w_family_name", "w_date_of_birth", "w_sex", "w_home",
            "w_prior"} <= set(pairs.columns)


def test_messy_records_of_one_child_are_linked(linked):
    assert pair(linked, "H01", "P01").decision == "link"     # variant spelling and day/month swapped, no NHS
    assert pair(linked, "H05", "P05").decision == "link"     # Bill for William
    invalid = pair(linked, "H15", "P15")                     # the police NHS number fails its check digit
    assert invalid.l_nhs_number == 0 and invalid.w_nhs_number == 0


def test_invalid_identifiers_are_counted_per_source(linked):
    # P15's NHS number fails its check digit; every other NHS number and UPN in the town is valid.
    counts = linked.stats["invalid_identifiers"]
    assert counts["police"] == {"nhs_number": 1, "upn": 0}
    assert counts["health"] == counts["schools"] == counts["social_care"] == {"nhs_number": 0, "upn": 0}
    odd = pd.DataFrame([{"record_id": "x", "source": "schools", "upn": "A1", "nhs_number": " "},
                        {"record_id": "y", "source": "schools", "upn": "", "nhs_number": "401 023 4563"}])
    assert invalid_identifiers(Features.of(odd)) == {"schools": {"nhs_number": 0, "upn": 1}}


def test_an_uncertain_pair_already_made_one_child_by_links_is_not_queued(town, linked):
    # With a far stricter link threshold, between the weights of Amelia Patel's pairs and the two strongest pairs of
    # Mohammed Khan's three records, his weakest pair is one child through his other two links: that pair needs no
    # officer. Amelia's records link to nothing, so her pairs stay in review until an officer's must-link makes
    # them one child.
    khan = sorted(((pair(linked, a, b).match_weight, (a, b)) for a, b in (("H01", "P01"), ("S01", "P01"),
                                                                            ("H01", "S01"))))
    amelia = max(pair(linked, a, b).match_weight for a, b in (("H02", "S02"), ("H02", "P02"), ("S02", "P02")))
    assert amelia < khan[1][0]
    threshold = (amelia + khan[1][0]) / 2
    strict = dataclasses.replace(LinkSettings.load(), link_probability=2 ** threshold / (1 + 2 ** threshold))
    result = link(town.drop(columns="child"), strict)
    person = result.clusters.set_index("record_id")["person_id"]
    assert pair(result, *khan[1][1]).decision == pair(result, *khan[2][1]).decision == "link"
    assert pair(result, *khan[0][1]).decision == "clustered" and person["H01"] == person["S01"] == person["P01"]
    assert pair(result, "H02", "S02").decision == "review" and person["H02"] != person["S02"]
    decided = link(town.drop(columns="child"), strict, must_link=[("H02", "S02")])
    assert pair(decided, "H02", "S02").decision == "clustered"
    assert pair(decided, "H02", "P02").decision == "review"       # P02 is not one child with them yet
    assert decided.stats["decisions"]["clustered"] == result.stats["decisions"]["clustered"] + 1


def test_must_link_and_cannot_link_are_honoured(town):
    result = link(town.drop(columns="child"), must_link=[("H16", "S17")], cannot_link=[("H01", "S01")])
    person = result.clusters.set_index("record_id")["person_id"]
    assert person["H16"] == person["S17"]
    assert person["H01"] != person["S01"]
    assert person["P01"] in (person["H01"], person["S01"])
    assert result.stats["components_split"] == 1


def test_contradictory_constraints_are_refused(town):
    with pytest.raises(ConstraintConflict):
        link(town.drop(columns="child"), must_link=[("H02", "H03")], cannot_link=[("H02", "H03")])
    with pytest.raises(ValueError, match="not in the input"):
        link(town.drop(columns="child"), cannot_link=[("H02", "nobody")])


def test_oversized_blocks_are_skipped_and_counted():
    keys = np.array([0, 0, 0, 1, 1, -1, 2])
    pairs, stats = block_pairs(keys, max_block_size=2)
    assert pairs.tolist() == [3 * 7 + 4]
    assert stats == {"pairs": 1, "blocks_skipped": 1, "records_in_skipped_blocks": 3}


def test_settings_are_validated(tmp_path):
    assert LinkSettings.load().link_probability > LinkSettings.load().review_probability
    bad = tmp_path / "bad.yaml"
    bad.write_text("decisions:\n  link_probability: 0.4\n")
    with pytest.raises(ValueError, match="review_probability <= link_probability"):
        LinkSettings.load(bad)
    bad.write_text("decisions:\n  link_threshold: 0.99\n")
    with pytest.raises(ValueError, match="unknown keys"):
        LinkSettings.load(bad)


def test_mash_link_writes_clusters_pairs_and_model(town, tmp_path, capsys):
    source = tmp_path / "records.csv"
    town.drop(columns="child").to_csv(source, index=False)
    settings = tmp_path / "settings.yaml"
    settings.write_text("decisions:\n  review_probability: 0.9\n")
    assert main(["link", str(source), "--out", str(tmp_path / "out"), "--settings", str(settings)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"] == len(town)

    clusters = pd.read_csv(tmp_path / "out" / "clusters.csv", dtype=str)
    assert list(clusters.columns) == ["record_id", "person_id"]
    assert sorted(clusters.record_id) == sorted(town.record_id)
    pairs = pd.read_csv(tmp_path / "out" / "pairs.csv")
    assert list(pairs.columns[:5]) == ["record_id_l", "record_id_r", "match_weight", "match_probability",
                                       "decision"]
    assert (pairs.loc[pairs.decision == "review", "match_probability"] >= 0.9).all()
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    levels = {level["label"]: level for level in model["comparisons"]["date_of_birth"]["levels"]}
    assert {"exact", "exact_1_jan", "day_month_swapped"} <= set(levels)
    assert 0 < levels["exact"]["m"] <= 1 and 0 < levels["exact"]["u"] <= 1


@pytest.mark.parametrize("rows", [2, 10])
def test_pairs_csv_is_what_pandas_writes_with_six_significant_digits(tmp_path, rows):
    frame = pd.DataFrame({"record_id_l": ["a", "b", "c", "d"], "match_weight": [12.3456789, -0.000123456, 12.3456789,
                                                                            float("nan")],
                          "w_upn": [0.0, 1e-12, -0.0, 1e12], "l_upn": np.array([0, 1, 2, 1], dtype=np.int8),
                          "w_exclusivity": [-0.0, 0.0, float("inf"), float("-inf")],
                          "decision": ["link", "review", "link", "non-link"]})
    for written in (frame, frame.iloc[:0]):
        write_csv(written, tmp_path / "pairs.csv", rows=rows)
        assert (tmp_path / "pairs.csv").read_text() == written.to_csv(index=False, float_format="%.6g")
    write_csv(frame, tmp_path / "pairs.csv", rows=rows)
    assert (tmp_path / "pairs.csv").read_text().splitlines()[1:3] == ["a,12.3457,0,0,-0,link",
                                                                     "b,-0.000123456,1e-12,1,0,review"]


def test_records_without_candidate_pairs_are_persons_of_their_own():
    result = link(pd.DataFrame({"record_id": ["a", "b"], "given_name": ["Amelia", "Olivia"]}))
    assert sorted(result.clusters.person_id.unique()) == ["P0", "P1"] and result.pairs.empty


def _two_sources(sources: list[str]) -> Features:
    return Features.of(pd.DataFrame({"record_id": [f"r{i}" for i in range(len(sources))], "source": sources}))


def test_each_pair_of_sources_gets_its_own_prior():
    # A and B list each child once and share 900 children; 300 pairs within A carry some evidence of a match (+8,
    # namesakes say): under one prior for every pair they would be thought matches one time in 40; C's extract
    # holds 300 children twice.
    features = _two_sources(["A"] * 1000 + ["B"] * 1000 + ["C"] * 1000)
    cross = [(i, 1000 + i, 30.0) for i in range(900)]
    within_a = [(i, i + 1, 8.0) for i in range(0, 600, 2)]
    within_c = [(2000 + i, 2001 + i, 30.0) for i in range(0, 600, 2)]
    left, right, evidence = (np.array(column) for column in zip(*(cross + within_a + within_c)))
    candidates = Candidates(left, right, {}, {})
    weights, counts = source_priors(features, candidates, evidence, prior=1e-4, iterations=100, tolerance=1e-9)
    overall = np.log2(1e-4 / (1 - 1e-4))
    assert weights["A|B"] > 3 and weights["A|A"] < -2 and weights["C|C"] > 0
    assert "B|B" not in weights and "A|C" not in weights                  # no candidate pairs: overall prior
    assert counts["A|B"] == {"record_pairs": 1_000_000, "candidate_pairs": 900, "expected_matches": 900.0}
    model = Model(m={}, u={}, prior=1e-4, candidate_match_share=0.5, source_prior_weights=weights)
    prior = model.pair_prior_weights(features, np.array([0, 0, 1000, 1000]), np.array([1000, 1, 1001, 2000]))
    assert np.allclose(prior, overall + np.array([weights["A|B"], weights["A|A"], 0.0, 0.0]))


def test_the_model_keeps_its_source_priors(linked):
    stored = Model.from_dict(json.loads(json.dumps(linked.model.as_dict())))
    assert stored.source_prior_weights == linked.model.source_prior_weights
    assert stored.coverage == linked.model.coverage and 0 < linked.model.coverage["police>health"] < 1
    assert linked.model.source_prior_weights["health|police"] > 0 > linked.model.source_prior_weights["health|health"]
    older = linked.model.as_dict()
    del older["source_prior_weights"]                    # a model stored before priors per pair of sources
    assert Model.from_dict(older).source_prior_weights == {}


def test_the_twins_guard_applies_when_an_extract_holds_twins(linked):
    assert linked.model.twins_guarded                    # H02 and H03: one extract, one household, two names
    assert Model.from_dict(json.loads(json.dumps(linked.model.as_dict()))).twins_guarded


def test_without_twins_in_any_file_a_mistyped_given_name_at_home_is_not_guarded(town):
    # Two files of the same people (each person once per file, no twins): a copy whose given name is unrelated
    # but whose surname, birthday and home agree is the same person, not a twin (the town's twin C03 left out).
    people = town[town.child != "C03"].drop_duplicates("child").drop(columns=["child", "nhs_number", "upn"])
    first, second = people.assign(source="A"), people.assign(source="B")
    first["record_id"], second["record_id"] = "A" + first["record_id"], "B" + second["record_id"]
    second.loc[second.record_id == "BH05", "given_name"] = "Kieran"
    result = link(pd.concat([first, second], ignore_index=True))
    assert not result.model.twins_guarded
    renamed = pair(result, "AH05", "BH05")
    assert renamed.w_twins_guard == 0 and renamed.decision == "link"
