"""The synthetic agencies generator: contract-valid, sealed, deterministic, realistic nightly drops."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from stdnum.gb import nhs, upn

from mash.contracts import TRUE_VALUES, contracts
from mash.landing import count_records, read_manifest, sha256_of
from mash.synth import AGENCIES, generate

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
