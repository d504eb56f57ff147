"""Clustering linked records under constraints: components that hold two valid NHS numbers or a cannot-link pair
are rebuilt one by one, strongest links first, and every other component is left as it is."""

from __future__ import annotations

import numpy as np

from mash.link.clusters import cluster
from mash.link.comparisons import text_codes

NONE = np.zeros((0, 2), dtype=np.int64)


def test_each_conflicting_component_is_rebuilt_on_its_own():
    # 0-1-2: records 0 and 2 carry different NHS numbers, the link 1-2 is the weaker one.
    # 3-4-5-6: a cannot-link keeps 3 and 6 apart; 5-6 is the weakest link on the path.
    # 7-8: no conflict; 9: alone.
    left = np.array([0, 1, 3, 4, 5, 7])
    right = np.array([1, 2, 4, 5, 6, 8])
    weight = np.array([9.0, 4.0, 8.0, 7.0, 2.0, 5.0])
    nhs = text_codes(np.array(["4010234563", "", "4010234571", "", "", "", "", "", "", ""], dtype=object))[0]
    label, stats = cluster(10, left, right, weight, np.ones(6, bool), nhs, NONE, np.array([[6, 3]]))
    assert label.tolist() == [0, 0, 2, 3, 3, 3, 6, 7, 7, 9]
    assert stats == {"components_split": 2, "link_pairs_dropped_by_constraints": 2}


def test_must_links_join_first_and_weak_links_that_conflict_are_dropped():
    # 0-1 strong, 1-2 weak, 2-3 strong; a must-link joins 0 and 3, a cannot-link keeps 1 and 2 apart:
    # the must-link and the strong links hold, so 1-2 is dropped but 0-3 brings all four together anyway.
    left, right = np.array([0, 1, 2]), np.array([1, 2, 3])
    weight = np.array([6.0, 1.0, 6.0])
    nhs = np.full(5, -1)                                    # no NHS numbers
    label, stats = cluster(5, left, right, weight, np.array([True, True, True]), nhs, np.array([[0, 3]]),
                           np.array([[4, 0]]))
    assert label.tolist() == [0, 0, 0, 0, 4]
    assert stats["components_split"] == 0
    label, stats = cluster(5, left, right, weight, np.array([True, True, True]), nhs, NONE, np.array([[1, 2]]))
    assert label.tolist() == [0, 0, 2, 2, 4]
    assert stats == {"components_split": 1, "link_pairs_dropped_by_constraints": 1}
