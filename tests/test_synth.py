"""The synthetic agencies generator: contract-valid, sealed, deterministic, realistic nightly drops."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from stdnum.gb import nhs, upn

from mash.contracts import TRUE_VALUES, contracts
from mash.landing import count_records, read_manifest, sha256_of
from mash.synth import AGENCIES, SHAPES, Shape, generate
from mash.synth.shapes import PLACEHOLDER_POSTCODE, shape_named

START = date(2026, 11, 2)
NIGHTS = 3
CHILDREN = 1500
PERSON_FILES = {"health": ("persons", "patient_id"), "police": ("persons", "person_id"),
                "schools": ("pupils", "upn"), "social_care": ("children", "child_id"),
                "consent": ("consents", "consent_id")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return out, generate(children=CHILDREN, seed=7, nights=NIGHTS, out=out, start=START)


def csv_path(out: Path, night: int, agency: str, file_name: str) -> Path:
    extract = START + timedelta(days=night - 1)
    return out / f"night-{night:02d}" / agency / f"{agency}-{extract:%Y%m%d}-{file_name}.csv"


def read_rows(path: Path, agency: str) -> list[dict[str, str]]:
    encoding = "cp1252" if contracts()[agency].encoding == "windows-1252" else "utf-8-sig"
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def ground_truth(out: Path) -> dict[tuple[str, str, str], str]:
    with (out / "ground_truth.csv").open(encoding="utf-8", newline="") as handle:
        return {(r["agency"], r["contract_file"], r["record_id"]): r["child_key"] for r in csv.DictReader(handle)}


def problems(value: str, column, contract) -> str | None:
    """Why a value breaks its column's contract, or None."""
    if value == "":
        return "required but empty" if column.required else None
    try:
        if column.type == "date":
            datetime.strptime(value, contract.date_format)
        elif column.type == "datetime":
            datetime.strptime(value, contract.datetime_format)
        elif column.type == "integer":
            int(value)
    except ValueError:
        return f"{value!r} does not parse as {column.type}"
    codes = contract.code_lists.get(column.codes, {})
    if column.type == "boolean" and value not in TRUE_VALUES:
        return f"{value!r} is not Y/N"
    if column.type == "code" and value not in codes:
        return f"{value!r} is not in {column.codes}"
    if column.type == "codes" and not all(v in codes for v in value.split(";")):
        return f"{value!r} has a code not in {column.codes}"
    return None


def test_every_row_of_every_file_follows_its_contract(run):
    out, _ = run
    for night in range(1, NIGHTS + 1):
        for agency in AGENCIES:
            contract = contracts()[agency]
            keys = {}
            for spec in contract.files:
                path = csv_path(out, night, agency, spec.name)
                rows = read_rows(path, agency)
                with path.open(encoding="cp1252" if agency == "police" else "utf-8-sig", newline="") as handle:
                    assert next(csv.reader(handle)) == spec.column_names, path.name
                bad = [(i, c.name, why) for i, row in enumerate(rows) for c in spec.columns
                       if (why := problems(row[c.name], c, contract))]
                assert not bad, f"{path.name}: {bad[:5]}"
                key_values = [tuple(row[k] for k in spec.key) for row in rows]
                assert len(set(key_values)) == len(key_values), f"{path.name}: duplicate keys"
                keys[spec.name] = {k[0] for k in key_values} if len(spec.key) == 1 else None
                for column in spec.columns:
                    if column.references:
                        target_file, target_column = column.references.split(".")
                        targets = {r[target_column] for r in read_rows(csv_path(out, night, agency, target_file),
                                                                        agency)}
                        dangling = {row[column.name] for row in rows} - targets - {""}
                        assert not dangling, f"{path.name}.{column.name} -> {column.references}: {sorted(dangling)[:3]}"


def test_identifiers_are_valid(run):
    out, _ = run
    pupils = read_rows(csv_path(out, 1, "schools", "pupils"), "schools")
    assert pupils and all(upn.is_valid(p["upn"]) for p in pupils)
    assert all(upn.is_valid(p["former_upn"]) for p in pupils if p["former_upn"])
    persons = read_rows(csv_path(out, 1, "health", "persons"), "health")
    numbers = [p["nhs_number"] for p in persons if p["nhs_number"]]
    valid = sum(nhs.is_valid(n) for n in numbers)
    assert 0.98 < valid / len(numbers) < 1, "a few health NHS numbers are mistyped, the rest valid"


