"""Estimation that cannot collapse: monotone weights, a degenerate EM pass rejected, placeholder values found from
the data, bounded source priors and the model's sanity checks; on the generator's town and on a hostile shape
built here (tests/households.py) on which the matcher once merged siblings and missed every true pair."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mash.link import LinkSettings, Model, link
from mash.link.blocking import PASSES, Candidates
from mash.link.comparisons import COMPARISONS, Features, by_name, compare, dominant_values
from mash.link.model import Patterns, _fit_m, agreement_level, bounded_source_priors, monotone, prior_m
from mash.link.population import last_good_model
from mash.link.records import records_from_night
from mash.store import migrate
from mash.store.schema import link_model
from mash.synth import generate
from tests.households import PLACEHOLDER_POSTCODE, households, pair_scores

SETTINGS = LinkSettings.load()


@pytest.fixture(scope="module")
def hostile():
    records, truth = households()
    return records, truth, link(records)


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(children=400, seed=11, nights=1, out=out)
    return link(records_from_night(out / "night-01"))


def assert_monotone(model: Model) -> None:
    for comparison in COMPARISONS:
        weights = model.weights(comparison.name)[1:]
        assert np.all(np.diff(weights) <= 1e-9), (comparison.name, weights)
        assert weights[agreement_level(comparison) - 1] >= 0, comparison.name   # exact never counts against


def test_the_household_listing_no_longer_collapses(hostile):
    records, truth, result = hostile
    precision, recall, merged_siblings = pair_scores(truth, result.clusters.set_index("record_id")["person_id"])
    assert merged_siblings == 0 and precision >= 0.999
    assert recall >= 0.6                 # the rest (year of birth only against a full date) goes to review
    assert result.model.usable
    # the placeholder postcode and the 1 January standing for "year known" were found from the data
    assert result.stats["dominant_values"]["postcode"]["values"] == 1
    assert result.stats["dominant_values"]["date_of_birth_day_and_month"]["records"] > 500
    exact = by_name("date_of_birth").labels().index("exact")
    assert result.model.weights("date_of_birth")[exact] > 8
    within = result.model.source_prior_weights["listing|listing"]
    assert within <= result.model.source_prior_weights["listing|register"]


def test_fitted_models_are_monotone_and_exact_never_counts_against(hostile, town):
    for model in (hostile[2].model, town.model):
        assert_monotone(model)
        assert model.safeguards["checks"]["weights_monotone"]
    # the per-pair weights too: a common name agreeing exactly never weighs below the next level, nor below 0
    pairs = hostile[2].pairs
    for name in ("given_name", "family_name"):
        agree = agreement_level(by_name(name))
        exact = pairs[f"l_{name}"] == agree
        assert exact.any()
        assert (pairs.loc[exact, f"w_{name}"] >= max(hostile[2].model.weights(name)[agree + 1], 0) - 1e-9).all()


@pytest.mark.parametrize("noise, one_source", [("high", False), ("default", True)])
def test_models_fitted_on_other_shapes_of_the_town_are_monotone(tmp_path, noise, one_source):
    """The generator's town at high noise, and its records as one extract of duplicates (every agency's records
    under one source)."""
    generate(children=300, seed=12, nights=1, out=tmp_path, noise=noise)
    records = records_from_night(tmp_path / "night-01")
    if one_source:
        records = records.assign(source="one")
    result = link(records)
    assert_monotone(result.model)
    assert result.model.usable, result.model.safeguards


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(1e-6, 1.0), min_size=2, max_size=8), st.lists(st.floats(1e-6, 1.0), min_size=8,
                                                                         max_size=8))
def test_monotone_pools_violators_and_keeps_m_a_distribution(m_values, u_values):
    m = np.concatenate(([1.0], np.array(m_values) / sum(m_values)))
    u = np.concatenate(([1.0], np.array(u_values[:len(m_values)]) / sum(u_values[:len(m_values)])))
    fixed, pooled = monotone(m, u)
    weights = np.log2(fixed[1:] / u[1:])
    assert np.all(np.diff(weights) <= 1e-9) and weights[0] >= -1e-9
    assert np.isclose(fixed[1:].sum(), 1.0)
    if np.all(np.diff(np.log2(m[1:] / u[1:])) <= 0):
        assert pooled == 0 and np.allclose(fixed, m)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.floats(0.0, 0.95), st.floats(0.0, 0.6))
def test_models_fitted_on_any_household_shape_are_monotone(seed, placeholder_share, year_only_share):
    records, truth = households(n_households=150, seed=seed, placeholder_share=placeholder_share,
                                year_only_share=year_only_share)
    result = link(records)
    assert_monotone(result.model)
    assert pair_scores(truth, result.clusters.set_index("record_id")["person_id"])[2] == 0   # no siblings merged


def test_a_placeholder_postcode_gives_no_evidence():
    records, _ = households(n_households=200, seed=3)
    features, found = dominant_values(Features.of(records), SETTINGS.dominant_value_share,
                                      SETTINGS.dominant_name_share, SETTINGS.dominant_value_min_records)
    assert found["postcode"] == {"values": 1, "records": int((records.postcode == PLACEHOLDER_POSTCODE).sum())}
    placeholder = np.flatnonzero(records.postcode.to_numpy() == PLACEHOLDER_POSTCODE)
    no_address = features.replaced(address=np.full(len(features), "", dtype=object),
                                   address_numbers=np.full(len(features), "", dtype=object))
    levels = compare(no_address, placeholder[:-1], placeholder[1:])
    assert (levels["home"] == 0).all()                             # null: no weight either way
    real = np.flatnonzero((records.postcode.to_numpy() != PLACEHOLDER_POSTCODE) & (records.postcode != "").to_numpy())
    assert (features.postcode[real] != "").all()                   # real postcodes kept


def test_a_real_population_has_no_placeholders(town):
    assert town.stats["dominant_values"] == {}


def _forced_collapse(features: Features, levels: pd.DataFrame, candidates: Candidates):
    """A pass whose pairs are all two different children sharing a household (same family name and home, other
    names and dates): EM over it finds no person-like matches."""
    return _fit_m(Patterns.of(levels), candidates, {c.name: np.concatenate(([1.0], np.full(len(c.levels),
                                                                                            1 / len(c.levels))))
                                                    for c in COMPARISONS}, 100, 1e-6, 1e-6,
                  np.ones(len(levels), bool))


def test_a_degenerate_em_pass_is_rejected_and_falls_back(hostile, monkeypatch):
    records, truth, result = hostile
    features = Features.of(records)
    listing = np.flatnonzero(records.source.to_numpy() == "listing")
    household = records.iloc[listing].groupby(["family_name", "address"]).indices
    left, right = [], []
    for members in household.values():
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                a, b = sorted((listing[members[i]], listing[members[j]]))
                left.append(a)
                right.append(b)
    order = np.lexsort((right, left))
    left, right = np.array(left)[order], np.array(right)[order]
    levels = compare(features, left, right)
    only = {p.name: (p.name == "postcode_family_given_initial") for p in PASSES}
    passes = [dataclasses.replace(p, trains=True) if p.name == "postcode_family_given_initial" else p
              for p in PASSES]
    candidates = Candidates(left, right, {name: np.full(len(left), chosen) for name, chosen in only.items()}, {})
    monkeypatch.setattr("mash.link.model.PASSES", tuple(passes))
    m, per_pass, from_prior = _forced_collapse(features, levels, candidates)
    assert "rejected" in per_pass["postcode_family_given_initial"]
    assert "given_name" in from_prior and np.allclose(m["given_name"][0], 1.0)
    assert m["given_name"][2] == max(m["given_name"][1:])           # the prior: exact the likeliest level


def test_a_within_source_prior_far_above_the_cross_source_one_is_bounded():
    bounded, lowered = bounded_source_priors({"A|A": 12.0, "A|B": 2.0, "B|B": -3.0, "C|C": 9.0})
    assert lowered == ["A|A"] and bounded["A|A"] == 6.0 and bounded["B|B"] == -3.0
    assert bounded["C|C"] == 9.0                 # no pair with another source: nothing to bound it by


def test_a_model_failing_its_checks_is_not_used_when_a_good_one_is_given(hostile, town, monkeypatch):
    records, truth, result = hostile
    good = result.model
    failing = dataclasses.replace(town.model, safeguards={**town.model.safeguards,
                                                          "checks": {"an_em_pass_accepted": False}})
    assert not failing.usable and good.usable
    monkeypatch.setattr("mash.link.estimate", lambda *args: failing)
    used = link(records, fallback=good)
    assert used.stats["model"] == {"estimated_usable": False, "used": "fallback",
                                   "failed_checks": ["an_em_pass_accepted"]}
    assert used.model.m is good.m and used.model.prior == pytest.approx(good.prior)
    alone = link(records)                                       # without a good model: used, and said so
    assert alone.stats["model"]["used"] == "estimated" and not alone.stats["model"]["estimated_usable"]
    stored = Model.from_dict(good.as_dict())
    assert stored.usable and stored.safeguards == good.safeguards


def test_the_weak_prior_has_one_value_per_level():
    for comparison in COMPARISONS:
        assert len(prior_m(comparison)) == len(comparison.levels) + 1


def test_the_store_gives_the_last_model_that_passed_its_checks(hostile, town, tmp_path):
    engine = migrate(f"sqlite:///{tmp_path / 'store.db'}")
    good = hostile[2].model
    failing = dataclasses.replace(town.model, safeguards={**town.model.safeguards,
                                                          "checks": {"an_em_pass_accepted": False}})
    with engine.begin() as conn:
        assert last_good_model(conn) is None
        for run, minutes, model in (("night-1", 1, good), ("night-2", 2, failing)):
            conn.execute(link_model.insert().values(run_id=run, records=10, model=json.dumps(model.as_dict()),
                                                    created_at=datetime(2026, 12, 1, 0, minutes,
                                                                        tzinfo=timezone.utc)))
        found = last_good_model(conn)
    assert found is not None and found.usable and found.m["date_of_birth"].tolist() == good.m[
        "date_of_birth"].tolist()


def test_mash_match_scores_with_the_last_good_model_when_tonights_fails_its_checks(home, tmp_path, capsys,
                                                                                    monkeypatch):
    import mash.link
    from mash.cli import main
    out = tmp_path / "synth"
    main(["synth", "--children", "150", "--seed", "4", "--nights", "1", "--out", str(out)])
    main(["deliver", str(out / "night-01")])
    main(["ingest", "--strict"])
    capsys.readouterr()
    assert main(["match", "--run-id", "night-1", "--full"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["model_checks_failed"] == 0 and not first["last_good_model_used"]
    estimate = mash.link.estimate

    def failing(*args):
        model = estimate(*args)
        return dataclasses.replace(model, safeguards={**model.safeguards, "checks": {"an_em_pass_accepted": False}})

    monkeypatch.setattr("mash.link.estimate", failing)
    assert main(["match", "--run-id", "night-2", "--full"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["model_checks_failed"] == 1 and second["last_good_model_used"]
    assert second["children"] == first["children"]
    engine = migrate(home.db_url())
    with engine.connect() as conn:
        stored = dict(conn.execute(link_model.select().with_only_columns(link_model.c.run_id, link_model.c.model)
                                   ).all())
    assert Model.from_dict(json.loads(stored["night-2"])).usable


def test_coverage_is_capped():
    records, _ = households(n_households=80, seed=5)
    listing = records[records.source == "listing"]
    copy = listing.assign(source="copy", record_id="C" + listing.record_id)
    result = link(pd.concat([listing, copy], ignore_index=True))
    assert result.model.safeguards["coverage_capped"] == ["copy>listing", "listing>copy"]
    assert max(result.model.coverage.values()) == 0.99
