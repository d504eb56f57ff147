"""Small numbers in the board report, suppressed as official statistics on children are.

A count from 1 to the threshold (``board_suppress_up_to`` in mash/config/quality.yaml, 4 as DfE uses) is shown as
``c`` (DfE's symbol for a figure withheld to protect confidentiality); zero is shown. That is *primary*
suppression. A table's ``Total`` row and ``Total`` column are sums, so one withheld cell in a row or column could
be worked out from its total: *secondary* suppression withholds more cells, the smallest non-zero one first,
until no withheld cell can be worked out from the totals by any combination of rows and columns (checked by
linear algebra, not only line by line). Tables without totals need primary suppression only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SYMBOL = "c"
TOTAL = "Total"


def _equations(rows: list, columns: list) -> list[list[tuple[int, int, int]]]:
    """The table's sums as (row, column, coefficient) lists that add up to zero: each row's cells minus its total
    (when there is a Total column), each column's cells minus its total (when there is a Total row)."""
    equations = []
    body_rows = [i for i, r in enumerate(rows) if r != TOTAL]
    body_columns = [j for j, c in enumerate(columns) if c != TOTAL]
    if TOTAL in columns:
        t = columns.index(TOTAL)
        equations += [[(i, j, 1) for j in body_columns] + [(i, t, -1)] for i in range(len(rows))]
    if TOTAL in rows:
        t = rows.index(TOTAL)
        equations += [[(i, j, 1) for i in body_rows] + [(t, j, -1)] for j in range(len(columns))]
    return equations


def disclosed(hidden: np.ndarray, equations: list) -> list[tuple[int, int]]:
    """The withheld cells that the shown cells and the totals determine: a cell is determined when its unit
    vector lies in the row space of the equations restricted to the withheld cells."""
    unknowns = [tuple(cell) for cell in np.argwhere(hidden)]
    if not unknowns or not equations:
        return []
    position = {cell: k for k, cell in enumerate(unknowns)}
    system = np.zeros((len(equations), len(unknowns)))
    for e, equation in enumerate(equations):
        for i, j, coefficient in equation:
            if (i, j) in position:
                system[e, position[(i, j)]] = coefficient
    rank = np.linalg.matrix_rank(system)
    found = []
    for cell, k in position.items():
        unit = np.zeros((1, len(unknowns)))
        unit[0, k] = 1
        if np.linalg.matrix_rank(np.vstack([system, unit])) == rank:
            found.append(cell)
    return found


def suppressed_cells(values: np.ndarray, rows: list, columns: list, up_to: int) -> np.ndarray:
    """The mask of cells to withhold in a table of counts (``rows``/``columns`` its labels, ``Total`` marking sums)."""
    hidden = (values >= 1) & (values <= up_to)
    equations = _equations(rows, columns)
    while found := disclosed(hidden, equations):
        i, j = found[0]
        line = [(a, b) for a in range(values.shape[0]) for b in range(values.shape[1])
                if (a == i or b == j) and not hidden[a, b]]
        line = line or [tuple(cell) for cell in np.argwhere(~hidden)]
        # the smallest non-zero count first (a withheld zero protects nothing a reader could not guess)
        hidden[min(line, key=lambda cell: (values[cell] == 0, values[cell]))] = True
    return hidden


def suppress(table: pd.DataFrame, up_to: int) -> pd.DataFrame:
    """``table`` (whole-number counts) with small counts, and the cells that would reveal them, shown as ``c``."""
    values = table.to_numpy(dtype=np.int64)
    hidden = suppressed_cells(values, list(table.index), list(table.columns), up_to)
    shown = table.astype(object).copy()
    shown[hidden] = SYMBOL
    return shown


def suppress_share(table: pd.DataFrame, of: str, part: str, share: str, up_to: int) -> pd.DataFrame:
    """A table of groups with a count (``of``), the part of it that has some property (``part``) and that part as a
    share: a group of 1 to ``up_to`` is withheld whole, and the part and its share are withheld where the part or
    the rest (``of`` less ``part``) is 1 to ``up_to``, since either would single out a few people."""
    def small(counts: pd.Series) -> pd.Series:
        return (counts >= 1) & (counts <= up_to)

    shown = table.astype(object)
    group, detail = small(table[of]), small(table[part]) | small(table[of] - table[part])
    shown.loc[group, [of, part, share]] = SYMBOL
    shown.loc[detail, [part, share]] = SYMBOL
    return shown