def test_manifests_match_their_files(run):
    out, _ = run
    for night in range(1, NIGHTS + 1):
        extract = START + timedelta(days=night - 1)
        for agency in AGENCIES:
            folder = out / f"night-{night:02d}" / agency
            manifest = read_manifest(folder / f"{agency}-{extract:%Y%m%d}.manifest.json", agency)
            assert manifest.extract_date == extract
            assert {f.contract_file for f in manifest.files} == {s.name for s in contracts()[agency].files}
            for entry in manifest.files:
                path = folder / entry.name
                assert entry.rows == count_records(path, contracts()[agency].encoding)
                assert entry.sha256 == sha256_of(path)


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    generate(children=400, seed=3, nights=2, out=tmp_path / "a")
    generate(children=400, seed=3, nights=2, out=tmp_path / "b")
    generate(children=400, seed=4, nights=2, out=tmp_path / "c")
    a, b, c = (hashes(tmp_path / x) for x in "abc")
    assert a == b
    assert len(a) == 1 + 2 * sum(len(contracts()[x].files) + 1 for x in AGENCIES)
    assert a.keys() == c.keys() and a != c
    assert a["ground_truth.csv"] != c["ground_truth.csv"]


def test_ground_truth_covers_every_person_record_of_every_night(run):
    out, summary = run
    truth = ground_truth(out)
    for night in range(1, NIGHTS + 1):
        for agency, (file_name, key) in PERSON_FILES.items():
            for row in read_rows(csv_path(out, night, agency, file_name), agency):
                assert (agency, file_name, row[key]) in truth
    assert summary.persons == dict(Counter(agency for agency, _, _ in truth))
    assert set(truth.values()) <= {f"C{i:06d}" for i in range(1, summary.children_total + 1)}


def test_agency_coverage_is_roughly_as_in_life(run):
    _, summary = run
    counts = summary.nights[0]
    n = summary.children
    assert 0.8 * n < counts["health/persons"] < 0.97 * n
    assert 0.5 * n < counts["schools/pupils"] < 0.8 * n
    assert 0.05 * n < counts["police/persons"] < 0.16 * n
    assert 0.04 * n < counts["social_care/children"] < 0.13 * n
    assert 0.02 * n < counts["consent/consents"] < 0.1 * n


def test_valid_nhs_numbers_mostly_name_the_same_child_across_agencies(run):
    out, _ = run
    truth = ground_truth(out)
    children_by_number = defaultdict(set)
    agencies_by_number = defaultdict(set)
    for agency in ("health", "police", "social_care", "consent"):
        file_name, key = PERSON_FILES[agency]
        for row in read_rows(csv_path(out, 1, agency, file_name), agency):
            if row["nhs_number"] and nhs.is_valid(row["nhs_number"]):
                children_by_number[row["nhs_number"]].add(truth[(agency, file_name, row[key])])
                agencies_by_number[row["nhs_number"]].add(agency)
    shared = [n for n, found in agencies_by_number.items() if len(found) > 1]
    assert len(shared) > 100
    assert sum(len(children_by_number[n]) == 1 for n in shared) / len(shared) > 0.98


def test_twins_share_surname_birth_date_and_address_but_not_forename(run):
    out, _ = run
    truth = ground_truth(out)
    persons = read_rows(csv_path(out, 1, "health", "persons"), "health")
    groups = defaultdict(list)
    for p in persons:
        if p["unborn"] == "N":
            groups[(p["family_name"], p["date_of_birth"], p["address"])].append(p)
    twins = [g for g in groups.values() if len({truth[("health", "persons", p["patient_id"])] for p in g}) == 2]
    assert twins
    assert any(g[0]["given_name"] != g[1]["given_name"] for g in twins)


def test_unborn_children_have_placeholder_names_and_expected_dates(run):
    out, _ = run
    unborn = [p for p in read_rows(csv_path(out, 1, "health", "persons"), "health") if p["unborn"] == "Y"]
    assert unborn
    assert {p["given_name"] for p in unborn} <= {"Baby", ""}
    assert all(p["nhs_number"] == "" for p in unborn)
    due = [date.fromisoformat(p["date_of_birth"]) for p in unborn]
    assert max(due) <= START + timedelta(days=200) and sum(d >= START for d in due) > 0.8 * len(due)


