"""Blocking: which pairs of records are compared at all, pass by pass."""

from __future__ import annotations

import pandas as pd

from mash.link.blocking import candidate_pairs
from mash.link.comparisons import Features


def passes_finding(first: dict, second: dict) -> set[str]:
    """The blocking passes that make the two records a candidate pair."""
    records = pd.DataFrame([{"record_id": "a", "source": "health", **first},
                            {"record_id": "b", "source": "police", **second}])
    candidates = candidate_pairs(Features.of(records), max_block_size=500)
    return {name for name, mask in candidates.passes.items() if mask.any()}


def test_names_recorded_swapped_are_compared():
    # Given and family names swapped, one of them mistyped, and no postcode or identifier in common.
    first = {"given_name": "Isabella", "family_name": "Ctercteko", "date_of_birth": "1981-06-26"}
    second = {"given_name": "Ctercteko", "family_name": "Isabela", "date_of_birth": "1981-06-26"}
    assert passes_finding(first, second) == {"dob_and_initials_any_order"}


def test_a_numeric_postal_code_blocks_like_a_uk_postcode():
    # Both names mistyped beyond a phonetic match: only the date of birth and the postcode are in common.
    first = {"given_name": "Nicholas", "family_name": "Humphreys", "date_of_birth": "1946-05-29",
             "postcode": "2131"}
    second = {"given_name": "Nichols", "family_name": "Pulrord", "date_of_birth": "1946-05-29",
              "postcode": "2131"}
    assert passes_finding(first, second) == {"dob_postcode"}


def test_a_child_with_a_mistyped_date_of_birth_and_given_name_is_compared():
    first = {"given_name": "Sophie", "family_name": "Walker", "date_of_birth": "2015-03-12", "postcode": "LS1 1AA"}
    second = {"given_name": "Sophi", "family_name": "Walker", "date_of_birth": "2013-03-21", "postcode": "LS11AA"}
    assert passes_finding(first, second) == {"postcode_family_given_initial"}
    assert passes_finding(first, {**second, "date_of_birth": ""}) == {"postcode_family_given_initial"}


def test_one_dwelling_with_both_names_and_the_date_of_birth_mistyped_is_compared():
    first = {"given_name": "Brianna", "family_name": "Lock", "date_of_birth": "1946-06-18", "postcode": "2131",
             "address": "202 Basedow Street, Blair Athol"}
    second = {"given_name": "Briannna", "family_name": "Lockb", "date_of_birth": "", "postcode": "2131",
              "address": "202 basedow stxreet blair athol"}
    assert passes_finding(first, second) == {"dwelling_initials_any_order"}
    assert passes_finding(first, {**second, "address": "20 Basedow Street"}) == set()
