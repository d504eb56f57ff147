"""Incremental linkage: a night's new and changed records against the population linked before, compared with a
full relink of the same records, on a small generated town; last night's features remembered and reused; and `mash
match` choosing between the two."""

from __future__ import annotations

import json
import stat

import numpy as np
import pandas as pd
import pytest

from mash.cli import main
from mash.link import Previous, evidence_pairs, link
from mash.link.comparisons import RECORD_ARRAYS, Features, compare, person_schema
from mash.link.incremental import RecordIds, fingerprints, kept_pairs, recall, remember
from mash.link.records import records_from_night
from mash.synth import generate


@pytest.fixture(scope="module")
def tonight(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("synth")
    generate(children=500, seed=5, nights=1, out=out)
    return records_from_night(out / "night-01")


@pytest.fixture(scope="module")
def last_night(tonight) -> pd.DataFrame:
    """Tonight's records as they were the night before: 10% of them did not exist yet, and 5% have changed since
    (a new address, a corrected surname)."""
    rng = np.random.default_rng(3)
    earlier = tonight[rng.random(len(tonight)) >= 0.10].copy()
    changed = earlier.sample(frac=0.05, random_state=4).index
    earlier.loc[changed[::2], "postcode"] = ""
    earlier.loc[changed[::2], "address"] = "1 Old Road"
    earlier.loc[changed[1::2], "family_name"] = earlier.loc[changed[1::2], "family_name"] + "x"
    return earlier.reset_index(drop=True)


def previous_of(result, records: pd.DataFrame) -> Previous:
    """What the store keeps of a run: fingerprints, the pairs that count as evidence with their weights (not
    levels)."""
    return Previous(pd.Series(result.fingerprints, index=result.clusters["record_id"].to_numpy()),
                    evidence_pairs(result), result.model, len(records))


def partition(result) -> set[frozenset[str]]:
    return {frozenset(group) for group in result.clusters.groupby("person_id")["record_id"].agg(list)}


@pytest.fixture(scope="module")
def runs(tonight, last_night):
    before = link(last_night)
    previous = previous_of(before, last_night)
    incremental = link(tonight, previous=previous)
    everything = link(tonight, previous=Previous(previous.fingerprints.iloc[:0], previous.pairs.iloc[:0],
                                                  previous.model, previous.records))
    return before, incremental, everything, link(tonight)


def test_only_new_and_changed_records_are_scored(tonight, last_night, runs):
    _, incremental, _, _ = runs
    before = pd.Series(fingerprints(person_schema(last_night)), index=last_night["record_id"].to_numpy())
    now = pd.Series(fingerprints(person_schema(tonight)), index=tonight["record_id"].to_numpy())
    new_or_changed = set(now.index[now.index.map(before).to_numpy() != now.to_numpy()])
    assert len(tonight) * 0.12 < len(new_or_changed) < len(tonight) * 0.2       # 10% new, ~5% changed
    assert set(incremental.clusters["record_id"][incremental.rescored]) == new_or_changed
    scored = incremental.pairs[incremental.pairs["l_given_name"].notna()]            # scored tonight
    assert len(scored) and (scored["record_id_l"].isin(new_or_changed)
                            | scored["record_id_r"].isin(new_or_changed)).all()
    kept = incremental.pairs[incremental.pairs["l_given_name"].isna()]
    assert incremental.stats["pairs_kept"] == len(kept) > 100
    assert not (kept["record_id_l"].isin(new_or_changed) | kept["record_id_r"].isin(new_or_changed)).any()
    assert incremental.stats["records_rescored"] == len(new_or_changed)


def test_incremental_agrees_with_a_full_relink(runs):
    _, incremental, everything, reestimated = runs
    assert partition(incremental) == partition(everything)           # the same model: the same children
    decisions = [r.pairs.set_index(["record_id_l", "record_id_r"])["decision"] for r in (incremental, everything)]
    links = [set(d.index[d == "link"]) for d in decisions]
    assert links[0] == links[1]
    # A full relink also re-estimates the model on tonight's records: the children barely differ.
    a = incremental.clusters.set_index("record_id")["person_id"]
    b = reestimated.clusters.set_index("record_id")["person_id"].loc[a.index]
    mixed = pd.DataFrame({"a": a.to_numpy(), "b": b.to_numpy()})
    assert (mixed.groupby("a")["b"].nunique() > 1).sum() <= 0.01 * mixed["a"].nunique()


def test_mash_match_is_incremental_once_a_population_exists(store, home, tmp_path, capsys):
    out = tmp_path / "synth"
    main(["synth", "--children", "200", "--seed", "8", "--nights", "2", "--out", str(out)])
    main(["deliver", str(out / "night-01")])
    main(["ingest", "--strict"])
    capsys.readouterr()
    assert main(["match", "--run-id", "night-1"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["full_relink"] and first["records_rescored"] == first["records"]
    assert first["features_remembered"] == 0
    assert {key for key in first if key.startswith("invalid_")} == {
        f"invalid_{identifier}_{source}" for identifier in ("nhs_number", "upn")
        for source in ("health", "police", "schools", "social_care", "consent")}
    main(["deliver", str(out / "night-02")])
    main(["ingest", "--strict"])
    capsys.readouterr()
    assert main(["match", "--run-id", "night-2"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not second["full_relink"] and second["records_rescored"] < second["records"] / 10
    # Last night's features were remembered under MASH_HOME; only the new and changed records' are worked out.
    # (a new record whose values equal a remembered record's, say a repeated consent row, reuses its features)
    assert second["records"] - second["records_rescored"] <= second["features_remembered"] < second["records"]
    assert second["new_children"] <= second["records_rescored"]
    # The features file is a cache: when it cannot be written the night is still matched and stored.
    features = home.matching_features()
    features.unlink()
    features.mkdir()                                    # a directory where the file should be: not writable
    assert main(["match", "--run-id", "night-2-again"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["features_remembered"] == 0 and again["records_rescored"] == 0
    features.rmdir()
    assert main(["match", "--run-id", "night-2-full", "--full"]) == 0
    relinked = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert relinked["full_relink"] and relinked["records_rescored"] == relinked["records"]
    assert relinked["features_remembered"] == 0                     # nothing was remembered by the run before it
    assert main(["match", "--run-id", "night-2-full-again", "--full"]) == 0
    relinked_again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert relinked_again["features_remembered"] == relinked_again["records"]      # a full relink reuses them too
    # The full relink re-estimates the model on tonight's records, so a borderline pair may fall either side.
    assert abs(relinked["children"] - second["children"]) <= 0.01 * second["children"]
    assert relinked["records_moved"] <= 0.01 * relinked["records"]


def test_pairs_compared_among_their_records_get_the_levels_they_get_among_all(tonight):
    features = Features.of(tonight)
    assert features.alternatives is not None                          # preferred, middle and former names
    rng = np.random.default_rng(7)
    left, right = rng.integers(0, len(features), 2000), rng.integers(0, len(features), 2000)
    involved = np.unique(np.concatenate([left, right]))
    among = features.at(involved)
    assert len(among) == len(involved) < len(features)
    assert set(among.record_id[among.alternative_of]) == set(
        features.record_id[features.alternative_of[np.isin(features.alternative_of, involved)]])
    levels = compare(among, np.searchsorted(involved, left), np.searchsorted(involved, right))
    pd.testing.assert_frame_equal(levels, compare(features, left, right))


def test_previous_pairs_are_kept_only_between_present_unchanged_records(runs):
    before, _, _, _ = runs
    pairs = before.pairs[before.pairs["decision"] != "non-link"]
    disjoint, seen = [], set()
    for position, ids in enumerate(zip(pairs["record_id_l"], pairs["record_id_r"])):
        if not seen.intersection(ids):
            disjoint.append(position)
            seen.update(ids)
    pairs = pairs.iloc[disjoint[:3]]                                    # three pairs of six records
    previous = Previous(pd.Series(dtype=object), pairs, before.model, len(before.clusters))
    a, b, c = pairs[["record_id_l", "record_id_r"]].itertuples(index=False)
    tonight = RecordIds(np.array(["new", a[1], c[1], a[0], c[0]], dtype=object))     # b's records are gone
    unchanged_records = np.array([False, True, False, True, True])  # c[1] has changed
    kept, left, right = kept_pairs(previous, tonight, unchanged_records)
    assert list(zip(kept["record_id_l"], kept["record_id_r"])) == [a]
    assert (tonight.ids[left].tolist(), tonight.ids[right].tolist()) == ([a[0]], [a[1]])


class WeakRecordIds(RecordIds):
    """Record ids hashed by their length alone: every id of one length collides, as 64-bit hashes almost never do."""
    @staticmethod
    def _hashed(ids: np.ndarray) -> np.ndarray:
        return np.array([len(value) for value in ids], dtype=np.uint64)


@pytest.mark.parametrize("kind", [RecordIds, WeakRecordIds])
def test_records_are_found_by_their_own_id_whatever_their_ids_hash_to(kind):
    ids = kind(np.array(["health:1", "police:22", "police:33", "schools:4"], dtype=object))
    wanted = ["police:33", "police:44", "health:1", "schools:5", "health:", "police:22"]
    assert ids.positions(wanted).tolist() == [2, -1, 0, -1, -1, 1]


def test_tonight_s_ids_hashing_alike_find_only_their_own_records():
    """Tonight's ids have lengths 8, 9 and 10, so no two of them share a hash; an id of last night with the same
    hash as one of tonight's is still not taken for it."""
    ids = WeakRecordIds(np.array(["health:1", "police:22", "schools:33"], dtype=object))
    assert ids.positions(["health:2", "police:23", "schools:33"]).tolist() == [-1, -1, 2]


@pytest.mark.parametrize("records", [["a", "b", "a"], ["", "b"]])
def test_a_repeated_or_missing_record_id_is_refused(tonight, records):
    frame = tonight.head(len(records)).assign(record_id=records)
    with pytest.raises(ValueError, match="record_id"):
        link(frame)


def test_fingerprints_are_pandas_hash_of_the_values_so_stored_ones_stay_valid(tonight):
    """Worked out column by column, the fingerprints are still pandas' hash of the person-schema values (the
    store holds fingerprints of earlier nights): unique, repeated and empty columns alike."""
    schema = person_schema(tonight.assign(upn=[f"U{n}" for n in range(len(tonight))]))
    expected = pd.util.hash_pandas_object(schema.drop(columns="record_id"), index=False).to_numpy(dtype=np.uint64)
    assert (fingerprints(schema) == expected).all()
    assert (fingerprints(schema, rows=7) == expected).all()                        # in blocks, the last one short
    changed = schema.copy()
    changed.loc[7, "address"] += " Flat 2"
    assert (fingerprints(changed) != fingerprints(schema)).tolist() == [n == 7 for n in range(len(schema))]


def assert_same_features(a: Features, b: Features, ignore: frozenset[str] = frozenset()) -> None:
    """Equal features, but for the numbering of given names (ids that follow the order names are met in) and the
    order of the alternative-name rows: neither changes a comparison."""
    numbering = {"given_id", "given_variant_codes", "given_id_count", "alternatives", "alternative_of",
                 "alternative_for", *ignore}
    for name in RECORD_ARRAYS:
        if name not in numbering:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (pd.factorize(a.given_id)[0] == pd.factorize(b.given_id)[0]).all()

    def alternatives(f: Features) -> list:
        if f.alternatives is None:
            return []
        ids = f.alternatives.record_id if "record_id" not in ignore else np.zeros(len(f.alternative_of))
        return sorted(zip(f.alternative_of, f.alternative_for, f.alternatives.given, f.alternatives.family,
                          f.alternatives.given_key, ids))
    assert alternatives(a) == alternatives(b)


def assert_codes_stand_for_values(features: Features) -> None:
    """Each text attribute's codes (remembered, carried over from last night's or worked out) stand for its values:
    one code per distinct value, -1 for ''. Equal codes are what blocking and the comparisons take for equal
    values."""
    for name in RECORD_ARRAYS:
        values = getattr(features, name)
        if values.dtype == object:
            codes, distinct = features.codes(name)
            np.testing.assert_array_equal(np.append(distinct, "")[codes], values, err_msg=name)
            assert (codes[values == ""] == -1).all() and pd.Index(distinct).is_unique, name


def test_remembered_features_are_those_worked_out_afresh(tonight, last_night, runs, tmp_path):
    before, incremental, _, _ = runs
    path = tmp_path / "work" / "features.npz"
    remember(path, before.features, before.fingerprints)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600                  # personal data: owner only
    remembered = recall(path)
    assert_same_features(remembered.features, before.features, frozenset({"record_id"}))   # found by values
    assert_codes_stand_for_values(remembered.features)
    np.testing.assert_array_equal(remembered.fingerprints, before.fingerprints)

    schema = person_schema(tonight)
    prints = fingerprints(schema)
    at = remembered.positions(prints)
    unchanged_tonight = ~incremental.rescored
    assert (at[unchanged_tonight] >= 0).all()
    # A record is found by its values: any other record found has the values of a remembered one.
    assert (remembered.fingerprints[at[at >= 0]] == prints[at >= 0]).all()
    assert (at[~unchanged_tonight] >= 0).sum() < 0.1 * (~unchanged_tonight).sum()
    reusing = Features.of(tonight, earlier=remembered.features, earlier_at=at)
    assert_same_features(reusing, Features.of(tonight))
    assert_codes_stand_for_values(reusing)
    assert_codes_stand_for_values(reusing.alternatives)

    reused = link(tonight, previous=previous_of(before, last_night), remembered=remembered)
    assert reused.stats["features_remembered"] == (at >= 0).sum()
    pd.testing.assert_frame_equal(reused.clusters, incremental.clusters)
    pd.testing.assert_frame_equal(reused.pairs, incremental.pairs)


def test_remembered_features_are_not_used_when_missing_unreadable_or_made_by_another_matcher(runs, tmp_path):
    before, _, _, _ = runs
    assert recall(tmp_path / "none.npz") is None
    (tmp_path / "garbage.npz").write_bytes(b"not an npz file")
    assert recall(tmp_path / "garbage.npz") is None
    path = tmp_path / "features.npz"
    remember(path, before.features, before.fingerprints)
    with np.load(path) as stored:
        arrays = dict(stored)
    arrays["recipe"] = np.frombuffer(b"another version of the matcher", dtype=np.uint8)
    np.savez(tmp_path / "other.npz", **arrays)
    assert recall(tmp_path / "other.npz") is None
    del arrays["given"]
    arrays["recipe"] = dict(np.load(path))["recipe"]
    np.savez(tmp_path / "truncated.npz", **arrays)
    assert recall(tmp_path / "truncated.npz") is None
    arrays = dict(np.load(path))
    np.savez(tmp_path / "short.npz", **{**arrays, "dob": arrays["dob"][1:]})
    assert recall(tmp_path / "short.npz") is None
    np.savez(tmp_path / "codes.npz", **{**arrays, "family": arrays["family"] + len(before.features)})
    assert recall(tmp_path / "codes.npz") is None
    assert recall(path) is not None                    # the file they were made from is fine


def test_a_field_empty_in_every_record_is_remembered_night_after_night(tonight, tmp_path):
    records = tonight.assign(upn="", postcode="")                    # say, feeds without UPNs or postcodes
    prints = fingerprints(person_schema(records))
    path = tmp_path / "features.npz"
    remember(path, Features.of(records), prints)
    for _ in range(2):                                                 # recalled and reused, remembered again
        remembered = recall(path)
        assert remembered is not None
        reusing = Features.of(records, earlier=remembered, earlier_at=remembered.positions(prints))
        assert_same_features(reusing, Features.of(records))
        assert (reusing.codes("upn")[0] == -1).all() and (reusing.codes("postcode")[0] == -1).all()
        remember(path, reusing, prints)
