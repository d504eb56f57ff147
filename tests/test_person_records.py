"""Person records for the matcher: one schema from every agency, the same from a night folder and from the store,
and the link-quality scoring of bench/link_quality.py."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from bench.link_quality import score
from mash.cli import main
from mash.landing import seal_drop
from mash.link.records import (COLUMNS, PERSON_COLUMNS, current_batches, records_from_night, records_from_store,
                               standardise)
from mash.synth import generate

SEED = 2            # at 300 children this town has an unborn child known to social care


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> Path:
    """Two generated nights for 300 children (ground_truth.csv covers both nights)."""
    out = tmp_path_factory.mktemp("town")
    generate(children=300, seed=SEED, nights=2, out=out, start=date(2026, 11, 2))
    return out


@pytest.fixture(scope="module")
def one_night(tmp_path_factory) -> Path:
    """One generated night, so ground_truth.csv is exactly that night's records."""
    out = tmp_path_factory.mktemp("one_night")
    generate(children=300, seed=SEED, nights=1, out=out, start=date(2026, 11, 2))
    return out


def _ingest(night_dir: Path) -> None:
    assert main(["deliver", str(night_dir)]) == 0
    assert main(["ingest", "--strict"]) == 0


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("record_id").reset_index(drop=True)


def _raw(night_dir: Path, agency: str, file: str, encoding: str = "utf-8-sig") -> pd.DataFrame:
    path = next((night_dir / agency).glob(f"{agency}-*-{file}.csv"))
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)