def test_police_nhs_numbers_are_mostly_missing_and_dates_are_uk_style(run):
    out, _ = run
    persons = read_rows(csv_path(out, 1, "police", "persons"), "police")
    missing = sum(p["nhs_number"] == "" for p in persons) / len(persons)
    assert 0.55 < missing < 0.85
    assert all(p["date_of_birth"] == "" or p["date_of_birth"][2] == "/" for p in persons)


def test_high_noise_makes_more_errors(tmp_path):
    for noise in ("default", "high"):
        generate(children=3000, seed=7, nights=1, out=tmp_path / noise, noise=noise)

    def missing_health_nhs(folder):
        born = [r for r in read_rows(csv_path(folder, 1, "health", "persons"), "health") if r["unborn"] == "N"]
        return sum(r["nhs_number"] == "" for r in born) / len(born)

    assert missing_health_nhs(tmp_path / "high") > 1.3 * missing_health_nhs(tmp_path / "default")
    with pytest.raises(ValueError):
        generate(children=10, seed=1, nights=1, out=tmp_path / "x", noise="extreme")


def test_later_nights_carry_new_referrals_and_withdrawn_consents(run):
    out, _ = run
    first = {r["referral_id"] for r in read_rows(csv_path(out, 1, "social_care", "referrals"), "social_care")}
    later = read_rows(csv_path(out, 2, "social_care", "referrals"), "social_care")
    new = [r for r in later if r["referral_id"] not in first]
    assert new and all(r["referral_date"] == str(START) for r in new)
    consents_1 = read_rows(csv_path(out, 1, "consent", "consents"), "consent")
    consents_2 = read_rows(csv_path(out, 2, "consent", "consents"), "consent")
    before = {r["consent_id"] for r in consents_1}
    withdrawn = [r for r in consents_2 if r["state"] == "WITHDRAWN" and r["consent_id"] not in before]
    assert withdrawn and all(r["withdrawn_date"] == str(START) for r in withdrawn)
    given_to = {r["child_id"] for r in consents_1 if r["state"] == "GIVEN"}
    assert all(r["child_id"] in given_to for r in withdrawn), "a withdrawal is for a child who had given consent"


def test_records_keep_their_identifiers_and_content_across_nights(run):
    out, _ = run
    for agency, (file_name, key) in PERSON_FILES.items():
        night_1 = {r[key]: r for r in read_rows(csv_path(out, 1, agency, file_name), agency)}
        night_2 = {r[key]: r for r in read_rows(csv_path(out, 2, agency, file_name), agency)}
        kept = night_1.keys() & night_2.keys()
        assert len(kept) > 0.95 * len(night_1), agency
        unchanged = sum(night_1[k] == night_2[k] for k in kept)
        assert unchanged > 0.95 * len(kept), agency


def test_encodings_follow_the_contracts(run):
    out, _ = run
    schools = csv_path(out, 1, "schools", "pupils").read_bytes()
    assert schools.startswith(b"\xef\xbb\xbfupn,")
    for agency in ("health", "social_care", "consent"):
        data = csv_path(out, 1, agency, PERSON_FILES[agency][0]).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf")
        data.decode("utf-8")
    police = csv_path(out, 1, "police", "persons").read_bytes()
    police.decode("cp1252")
    assert b"\r\n" in police


def test_names_reflect_a_diverse_town(run):
    out, _ = run
    pupils = read_rows(csv_path(out, 1, "schools", "pupils"), "schools")
    ethnicity = Counter(p["ethnicity"] for p in pupils)
    share = lambda codes: sum(ethnicity[c] for c in codes) / len(pupils)  # noqa: E731
    assert 0.45 < share(["WBRI"]) < 0.7
    assert 0.08 < share(["APKN", "AIND", "ABAN"]) < 0.22
    assert share(["MWBC", "MWBA", "MWAS", "MOTH"]) > 0.02
    assert any(p["preferred_name"] for p in pupils)
    families = {p["legal_family_name"] for p in pupils}
    assert any("-" in f for f in families)
    assert any(not f.isascii() for f in families) and any(f in families for f in ("Khan", "Hussain", "Begum", "Ahmed"))


