"""Incremental linkage: tonight's new and changed records against last night's population.

A record is unchanged when its fingerprint (a hash of the person-schema values the matcher reads) equals the one
stored when it was last matched. Only pairs with a new or changed record on at least one side are blocked and
scored, with the model estimated by the last full relink; the links and review pairs between unchanged records are
kept as they were scored, and the clustering (with the officers' constraints) runs over both.

    previous = Previous(fingerprints, pairs, model, records)    # from the store: mash.link.population
    result = link(records, previous=previous)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .comparisons import person_schema
from .model import Model


@dataclass(frozen=True)
class Previous:
    """What an incremental run reuses from the runs before it."""
    fingerprints: pd.Series     # record_id -> fingerprint when the record was last matched
    pairs: pd.DataFrame         # the link and review pairs in force: record_id_l, record_id_r, match_weight,
                                # match_probability, decision, w_* (as they were scored)
    model: Model                # estimated by the last full relink ...
    records: int                # ... on this many records

    def model_for(self, records: int) -> Model:
        """The model with its prior rescaled to ``records``: the expected matches grow with the records, the
        record pairs with their square, so the prior (matches over pairs) goes as 1 / (records - 1)."""
        prior = self.model.prior * max(self.records - 1, 1) / max(records - 1, 1)
        return replace(self.model, prior=float(np.clip(prior, 1e-300, 0.5)))


def fingerprints(records: pd.DataFrame) -> np.ndarray:
    """Per record, 16 hex digits hashing every person-schema value the matcher reads (not the record id)."""
    frame = person_schema(records).drop(columns="record_id")
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return np.char.mod("%016x", hashed).astype(object)


def unchanged(record_ids: np.ndarray, prints: np.ndarray, previous: Previous) -> np.ndarray:
    """Per record: it was matched before and its fingerprint is the same."""
    before = pd.Series(record_ids).map(previous.fingerprints).to_numpy(dtype=object)
    return before == prints


def kept_pairs(previous: Previous, records: pd.Index, unchanged_records: np.ndarray
               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The previous link and review pairs whose records are both present (in ``records``, tonight's record ids)
    and unchanged, with the positions of their left and right records."""
    pairs = previous.pairs
    left = records.get_indexer(pairs["record_id_l"])
    right = records.get_indexer(pairs["record_id_r"])
    keep = (left >= 0) & (right >= 0)
    keep[keep] = unchanged_records[left[keep]] & unchanged_records[right[keep]]
    return pairs[keep].reset_index(drop=True), left[keep], right[keep]
