"""The extracts' evidence (mash.link.exclusivity): an agency's extract lists a child once, so a candidate alone in
the other extract gains weight when that extract holds most children, and a candidate with a stronger rival
loses it."""

from __future__ import annotations

import numpy as np
import pytest

from mash.link.exclusivity import coverage, exclusivity_weights

SOURCES = np.array(["health", "health", "health", "schools", "schools", "schools"], dtype=object)


def test_coverage_is_the_share_of_records_with_a_likely_match_in_the_other_extract():
    # health 0-2, schools 3-5: two certain matches (0-3, 1-4), one pair of records of nobody in particular (2-5)
    left, right, weight = np.array([0, 1, 2]), np.array([3, 4, 5]), np.array([40.0, 40.0, -40.0])
    covered = coverage(SOURCES, left, right, weight)
    assert covered == pytest.approx({"health>schools": 2.5 / 4, "schools>health": 2.5 / 4})


def test_a_candidate_alone_in_both_extracts_gains_what_the_coverage_says():
    left, right, weight = np.array([0]), np.array([3]), np.array([7.0])
    covered = {"health>schools": 0.75, "schools>health": 0.9}
    gain = exclusivity_weights(SOURCES, left, right, weight, covered)
    assert gain == pytest.approx([-np.log2(0.25) - np.log2(0.1)])
    assert exclusivity_weights(SOURCES, left, right, weight, {}) == pytest.approx([0.0])   # no coverage known


def test_a_stronger_rival_in_the_other_extract_costs_weight():
    # health 0 has two schools candidates, 3 (weight 7) and 4 (weight 12): 4 is the stronger
    left, right, weight = np.array([0, 0]), np.array([3, 4]), np.array([7.0, 12.0])
    covered = {"health>schools": 0.75, "schools>health": 0.9}
    gain = exclusivity_weights(SOURCES, left, right, weight, covered)
    assert gain[0] == pytest.approx(-np.log2(0.25 + 2 ** 12) - np.log2(0.1))
    assert gain[1] == pytest.approx(-np.log2(0.25 + 2 ** 7) - np.log2(0.1))     # the weaker is a rival too
    assert 7.0 + gain[0] < -1 and 12.0 + gain[1] > 8


def test_a_rival_that_is_the_candidate_again_is_no_rival_and_pairs_of_one_source_get_nothing():
    # schools 3 and 4 are one child listed twice (a within-source pair of weight 40); health 0 matches both
    left, right, weight = np.array([0, 0, 3]), np.array([3, 4, 4]), np.array([12.0, 12.0, 40.0])
    covered = {"health>schools": 0.75, "schools>health": 0.9}
    gain = exclusivity_weights(SOURCES, left, right, weight, covered)
    assert gain[:2] == pytest.approx([-np.log2(0.25) - np.log2(0.1)] * 2, abs=1e-6)
    assert gain[2] == 0.0