# ------------------------------------------------------------------------------------------------------------
# Shapes: other feeds of the same town, each with its truth
# ------------------------------------------------------------------------------------------------------------

SHAPED = 900


@pytest.fixture(scope="module")
def shaped(tmp_path_factory):
    """One night of the same town in the default shape and in a few others (generated once for these tests)."""
    root = tmp_path_factory.mktemp("shapes")
    shapes = {"town": Shape(), "households-no-address": SHAPES["households-no-address"],
              "adults": SHAPES["adults"], "no-address": SHAPES["no-address"], "us": SHAPES["us-addresses"],
              "nl": SHAPES["nl-addresses"], "high": Shape(noise="high"), "heavy": SHAPES["heavy-noise"]}
    for name, shape in shapes.items():
        generate(children=SHAPED, seed=11, nights=1, out=root / name, start=START, shape=shape, with_people=True)
    return root


def person_rows(out: Path, agency: str) -> list[dict[str, str]]:
    return read_rows(csv_path(out, 1, agency, PERSON_FILES[agency][0]), agency)


def keyed(out: Path, agency: str) -> dict[str, dict[str, str]]:
    """The agency's person rows by the person's truth key."""
    truth = ground_truth(out)
    file_name, key = PERSON_FILES[agency]
    return {truth[(agency, file_name, row[key])]: row for row in person_rows(out, agency)}


def test_the_default_shape_writes_what_the_generator_always_wrote(tmp_path):
    generate(children=300, seed=3, nights=1, out=tmp_path / "a")
    generate(children=300, seed=3, nights=1, out=tmp_path / "b", shape=Shape(), with_people=True)
    b = hashes(tmp_path / "b")
    assert b.pop("people.csv") and hashes(tmp_path / "a") == b


def test_a_shape_changes_its_feeds_and_leaves_the_town_and_other_feeds_alone(shaped):
    town, no_address, adults = shaped / "town", shaped / "no-address", shaped / "adults"
    for agency in ("health", "social_care", "consent"):                  # untouched by the no-address shape
        assert csv_path(town, 1, agency, PERSON_FILES[agency][0]).read_bytes() == \
            csv_path(no_address, 1, agency, PERSON_FILES[agency][0]).read_bytes()
    assert csv_path(town, 1, "schools", "pupils").read_bytes() == csv_path(adults, 1, "schools", "pupils").read_bytes()
    children = keyed(town, "health")
    assert {k: v for k, v in keyed(adults, "health").items() if k.startswith("C")} == children


def test_a_source_without_addresses_has_none(shaped):
    for agency in ("police", "schools"):
        rows = person_rows(shaped / "no-address", agency)
        assert rows and all(r["postcode"] == r["address"] == "" for r in rows)
    assert all(r["postcode"] == r["address"] == "" for r in person_rows(shaped / "households-no-address", "schools"))


def test_a_listing_of_households_lists_every_member_with_one_surname_and_address(shaped):
    out = shaped / "households-no-address"
    assert sorted(p.parent.name for p in (out / "night-01").glob("*/*.csv")) == ["health"] * 2 + ["schools"] * 4
    people = {r["child_key"]: r for r in csv.DictReader((out / "people.csv").open(encoding="utf-8"))}
    rows = keyed(out, "health")
    town = keyed(shaped / "town", "health")
    assert len(rows) > 1.5 * len(town)                                  # siblings and parents added
    households = defaultdict(list)
    for key, row in rows.items():
        households[people[key]["household"]].append((key, row))
    listed = {key for key in people if people[key]["household"] in households}
    assert listed - set(rows) == {k for k in listed - set(rows) if k.startswith("C")}
    shared = [members for members in households.values() if len(members) > 1]
    assert len(shared) > 100
    kinds = Counter(people[key]["kind"] for members in shared for key, _ in members)
    assert kinds["adult"] > 100 and kinds["child"] > 100
    for members in shared:
        assert len({(row["postcode"], row["address"]) for _, row in members}) == 1
        girls = {row["family_name"] for _, row in members if row["gender"] == "2"}
        boys = {row["family_name"] for _, row in members if row["gender"] == "1"}
        assert len(girls) <= 1 and len(boys) <= 1                      # gendered surnames differ by sex only
    assert set(town) <= set(rows)                                       # and all the default town's patients
    placeholder = sum(r["postcode"] == PLACEHOLDER_POSTCODE for r in rows.values()) / len(rows)
    assert 0.7 < placeholder < 0.9


