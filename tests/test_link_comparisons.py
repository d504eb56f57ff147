"""Every comparison's levels on hand-picked pairs of records, and the name normalisation they rest on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mash.link.comparisons import Features, by_name, compare
from mash.link.names import GivenNameForms, is_placeholder, normalise_text

NHS_A, NHS_B, NHS_BAD = "4010234563", "4010234571", "4010234564"
UPN_A, UPN_B = "J380123401001", "Y380123401002"


def level(field: str, left: dict, right: dict) -> str:
    """The label of the level the pair (left, right) gets on comparison ``field``."""
    records = pd.DataFrame([{"record_id": "a", **left}, {"record_id": "b", **right}])
    levels = compare(Features.of(records), np.array([0]), np.array([1]))
    return by_name(field).labels()[int(levels.loc[0, field])]


def given(a: str, b: str, **both) -> str:
    return level("given_name", {"given_name": a, "family_name": "Jones", **both},
                 {"given_name": b, "family_name": "Jones", **both})


def family(a: str, b: str) -> str:
    return level("family_name", {"given_name": "Sam", "family_name": a}, {"given_name": "Sam", "family_name": b})


def dob(a: str, b: str) -> str:
    return level("date_of_birth", {"date_of_birth": a}, {"date_of_birth": b})


def test_names_are_transliterated_and_normalised():
    assert normalise_text("Łukasz O'Brien-Wójcik ") == "lukasz obrien wojcik"
    assert given("Łukasz", "Lukasz") == "exact"
    assert family("Wójcik", "WOJCIK") == "exact"
    assert family("Ionuț", "Ionut") == "exact"


@pytest.mark.parametrize("name", ["Baby", "baby", "Unborn", "Infant", "Male", "FEMALE", "Twin 1", "", "Baby Boy"])
def test_placeholder_names_are_missing(name):
    assert is_placeholder(normalise_text(name))
    assert given(name, "Baby") == "null"
    assert given(name, "Amelia") == "null"


@pytest.mark.parametrize("a, b", [("Bill", "William"), ("Mohammed", "Muhammad"), ("Mohamed", "Mohammad"),
                                  ("Kasia", "Katarzyna"), ("Gosia", "Małgorzata"), ("Kuba", "Jakub"),
                                  ("Seun", "Oluwaseun"), ("Siobhan", "Shivon"), ("Aysha", "Aisha"),
                                  ("Hussein", "Husain"), ("Zofia", "Sophia")])
def test_nicknames_and_spelling_variants_are_the_variant_level(a, b):
    assert given(a, b) == "variant"


def test_given_name_levels():
    assert given("Amelia", "Amelia") == "exact"
    assert given("Charlotte", "Charlote") == "one_edit"
    assert given("Yue", "Yeu") == "one_edit"          # one typo in a short name, where Jaro-Winkler is 0.56
    assert given("Christopher", "Christofer") == "jw_0.92"
    assert given("Christopher", "Kristopher") == "jw_0.85"
    assert given("Isabella", "Izabela") == "jw_0.85"
    assert given("Caitlin", "Kaitlyn") == "phonetic"
    assert given("Amelia", "Olivia") == "else"
    swapped = level("given_name", {"given_name": "Siobhan", "family_name": "Murphy"},
                    {"given_name": "Murphy", "family_name": "Siobhan"})
    assert swapped == "swapped"
    assert level("family_name", {"given_name": "Siobhan", "family_name": "Murphy"},
                 {"given_name": "Murphy", "family_name": "Siobhan"}) == "null"   # counted once, as 'swapped'


def test_names_swapped_with_a_typo_are_swapped():
    swapped = lambda a, b: level("given_name", a, b)                   # noqa: E731
    assert swapped({"given_name": "Cassandra", "family_name": "Webb"},
                   {"given_name": "Webb", "family_name": "Casszndra"}) == "swapped"
    assert swapped({"given_name": "Oliver", "family_name": "Jennions"},
                   {"given_name": "Jenions", "family_name": "Olivter"}) == "swapped"   # a typo in each
    assert swapped({"given_name": "Thomas", "family_name": "Butt"},
                   {"given_name": "Matthews", "family_name": "Thomas"}) == "else"     # only one name crosses


def test_variant_forms_come_from_the_data_file():
    forms = GivenNameForms([["Wojciech", "Wojtek"]])
    assert forms.forms("wojtek")[0] == forms.forms("wojciech")[0] == "wojciech"


def test_middle_name_levels():
    middle = lambda a, b: level("middle_name", {"middle_names": a}, {"middle_names": b})   # noqa: E731
    assert middle("Rose", "rose Anne") == "exact"             # the first middle name, normalised
    assert middle("Rose", "Rosa") == "one_edit"
    assert middle("Rose", "Mae") == "else"
    assert middle("Rose", "") == "null"


def test_family_name_levels():
    assert family("Khan-Smith", "Smith") == "half"
    assert family("Smith", "Khan-Smith") == "half"
    assert family("Sutcliffe", "Sutcilffe") == "one_edit"
    assert family("Sutcliffe", "Suttclife") == "jw_0.92"
    assert family("Patel", "Shah") == "else"
    assert family("Smith", "") == "null"


def test_date_of_birth_levels_compare_dates_not_strings():
    assert dob("2014-03-05", "2014-03-05") == "exact"
    assert dob("2014-01-01", "2014-01-01") == "exact_1_jan"
    assert dob("2014-03-05", "2014-05-03") == "day_month_swapped"
    assert dob("2014-03-05", "2014-03-08") == "one_digit"
    assert dob("2014-03-15", "2014-03-51") == "null"                   # not a date
    assert dob("2014-12-13", "2014-12-31") == "one_digit"             # neighbouring digits transposed
    assert dob("2014-02-27", "2014-03-12") == "within_31_days"
    assert dob("2014-02-27", "2014-09-12") == "same_year"
    assert dob("2014-02-27", "2011-09-12") == "else"
    assert dob("1900-01-01", "1900-01-01") == "null"                   # placeholder
    assert dob("", "2014-03-05") == "null"


def test_dates_of_birth_before_1970_are_compared():
    assert dob("1969-12-31", "1969-12-31") == "exact"                 # day -1 since 1970, not 'missing'
    assert dob("1948-09-30", "1948-09-03") == "one_digit"
    assert dob("1948-09-30", "1957-02-11") == "else"


def test_identifier_levels():
    nhs = lambda a, b: level("nhs_number", {"nhs_number": a}, {"nhs_number": b})   # noqa: E731
    assert nhs(NHS_A, "401 023 4563") == "equal"
    assert nhs(NHS_A, NHS_B) == "different"
    assert nhs(NHS_A, NHS_BAD) == "null"                               # fails its check digit: not evidence
    assert nhs("", NHS_A) == "null"
    upn = lambda a, b: level("upn", {"upn": a}, {"upn": b})            # noqa: E731
    assert upn(UPN_A, UPN_A.lower()) == "equal"
    assert upn(UPN_A, UPN_B) == "different"
    assert upn(UPN_A, "A380123401001") == "null"


def test_nhs_numbers_are_valid_exactly_when_python_stdnum_says_so():
    from stdnum.gb import nhs
    rng = np.random.default_rng(7)
    numbers = ["".join(map(str, digits)) for digits in rng.integers(0, 10, size=(3000, 10))]
    numbers += [NHS_A, NHS_BAD, "401 023 4563", "401023456", "40102345631", "401023456X", ""]
    features = Features.of(pd.DataFrame({"record_id": [str(i) for i in range(len(numbers))], "nhs_number": numbers}))
    assert [bool(v) for v in features.nhs_number] == [nhs.is_valid(v) for v in numbers]
    assert 200 < sum(map(bool, features.nhs_number)) < 400        # about one in eleven random numbers is valid


def test_sex_and_home_levels():
    sex = lambda a, b: level("sex", {"sex": a}, {"sex": b})            # noqa: E731
    assert (sex("M", "M"), sex("M", "F"), sex("U", "F"), sex("", "F")) == ("equal", "different", "null", "null")
    home = lambda pa, a, pb, b: level("home", {"postcode": pa, "address": a},   # noqa: E731
                                      {"postcode": pb, "address": b})
    assert home("LS1 1AA", "14 Mill Lane, Leeds", "ls11aa", "14 mill lane") == "same_home"
    assert home("", "14 Mill Lane, Leeds", "LS1 1AA", "14 Mill Lane Leeds") == "same_home"
    assert home("LS1 1AA", "", "LS1 1AA", "14 Mill Lane") == "same_postcode"
    assert home("LS1 1AA", "14 Mill Lane", "LS1 1AA", "3 Oak Avenue") == "neighbours"
    assert home("", "14 Mill Lane", "", "41 Mill Lne") == "similar_address"
    assert home("LS1 1AA", "", "LS1 1BD", "") == "sector"
    assert home("LS1 1AA", "", "LS1 6BD", "") == "district"
    assert home("LS1 1AA", "14 Mill Lane", "M1 1AA", "14 Mill Lane") == "else"     # a move, counted once
    assert home("LS1 1AA", "", "not known", "14 Mill Lane") == "null"
    assert home("LS1 1AA", "", "LS1", "") == "null"                  # a partial postcode is not compared


def test_a_numeric_postal_code_is_compared_whole():
    home = lambda pa, pb: level("home", {"postcode": pa}, {"postcode": pb})   # noqa: E731
    assert home("4223", "4223") == "same_postcode"                 # an Australian postcode, as FEBRL has
    assert home("4223", "4224") == "else"                          # no UK sector or district to share
    assert home("60311", " 60311 ") == "same_postcode"


def test_a_shared_home_is_counted_once():
    # Postcode and address are one comparison: agreeing on both is one level with one weight, not two.
    records = pd.DataFrame([{"record_id": r, "postcode": "HD1 2AB", "address": "158 Deighton Lane"} for r in "ab"])
    levels = compare(Features.of(records), np.array([0]), np.array([1]))
    assert not {"postcode", "address"} & set(levels.columns)
    assert by_name("home").labels()[int(levels.loc[0, "home"])] == "same_home"


def test_a_preferred_middle_or_former_name_is_alternative_evidence():
    known_as = level("given_name", {"given_name": "Oluwaseun", "preferred_name": "Tobi", "family_name": "Adeyemi"},
                     {"given_name": "Tobi", "family_name": "Adeyemi"})
    assert known_as == "exact"
    by_middle = level("given_name", {"given_name": "Mary", "middle_names": "Kate Anne", "family_name": "Doyle"},
                      {"given_name": "Kate", "family_name": "Doyle"})
    assert by_middle == "exact"
    renamed = level("family_name", {"given_name": "Leah", "family_name": "Wood", "former_family_name": "Khan"},
                    {"given_name": "Leah", "family_name": "Khan"})
    assert renamed == "exact"
    assert given("Mary", "Kate") not in {"exact", "variant"}      # without the alternative, no such evidence


def test_neighbours_in_one_street_are_not_the_same_address():
    same_street = level("home", {"postcode": "HD1 2AB", "address": "158 Deighton Lane, Huddersfield"},
                        {"postcode": "HD1 2AB", "address": "141 Deighton Lane, Huddersfield"})
    same_home = level("home", {"postcode": "HD1 2AB", "address": "158 Deighton Lane, Huddersfield"},
                      {"postcode": "HD1 2AB", "address": "158 Deighton Lane Huddersfield"})
    assert same_home == "same_home"
    assert same_street == "neighbours"
