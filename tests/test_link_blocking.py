"""Blocking: which records each pass pairs for comparison, so that a child with one corrupted field is still
compared, a missing value never keys a block, and an incremental run finds exactly the full run's pairs that
involve its new and changed records."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mash.link.blocking import candidate_pairs
from mash.link.comparisons import Features

RECORDS = pd.DataFrame([
    # record_id, given, family, date of birth, postcode, NHS number
    ("amelia", "Amelia", "Patel", "2015-03-04", "LS1 1AA", ""),
    ("swapped", "Amelia", "Patel", "2015-04-03", "", ""),            # day and month swapped, no postcode
    ("typo", "Amelia", "Patell", "2015-03-04", "LS1 1AA", ""),      # a typo in the family name
    ("renamed", "Zara", "Jones", "2015-03-04", "LS1 1AA", ""),     # same birthday and home only
    ("nhs", "Emma", "Smith", "2012-01-01", "WF1 2AB", "9434765919"),
    ("nhs-again", "Emmy", "Smyth", "2013-02-02", "HD1 3CD", "943 476 5919"),
    ("nothing", "Amelia", "Patel", "", "", ""),                     # no date of birth, no postcode ...
    ("nothing-too", "Amelia", "Patel", "", "", ""),                 # ... twice: missing values are no key
    ("stranger", "Oliver", "Brown", "2016-07-08", "BD1 4EF", ""),
], columns=["record_id", "given_name", "family_name", "date_of_birth", "postcode", "nhs_number"])


def pairs_by_pass(candidates, features) -> dict[frozenset[str], set[str]]:
    found = {}
    for name, mask in candidates.passes.items():
        for left, right in zip(candidates.left[mask], candidates.right[mask]):
            found.setdefault(frozenset({features.record_id[left], features.record_id[right]}), set()).add(name)
    return found


def test_each_pass_pairs_the_records_that_share_its_key_and_no_missing_value_keys_a_block():
    features = Features.of(RECORDS)
    found = pairs_by_pass(candidate_pairs(features, max_block_size=500), features)
    assert "dob_and_initials_any_order" in found[frozenset({"amelia", "swapped"})]
    assert {"given_canonical_dob", "dob_postcode", "postcode_given_canonical"} <= found[frozenset({"amelia",
                                                                                              "typo"})]
    assert "family_dob" not in found[frozenset({"amelia", "typo"})]
    assert found[frozenset({"amelia", "renamed"})] == {"dob_postcode"}
    assert found[frozenset({"nhs", "nhs-again"})] == {"nhs_number"}        # the same number, written differently
    assert not any(pair & {"stranger"} for pair in found)
    # records with no home are paired on their names alone, and only with others that have none
    homeless = {"nothing", "nothing-too", "swapped"}
    assert found[frozenset({"nothing", "nothing-too"})] == {"names_without_home"}
    assert found[frozenset({"nothing", "swapped"})] == {"names_without_home"}
    assert all(pair <= homeless for pair, passes in found.items() if "names_without_home" in passes)
    assert not any(pair & {"nothing", "nothing-too"} and not pair <= homeless for pair in found)


def test_an_incremental_run_finds_the_full_runs_pairs_that_involve_its_records():
    features = Features.of(RECORDS)
    full = candidate_pairs(features, max_block_size=500)
    for record in RECORDS["record_id"]:
        among = (features.record_id == record)
        tonight = candidate_pairs(features, max_block_size=500, among=among)
        involved = among[full.left] | among[full.right]
        np.testing.assert_array_equal(tonight.left, full.left[involved])
        np.testing.assert_array_equal(tonight.right, full.right[involved])


def test_a_block_too_large_is_skipped_in_every_pass_that_keys_on_it():
    twins = pd.DataFrame({"record_id": [f"t{i}" for i in range(4)], "given_name": ["Ann", "Bea", "Cat", "Di"],
                          "family_name": "Khan", "date_of_birth": "2014-05-06", "postcode": ""})
    features = Features.of(twins)
    assert candidate_pairs(features, max_block_size=4).stats["candidate_pairs"] == 6
    skipped = candidate_pairs(features, max_block_size=3)
    assert skipped.stats["candidate_pairs"] == 0
    assert skipped.stats["passes"]["family_dob"]["records_in_skipped_blocks"] == 4


def passes_finding(first: dict, second: dict) -> set[str]:
    """The blocking passes that make the two records a candidate pair."""
    features = Features.of(pd.DataFrame([{"record_id": "a", "source": "health", **first},
                                         {"record_id": "b", "source": "police", **second}]))
    return pairs_by_pass(candidate_pairs(features, max_block_size=500), features).get(frozenset("ab"), set())


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