def test_a_night_gives_one_record_per_ground_truth_record_in_the_person_schema(one_night):
    records = records_from_night(one_night / "night-01")
    assert list(records.columns) == COLUMNS and COLUMNS[:len(PERSON_COLUMNS)] == PERSON_COLUMNS
    truth = pd.read_csv(one_night / "ground_truth.csv", dtype=str, keep_default_na=False)
    expected = truth["agency"] + ":" + truth["record_id"]
    assert records["record_id"].is_unique
    assert sorted(records["record_id"]) == sorted(expected)
    assert set(records["source"]) == {"health", "police", "schools", "social_care", "consent"}
    assert (records["source"] == records["record_id"].str.split(":").str[0]).all()
    assert set(records["sex"]) <= {"M", "F", "U"}
    assert records["date_of_birth"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert not records.isna().any().any()


def test_police_dates_come_out_iso_and_forenames_are_split(one_night):
    night = one_night / "night-01"
    raw = _raw(night, "police", "persons", encoding="cp1252").set_index("person_id")
    police = records_from_night(night).query("source == 'police'").set_index("record_id")
    raw.index = "police:" + raw.index
    raw = raw.loc[police.index]
    day, month, year = raw["date_of_birth"].str.split("/", expand=True).T.values
    assert (police["date_of_birth"] == year + "-" + month + "-" + day).all()
    several = raw["forenames"].str.contains(" ")
    assert several.any() and (~several).any()
    assert (police["given_name"] + (" " + police["middle_names"]).where(several, "") == raw["forenames"]).all()
    assert not police["given_name"].str.contains(" ").any()
    assert (police.loc[~several, "middle_names"] == "").all()
    assert (police["sex"] == raw["sex"]).all()


def test_unborn_children_get_their_expected_date_of_birth(town):
    night = town / "night-01"
    records = records_from_night(night).set_index("record_id")
    children = _raw(night, "social_care", "children")
    unborn = children[children["expected_date_of_birth"] != ""]
    assert len(unborn) and (unborn["date_of_birth"] == "").all()
    assert (records.loc["social_care:" + unborn["child_id"], "date_of_birth"].values
            == unborn["expected_date_of_birth"].values).all()
    health = _raw(night, "health", "persons")
    unborn = health[health["unborn"] == "Y"]
    assert len(unborn)
    assert (records.loc["health:" + unborn["patient_id"], "date_of_birth"].values
            == unborn["date_of_birth"].values).all()
    assert (records.loc["health:" + health["patient_id"], "sex"].values
            == health["gender"].map({"1": "M", "2": "F", "0": "U", "9": "U"}).values).all()


def test_one_mapping_per_agency_standardises_hand_built_rows():
    children = pd.DataFrame({
        "child_id": ["LA1", "LA2"], "nhs_number": ["", " 943 476 5919"], "upn": ["A123", ""],
        "given_name": ["", "Ayesha"], "middle_names": ["", ""], "family_name": ["Khan", "Khan"],
        "former_family_name": ["", "Ali"], "date_of_birth": ["", "2019-04-01"],
        "expected_date_of_birth": ["2027-01-15", ""], "gender": ["0", "2"], "postcode": ["HD1 1AA", "HD2 2BB"],
        "address": ["1 Refuge Row", "2 Home Street"], "address_protected": ["Y", "N"]})
    out = standardise("social_care", children).set_index("record_id")
    assert list(out.index) == ["social_care:LA1", "social_care:LA2"]
    assert list(out["date_of_birth"]) == ["2027-01-15", "2019-04-01"]
    assert list(out["sex"]) == ["U", "F"]
    assert list(out["postcode"]) == ["", "HD2 2BB"] and list(out["address"]) == ["", "2 Home Street"]
    assert list(out["former_family_name"]) == ["", "Ali"] and list(out["upn"]) == ["A123", ""]
    assert out.loc["social_care:LA2", "nhs_number"] == " 943 476 5919"      # the matcher cleans, not this
    police = pd.DataFrame({"person_id": ["P1", "P2", "P3"], "nhs_number": ["", "", ""],
                           "surname": ["Smith", "Jones", "Brown"], "forenames": ["Mary Jane Ann", "Tom", ""],
                           "date_of_birth": ["2015-02-03", "", ""], "sex": ["F", "M", "U"],
                           "postcode": ["", "", ""], "address": ["", "", ""]})
    out = standardise("police", police)
    assert list(out["given_name"]) == ["Mary", "Tom", ""] and list(out["middle_names"]) == ["Jane Ann", "", ""]
    assert list(out["upn"]) == ["", "", ""] and list(out["source"]) == ["police"] * 3
    consent = pd.DataFrame({"consent_id": ["CN1"], "child_id": ["LA1"], "nhs_number": ["9434765919"],
                            "given_name": ["Ayesha"], "family_name": ["Khan"], "date_of_birth": ["2019-04-01"]})
    standard = standardise("consent", consent)
    assert standard.loc[0, "sex"] == "U" and standard.loc[0, "la_child_id"] == "LA1"


def test_the_store_gives_the_same_records_as_the_night_folder(store, home, town):
    _ingest(town / "night-01")
    from_store = records_from_store(store)
    assert len(from_store) > 300
    pd.testing.assert_frame_equal(_sorted(from_store), _sorted(records_from_night(town / "night-01")))

    _ingest(town / "night-02")                       # the latest loaded batch of each agency is current
    assert all("-20261103-" in b for b in current_batches(store).values())
    pd.testing.assert_frame_equal(_sorted(records_from_store(store)),
                                  _sorted(records_from_night(town / "night-02")))


def test_an_identical_persons_file_is_followed_to_the_batch_holding_its_rows(store, home, town, tmp_path):
    _ingest(town / "night-01")
    before = records_from_store(store)
    # health sends night 1's persons file again on 3 November, with one contact fewer
    agency_dir = tmp_path / "night-03" / "health"
    agency_dir.mkdir(parents=True)
    files = {}
    for source in (town / "night-01" / "health").glob("health-20261102-*.csv"):
        target = agency_dir / source.name.replace("20261102", "20261103")
        shutil.copyfile(source, target)
        files[target.stem.rsplit("-", 1)[1]] = target
    events = files["events"].read_bytes()
    files["events"].write_bytes(events[: events.rstrip(b"\r\n").rfind(b"\r\n") + 2])
    seal_drop(agency_dir, "health", date(2026, 11, 3), files)
    _ingest(tmp_path / "night-03")

    current = current_batches(store)["health"]
    assert current.startswith("health-20261103-")
    from mash.status import batches
    assert "identical" in next(b for b in batches(store) if b["batch_id"] == current)["note"]
    after = records_from_store(store)
    pd.testing.assert_frame_equal(_sorted(after), _sorted(before))
    assert (after["source"] == "health").sum() == len(_raw(town / "night-01", "health", "persons"))


def test_a_rejected_later_drop_leaves_the_last_loaded_batch_current(home, engine, town, tmp_path):
    _ingest(town / "night-01")
    night = tmp_path / "night-02"
    shutil.copytree(town / "night-02" / "police", night / "police")
    persons = next((night / "police").glob("*-persons.csv"))
    persons.write_bytes(persons.read_bytes() + b"X\r\n")          # changed after the manifest was written
    main(["deliver", str(night)])
    assert main(["ingest", "--strict"]) == 1
    assert current_batches(engine)["police"].startswith("police-20261102-")
    police = records_from_store(engine).query("source == 'police'")
    assert sorted(police["record_id"]) == sorted(records_from_night(town / "night-01")
                                                 .query("source == 'police'")["record_id"])


def test_an_empty_store_gives_no_records(engine):
    records = records_from_store(engine)
    assert records.empty and list(records.columns) == COLUMNS


def test_score_counts_pairs_against_the_truth():
    truth = pd.DataFrame({"record_id": list("abcdefg"), "child_key": ["1", "1", "1", "2", "2", "3", "4"]})
    # true pairs: ab ac bc de = 4. Predicted: {a,b} {c,d,e} {f,g}: ab cd ce de fg = 5, of which ab de are true.
    clusters = pd.DataFrame({"record_id": list("abcdefg"), "person_id": ["p", "p", "q", "q", "q", "r", "r"]})
    pairs = pd.DataFrame({"record_id_l": ["a", "c", "f", "b"], "record_id_r": ["b", "d", "g", "c"],
                          "decision": ["link", "link", "review", "review"]})
    result = score(truth, clusters, pairs)
    assert result["true_pairs"] == 4 and result["predicted_pairs"] == 5 and result["true_positive_pairs"] == 2
    assert result["precision"] == pytest.approx(2 / 5) and result["recall"] == pytest.approx(2 / 4)
    assert result["auto_link_pairs"] == 2 and result["auto_link_precision"] == pytest.approx(1 / 2)
    assert result["review_pairs"] == 2 and result["review_record_share"] == pytest.approx(4 / 7)
    # a record the clustering left out is a singleton; without pairs.csv the pair figures are absent
    result = score(truth, clusters[clusters["record_id"] != "g"], None)
    assert result["predicted_pairs"] == 4 and result["true_positive_pairs"] == 2
    assert result["auto_link_precision"] is None and result["review_pairs"] is None
    perfect = score(truth, truth.rename(columns={"child_key": "person_id"}), None)
    assert perfect["precision"] == perfect["recall"] == 1.0


def test_the_harness_writes_the_matcher_input_and_scores_the_nhs_baseline(tmp_path, capsys):
    from bench.link_quality import main as link_quality, valid_nhs
    assert list(valid_nhs(pd.Series(["943 476 5919", "9434765918", "943476591", "", "943-476-5919"]))) == [
        "9434765919", "", "", "", "9434765919"]
    out = tmp_path / "lq"
    assert link_quality(["--children", "150", "--seed", "5", "--out", str(out), "--matcher", "nhs"]) == 0
    table = capsys.readouterr().out
    assert "| nhs baseline |" in table
    records = pd.read_csv(out / "input.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    assert list(records.columns) == COLUMNS and sorted(records["record_id"]) == sorted(truth["record_id"])
    assert link_quality(["--out", str(out), "--score-only", str(out / "nhs" / "clusters.csv")]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split("|")
    assert float(row[5]) > 0.95                             # a valid NHS number shared is nearly always one child
    assert 0 < float(row[6]) < 1                            # but most records carry none
