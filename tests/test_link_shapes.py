"""Matching on every shape of the generator's town (mash.synth.shapes): the fitted model keeps its safeguards
whatever the shape, and a household's generations and twins are not merged."""

from __future__ import annotations

import pandas as pd
import pytest

from mash.link import link
from mash.link.comparisons import by_name
from mash.link.model import GENERATION_YEARS, twins_pattern
from mash.link.records import records_from_night
from mash.synth import generate
from mash.synth.shapes import SHAPES, shape_named
from tests.test_link_estimation import assert_monotone


def _night(out, shape: str, children: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One night of the town in ``shape``: its person records, and per record its person and whether an adult."""
    generate(children=children, seed=seed, nights=1, out=out, shape=shape_named(shape), with_people=True)
    truth = pd.read_csv(out / "ground_truth.csv", dtype=str, keep_default_na=False)
    people = pd.read_csv(out / "people.csv", dtype=str, keep_default_na=False)
    truth = pd.DataFrame({"record_id": truth["agency"] + ":" + truth["record_id"], "person": truth["child_key"]}
                         ).merge(people[["child_key", "kind"]].rename(columns={"child_key": "person"}), on="person")
    return records_from_night(out / "night-01"), truth.set_index("record_id")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_models_fitted_on_every_shape_are_monotone_and_pass_their_checks(tmp_path, shape):
    records, _ = _night(tmp_path, shape, children=250, seed=5)
    model = link(records).model
    assert_monotone(model)
    assert model.usable, model.safeguards


@pytest.fixture(scope="module")
def adults(tmp_path_factory):
    records, truth = _night(tmp_path_factory.mktemp("adults"), "adults", children=1500, seed=1)
    return records, truth, link(records)


def test_a_parent_and_a_child_named_alike_are_never_linked(adults):
    records, truth, result = adults
    dob = records.set_index("record_id")["date_of_birth"]
    pairs = result.pairs.assign(
        years=(dob[result.pairs.record_id_l].str[:4].astype(int).to_numpy()
               - dob[result.pairs.record_id_r].str[:4].astype(int).to_numpy()),
        same=(truth.person[result.pairs.record_id_l].to_numpy() == truth.person[result.pairs.record_id_r].to_numpy()))
    # the danger: a parent and a child sharing forename, surname and home, their dates decades apart
    exact = {name: by_name(name).labels().index("exact") for name in ("given_name", "family_name")}
    alike = (~pairs.same & (pairs.years.abs() >= GENERATION_YEARS) & (pairs.l_given_name == exact["given_name"])
             & (pairs.l_family_name == exact["family_name"]))
    assert alike.sum() >= 3
    assert (pairs.loc[alike, "w_generation_guard"] < 0).all()
    assert not (pairs.loc[alike, "decision"] == "link").any()
    assert result.model.training["pairs_left_out_of_training_as_generations"] > 0
    # and no cluster holds a parent with a child
    person_of = result.clusters.set_index("record_id")["person_id"]
    for _, members in truth.groupby(person_of[truth.index].to_numpy()):
        assert members.person.nunique() == 1 or members.kind.nunique() == 1, members


def test_a_date_of_birth_in_another_year_counts_against_more_than_a_nearby_one(adults):
    weights = adults[2].model.weights("date_of_birth")
    labels = by_name("date_of_birth").labels()
    assert weights[labels.index("else")] < weights[labels.index("same_year")] <= 0


@pytest.mark.parametrize("identifier", ["nhs_number", "upn"])
def test_twins_with_alike_given_names_are_told_apart_by_different_identifiers(identifier):
    """Magdalena and Lena, twins: their given names are a variant of one name, so only their two valid
    identifiers (a child keeps one) say they are two children."""
    labels = {name: by_name(name).labels() for name in ("given_name", "family_name", "date_of_birth", "home")}
    pair = {"nhs_number": 0, "upn": 0, "given_name": labels["given_name"].index("variant"),
            "family_name": labels["family_name"].index("exact"), "middle_name": 0,
            "date_of_birth": labels["date_of_birth"].index("exact"), "sex": 1,
            "home": labels["home"].index("same_home")}
    rows = [dict(pair, **{identifier: level}) for level in (0, 1, 2)]     # unknown, the same, different
    assert list(twins_pattern(pd.DataFrame(rows))) == [False, False, True]
    exact = dict(rows[2], given_name=labels["given_name"].index("exact"))  # one child, registered twice
    assert not twins_pattern(pd.DataFrame([exact]))[0]



def test_the_generation_guard_applies_only_where_an_extract_holds_parents_beside_children(adults, tmp_path):
    """Where no extract lists adults (the town of children; two files of people), a pair a generation apart at
    one home is one person whose date of birth is wrong, scored like any other."""
    assert adults[2].model.generations_guarded
    records, _ = _night(tmp_path, "town", children=400, seed=5)
    result = link(records)
    assert not result.model.generations_guarded
    assert (result.pairs["w_generation_guard"] == 0).all()
    assert result.model.training["pairs_left_out_of_training_as_generations"] == 0