def test_adults_are_listed_beside_children_with_their_truth(shaped):
    out = shaped / "adults"
    people = {r["child_key"]: r for r in csv.DictReader((out / "people.csv").open(encoding="utf-8"))}
    truth = ground_truth(out)
    assert set(truth.values()) <= set(people)
    adults = {k for k, r in people.items() if r["kind"] == "adult"}
    assert adults == {k for k in people if k.startswith("A")} and len(adults) > SHAPED // 2
    health, police = keyed(out, "health"), keyed(out, "police")
    in_both = adults & set(health) & set(police)
    assert len(in_both) > 10                                            # true pairs of adults across agencies
    for key in adults & set(health):
        assert date.fromisoformat(health[key]["date_of_birth"]) < START - timedelta(days=int(18 * 365.25))
    incidents = read_rows(csv_path(out, 1, "police", "incidents"), "police")
    roles = {(r["person_id"], r["child_role"]) for r in incidents}
    adult_ids = {police[k]["person_id"] for k in adults & set(police)}
    assert {role for person, role in roles if person in adult_ids} == {"VICTIM", "SUSPECT"}


def test_non_uk_formats_write_the_same_addresses_another_way(shaped):
    uk, us, nl = (keyed(shaped / name, "schools") for name in ("town", "us", "nl"))
    assert uk.keys() == us.keys() == nl.keys()
    zips = [r["postcode"] for r in us.values() if r["postcode"]]
    assert zips and all(len(z) == 5 and z.isdigit() for z in zips)
    assert all(re.fullmatch(r"\d{4} [A-Z]{2}", r["postcode"]) for r in nl.values() if r["postcode"])
    assert all(r["address"].endswith(", Springfield, IL") or "North Springfield" in r["address"]
               for r in us.values() if r["address"])
    same_uk = defaultdict(set)
    for key, row in uk.items():
        same_uk[row["postcode"]].add(nl[key]["postcode"])
    assert all(len(codes) == 1 for codes in same_uk.values())          # one UK unit, one foreign code


def test_heavier_noise_makes_more_errors_than_high(shaped):
    def variants(name):
        town, rows = keyed(shaped / "town", "schools"), keyed(shaped / name, "schools")
        return sum(rows[k]["legal_given_name"] != town[k]["legal_given_name"] for k in rows.keys() & town.keys())
    assert variants("heavy") > 1.2 * variants("high") > 0


def test_shape_options_are_checked_and_presets_compose():
    with pytest.raises(ValueError):
        Shape(no_address=("fire_service",))
    with pytest.raises(ValueError):
        Shape(placeholder_postcodes=(("health", 1.5),))
    with pytest.raises(ValueError):
        Shape(address_format="fr")
    with pytest.raises(ValueError):
        shape_named("nowhere")
    shape = shape_named("households-no-address", noise="heavy", agencies=None)
    assert shape.households and shape.noise == "heavy" and shape.agencies == ("health", "schools")


def test_mash_synth_writes_a_shape(tmp_path, capsys):
    from mash.cli import main
    assert main(["synth", "--children", "120", "--out", str(tmp_path), "--shape", "adults", "--no-address",
                 "schools", "--placeholder-postcodes", "health=1", "--agencies", "health,schools", "--people"]) == 0
    assert sorted(p.name for p in (tmp_path / "night-01").iterdir()) == ["health", "schools"]
    assert all(r["postcode"] == "" for r in person_rows(tmp_path, "schools"))
    assert {r["postcode"] for r in person_rows(tmp_path, "health")} == {PLACEHOLDER_POSTCODE}
    assert any(k.startswith("A") for k in keyed(tmp_path, "health"))
    assert main(["synth", "--children", "10", "--out", str(tmp_path / "x"), "--shape", "moon"]) == 2
    assert "unknown shape" in capsys.readouterr().err
