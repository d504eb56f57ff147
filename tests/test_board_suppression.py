"""Small numbers in the board report: every count from 1 to the threshold is withheld, and no withheld cell can be
worked out from the totals, by any one row or column or any combination of them (property tests on random tables,
checked with a null space computed independently of the suppression's own rank test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.linalg import null_space

from mash.home import config_path
from mash.quality.suites import Thresholds
from mash.report.suppression import SYMBOL, suppress, suppress_share

UP_TO = 4
counts = st.one_of(st.integers(0, 6), st.integers(0, 60))


@st.composite
def tables(draw):
    rows, columns = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    body = np.array(draw(st.lists(st.lists(counts, min_size=columns, max_size=columns), min_size=rows,
                                  max_size=rows)), dtype=np.int64)
    table = pd.DataFrame(body, index=[f"r{i}" for i in range(rows)], columns=[f"c{j}" for j in range(columns)])
    if draw(st.booleans()) and columns > 1:
        table["Total"] = table.sum(axis=1)
    if draw(st.booleans()):
        table.loc["Total"] = table.sum(axis=0)
    return table


def _sums(table: pd.DataFrame) -> list[np.ndarray]:
    """Each published sum as a coefficient vector over the table's cells (flattened row by row)."""
    shape, rows, columns = table.shape, list(table.index), list(table.columns)
    vectors = []
    for axis, labels, others in ((1, rows, columns), (0, columns, rows)):
        if "Total" not in others:
            continue
        for k in range(len(labels)):
            vector = np.zeros(shape)
            line = vector[k, :] if axis == 1 else vector[:, k]
            line[:] = 1
            line[others.index("Total")] = -1
            vectors.append(vector.ravel())
    return vectors


def _determined(table: pd.DataFrame, hidden: np.ndarray) -> list[int]:
    """Withheld cells whose value every completion agrees on: no direction in which the withheld cells can move
    together, keeping every sum, changes them."""
    sums = _sums(table)
    unknown = np.flatnonzero(hidden.ravel())
    if not sums or not len(unknown):
        return [] if not sums else list(unknown)
    freedom = null_space(np.array(sums)[:, unknown])
    return [int(cell) for k, cell in enumerate(unknown) if np.allclose(freedom[k, :], 0)]


@settings(max_examples=400, deadline=None)
@given(tables())
def test_no_total_reveals_a_withheld_cell(table):
    shown = suppress(table, UP_TO)
    hidden = (shown == SYMBOL).to_numpy()
    values = table.to_numpy()
    assert (hidden | ~((values >= 1) & (values <= UP_TO))).all(), "a small count is shown"
    assert (shown.to_numpy()[~hidden] == values[~hidden]).all(), "a shown figure changed"
    assert _determined(table, hidden) == [], "a withheld cell can be worked out from the totals"
    # the rule as the board reads it: never one withheld cell alone in a row (or column) that has a total
    if "Total" in table.columns:
        assert not (hidden.sum(axis=1) == 1).any()
    if "Total" in table.index:
        assert not (hidden.sum(axis=0) == 1).any()


def test_a_table_without_small_numbers_is_unchanged_and_one_small_cell_takes_the_next_smallest_with_it():
    table = pd.DataFrame({"Female": [10, 3, 20], "Male": [12, 9, 30]}, index=["Neglect", "Physical", "Emotional"])
    table["Total"] = table.sum(axis=1)
    table.loc["Total"] = table.sum(axis=0)
    assert suppress(table.drop(index="Physical"), UP_TO).equals(table.drop(index="Physical").astype(object))
    shown = suppress(table, UP_TO)
    assert shown.loc["Physical", "Female"] == SYMBOL and shown.loc["Physical", "Male"] == SYMBOL   # 3, then 9
    assert shown.loc["Neglect", "Female"] == SYMBOL and shown.loc["Neglect", "Male"] == SYMBOL    # then 12 and 10
    assert (shown.loc["Total"] == table.loc["Total"]).all() and shown.loc["Emotional", "Total"] == 50


def test_the_threshold_is_read_from_quality_yaml(tmp_path):
    assert Thresholds.load().board_suppress_up_to == 4
    text = config_path("quality.yaml").read_text(encoding="utf-8")
    custom = tmp_path / "quality.yaml"
    custom.write_text(text.replace("board_suppress_up_to: 4", "board_suppress_up_to: 9"), encoding="utf-8")
    assert Thresholds.load(custom).board_suppress_up_to == 9
    custom.write_text(text.replace("board_suppress_up_to: 4", "board_suppress_up_to: 0"), encoding="utf-8")
    with pytest.raises(ValueError, match="board_suppress_up_to"):
        Thresholds.load(custom)


def test_a_share_is_shown_only_where_neither_its_part_nor_the_rest_is_a_small_number():
    table = pd.DataFrame({"Person records": [3, 40, 40, 40, 0], "Matched to another agency": [3, 38, 2, 20, 0],
                          "Matched %": [100.0, 95.0, 5.0, 50.0, 0.0]},
                         index=["tiny group", "two unmatched", "two matched", "large", "none"])
    shown = suppress_share(table, "Person records", "Matched to another agency", "Matched %", 4)
    assert shown.loc["tiny group"].tolist() == [SYMBOL, SYMBOL, SYMBOL]
    assert shown.loc["two unmatched"].tolist() == [40, SYMBOL, SYMBOL]
    assert shown.loc["two matched"].tolist() == [40, SYMBOL, SYMBOL]
    assert shown.loc["large"].tolist() == [40, 20, 50.0]
    assert shown.loc["none"].tolist() == [0, 0, 0.0]
