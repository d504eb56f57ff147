"""Clustering linked records into persons without chaining weak links across constraints.

Connected components over the ``link`` pairs and the officers' must-link pairs. A component that would hold a
cannot-link pair, or two records with different valid NHS numbers, is rebuilt greedily: must-link pairs first, then
its link pairs from the strongest match weight down, skipping any pair that would join two groups in conflict
(so the weakest links that cause a conflict are the ones dropped). A must-link pair always joins its records; a
must-link pair that contradicts a cannot-link pair is an error.

The result is a pure function of the pairs, their weights and decisions, and the constraints, whatever order the
records and pairs come in: the greedy rebuild takes the pairs in a total order, must-links first, then by match
weight from the strongest down, then by their records' ids (the pair's smaller id, then its larger id, as text),
so two links of equal weight are always taken in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class ConstraintConflict(ValueError):
    """A must-link pair joins records that a cannot-link pair keeps apart."""


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected component label per node (the smallest node position in it), by min-label propagation with
    pointer jumping."""
    label = np.arange(n)
    while True:
        lowest = np.minimum(label[left], label[right])
        before = label.copy()
        np.minimum.at(label, left, lowest)
        np.minimum.at(label, right, lowest)
        label = label[label]
        if np.array_equal(label, before):
            return label


@dataclass
class _Group:
    members: set[int]
    nhs_numbers: set[int]           # codes
    kept_apart: set[int]             # records this group may not join

    def conflicts_with(self, other: "_Group", with_nhs: bool) -> bool:
        if self.kept_apart & other.members or other.kept_apart & self.members:
            return True
        nhs_a, nhs_b = self.nhs_numbers, other.nhs_numbers
        return with_nhs and bool(nhs_a) and bool(nhs_b) and not (nhs_a <= nhs_b or nhs_b <= nhs_a)


def _rebuild(nodes: np.ndarray, edges: pd.DataFrame, nhs: np.ndarray, apart: dict[int, set[int]],
             record_ids: np.ndarray) -> tuple[dict[int, int], int]:
    """Greedy constrained merge of one component, its pairs in the total order of the module's docstring; returns
    node -> group root and the link pairs dropped."""
    groups = {int(v): _Group({int(v)}, {int(nhs[v])} - {-1}, set(apart.get(int(v), ()))) for v in nodes}
    root = {int(v): int(v) for v in nodes}
    dropped = 0
    a, b = (record_ids[edges[column].to_numpy()].astype(str) for column in ("l", "r"))
    order = np.lexsort((np.where(a < b, b, a), np.where(a < b, a, b), -edges["weight"].to_numpy(),
                        ~edges["must"].to_numpy()))      # must first, then strongest, then by the records' ids
    for a, b, must in zip(*(edges[column].to_numpy()[order].tolist() for column in ("l", "r", "must"))):
        ra, rb = root[a], root[b]
        if ra == rb:
            continue
        if groups[ra].conflicts_with(groups[rb], with_nhs=not must):
            if must:
                raise ConstraintConflict("a must-link pair joins records kept apart by a cannot-link pair")
            dropped += 1
            continue
        keep, gone = (ra, rb) if len(groups[ra].members) >= len(groups[rb].members) else (rb, ra)
        merged = groups[keep]
        merged.members |= groups[gone].members
        merged.nhs_numbers |= groups[gone].nhs_numbers
        merged.kept_apart |= groups[gone].kept_apart
        for member in groups.pop(gone).members:
            root[member] = keep
    return root, dropped


def cluster(n: int, left: np.ndarray, right: np.ndarray, weight: np.ndarray, linked: np.ndarray,
            nhs: np.ndarray, must_link: np.ndarray, cannot_link: np.ndarray,
            record_ids: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Cluster label per record (the smallest record position in its cluster) and counts.

    ``left``/``right``/``weight``/``linked`` describe the scored pairs; ``must_link`` and ``cannot_link`` are (k, 2)
    arrays of record positions; ``nhs`` the valid NHS number per record as a code (:meth:`Features.codes`; -1 if
    none); ``record_ids`` the records' ids, which break ties between links of equal weight (by default their
    positions)."""
    record_ids = np.arange(n) if record_ids is None else np.asarray(record_ids)
    edges = pd.DataFrame({"l": np.concatenate([left[linked], must_link[:, 0]]),
                          "r": np.concatenate([right[linked], must_link[:, 1]]),
                          "weight": np.concatenate([weight[linked], np.full(len(must_link), np.inf)]),
                          "must": np.concatenate([np.zeros(linked.sum(), bool), np.ones(len(must_link), bool)])})
    label = components(n, edges["l"].to_numpy(), edges["r"].to_numpy())

    with_nhs = np.flatnonzero(nhs >= 0)                 # components holding two different NHS numbers
    numbers = max(int(nhs.max(initial=-1)) + 1, 1)
    held = pd.unique(label[with_nhs].astype(np.int64) * numbers + nhs[with_nhs])
    violating = set(np.flatnonzero(np.bincount(held // numbers, minlength=n) > 1).tolist())
    violating |= {int(label[a]) for a, b in cannot_link if label[a] == label[b]}
    apart: dict[int, set[int]] = {}
    for a, b in cannot_link:
        apart.setdefault(int(a), set()).add(int(b))
        apart.setdefault(int(b), set()).add(int(a))

    dropped = 0
    in_violating = np.isin(label, np.array(sorted(violating), dtype=label.dtype))
    nodes = np.flatnonzero(in_violating)
    nodes_of = dict(iter(pd.Series(nodes).groupby(label[nodes])))
    rows = np.flatnonzero(in_violating[edges["l"].to_numpy()])
    edges_of = dict(iter(edges.iloc[rows].groupby(label[edges["l"].to_numpy()[rows]])))
    for component in sorted(violating):
        root, lost = _rebuild(nodes_of[component].to_numpy(), edges_of[component], nhs, apart,
                               record_ids)
        dropped += lost
        groups: dict[int, list[int]] = {}
        for node, group in root.items():
            groups.setdefault(group, []).append(node)
        for members in groups.values():
            label[members] = min(members)
    return label, {"components_split": len(violating), "link_pairs_dropped_by_constraints": dropped}
