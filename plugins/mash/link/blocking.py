"""Blocking: the candidate pairs worth comparing, from several passes each keyed on a vectorised blocking key.

Records sharing a pass's key form a block; every pair within a block is a candidate (never a record with itself).
Blocks larger than the settings' ``max_block_size`` are skipped and counted (a key such as a common name and a
birth year can gather hundreds of records, and all their pairs would swamp the comparisons). The passes' pairs are
unioned; for training, each pass says which comparisons its key constrains and whether its pairs are fit to
train on at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .comparisons import Features


class Coded:
    """The records' values as integer codes, -1 where missing ('' or not positive), each attribute of
    :class:`Features` (text: :meth:`Features.codes`; or numbers derived from them by a function) coded once for
    every pass that keys on it."""

    def __init__(self, features: Features):
        self.features = features
        self._codes: dict[object, np.ndarray] = {}
        self._distinct: dict[object, np.ndarray] = {}

    def __call__(self, attribute: str | Callable[[Features], np.ndarray]) -> np.ndarray:
        if attribute not in self._codes:
            values = attribute(self.features) if callable(attribute) else getattr(self.features, attribute)
            if values.dtype == object:
                codes, self._distinct[attribute] = self.features.codes(attribute)
            else:
                codes = np.where(values > 0, values, -1).astype(np.int64)
            self._codes[attribute] = codes
        return self._codes[attribute]

    def initial(self, attribute: str) -> np.ndarray:
        """The first character of a text attribute as its code point (so initials of two attributes compare),
        -1 where missing; worked out once per distinct value."""
        if ("initial", attribute) not in self._codes:
            codes = self(attribute)
            first = np.array([ord(value[0]) if value else -1 for value in self._distinct[attribute]] + [-1])
            self._codes[("initial", attribute)] = first[codes]          # code -1 (missing) takes the last: -1
        return self._codes[("initial", attribute)]


def _key(*parts: np.ndarray) -> np.ndarray:
    """One non-negative integer per distinct combination of the parts' codes (see :class:`Coded`), -1 where any part
    is missing."""
    key, size = np.zeros(len(parts[0]), dtype=np.int64), 1
    missing = np.zeros(len(parts[0]), dtype=bool)
    for part in parts:
        width = int(part.max(initial=-1)) + 2
        if size * width >= 2 ** 62:                            # keep the combination within int64
            key = pd.factorize(key)[0]
            size = int(key.max(initial=0)) + 1
        key, size = key * width + part + 1, size * width
        missing |= part < 0
    return np.where(missing, -1, key)


def _initials_any_order(c: Coded) -> tuple[np.ndarray, np.ndarray]:
    """The family and given names' initials, the lower first: the same pair for names recorded swapped."""
    family, given = c.initial("family"), c.initial("given_first")
    return np.minimum(family, given), np.maximum(family, given)


def _day_month_unordered(f: Features) -> np.ndarray:
    low, high = np.minimum(f.dob_day, f.dob_month), np.maximum(f.dob_day, f.dob_month)
    return f.dob_year * 10_000 + low * 100 + high


def _without_home(f: Features) -> np.ndarray:
    """1 for a record with neither postcode nor address, 0 (no key) for the others."""
    return ((f.postcode == "") & (f.address == "")).astype(np.int64)


@dataclass(frozen=True)
class BlockingPass:
    name: str
    key: Callable[[Coded], np.ndarray]        # one integer key per record, -1 for no key
    compared_on: frozenset[str]               # comparisons the key constrains: their m is not trained on it
    trains: bool = True                       # False for the loose keys (phonetic codes, initials): their blocks
                                              # hold many non-matches that agree on names, which EM over the
                                              # few comparisons left would take for matches


PASSES: tuple[BlockingPass, ...] = (
    BlockingPass("nhs_number", lambda c: _key(c("nhs_number")), frozenset({"nhs_number"})),
    BlockingPass("upn", lambda c: _key(c("upn")), frozenset({"upn"})),
    BlockingPass("family_dob", lambda c: _key(c("family"), c("dob_text")),
                 frozenset({"family_name", "date_of_birth"})),
    BlockingPass("given_canonical_dob", lambda c: _key(c("given_key"), c("dob_text")),
                 frozenset({"given_name", "date_of_birth"})),
    BlockingPass("family_phonetic_year_given_phonetic", lambda c: _key(c("family_phonetic"), c("dob_year"),
                                                                          c("given_phonetic")),
                 frozenset({"family_name", "given_name", "date_of_birth"}), trains=False),
    BlockingPass("dob_postcode", lambda c: _key(c("dob_text"), c("postcode")),
                 frozenset({"date_of_birth", "home"})),
    BlockingPass("dob_and_initials_any_order", lambda c: _key(c(_day_month_unordered), *_initials_any_order(c)),
                 frozenset({"date_of_birth", "family_name", "given_name"}), trains=False),
    BlockingPass("postcode_given_canonical", lambda c: _key(c("postcode"), c("given_key")),
                 frozenset({"home", "given_name"})),
    # Without the date of birth (missing or mistyped on one side): the home, the family name and the given
    # name's initial, which a typo in the given name mostly leaves alone.
    BlockingPass("postcode_family_given_initial", lambda c: _key(c("postcode"), c("family"),
                                                                  c.initial("given_first")),
                 frozenset({"home", "family_name"}), trains=False),
    # The same dwelling (postcode and house numbers) and initials in either order: both names mistyped, and the
    # date of birth too.
    BlockingPass("dwelling_initials_any_order", lambda c: _key(c("postcode"), c("address_numbers"),
                                                                *_initials_any_order(c)),
                 frozenset({"home"}), trains=False),
    # Records with no home to block on (a feed without addresses): their names alone, so that a date of birth
    # changed or missing is still found, and so that some pass leaves the date of birth free to train on.
    # Only those records: among all, namesakes would multiply the pairs.
    BlockingPass("names_without_home", lambda c: _key(c(_without_home), c("family"), c("given_first")),
                 frozenset({"family_name", "given_name"})),
)


@dataclass(frozen=True)
class Candidates:
    left: np.ndarray                  # record positions, left < right, sorted, unique
    right: np.ndarray
    passes: dict[str, np.ndarray]     # pass name -> boolean mask over the candidate pairs it produced
    stats: dict


def _sorted_unique(codes: np.ndarray) -> np.ndarray:
    """np.unique for integer codes by sorting (numpy's default hashes, which is several times slower here)."""
    ordered = np.sort(codes)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def block_pairs(keys: np.ndarray, max_block_size: int) -> tuple[np.ndarray, dict]:
    """Pairs (encoded as left * n + right, left < right) of records sharing a key (>= 0), and counts."""
    n = len(keys)
    keyed = np.flatnonzero(keys >= 0)
    codes, _ = pd.factorize(keys[keyed])
    sizes = np.bincount(codes) if len(codes) else np.zeros(0, np.int64)
    order = np.argsort(codes, kind="stable")
    members_sorted = keyed[order]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) if len(sizes) else sizes
    found = []
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= max_block_size)]):
        blocks = starts[sizes == size]
        members = members_sorted[blocks[:, None] + np.arange(size)]
        first, second = np.triu_indices(size, 1)
        a, b = members[:, first].ravel(), members[:, second].ravel()
        found.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    pairs = _sorted_unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    oversized = sizes > max_block_size
    return pairs, {"pairs": int(len(pairs)), "blocks_skipped": int(oversized.sum()),
                   "records_in_skipped_blocks": int(sizes[oversized].sum())}


def _mask(union: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Which of the sorted ``union`` are among ``pairs`` (a subset of it)."""
    mask = np.zeros(len(union), dtype=bool)
    mask[np.searchsorted(union, pairs)] = True
    return mask


def candidate_pairs(features: Features, max_block_size: int, among: np.ndarray | None = None) -> Candidates:
    """The union of every pass's pairs, with per-pass counts. With ``among`` (a boolean per record), only the
    pairs with at least one record in ``among`` (an incremental run's new and changed records); blocks are as
    large as over all records, so a block skipped in a full run is skipped here too."""
    n = len(features)
    per_pass, stats = {}, {}
    coded = Coded(features)
    for blocking_pass in PASSES:
        keys = blocking_pass.key(coded)
        if among is not None:
            keys = np.where(pd.Series(keys).isin(keys[among & (keys >= 0)]).to_numpy(), keys, -1)
        pairs, stats[blocking_pass.name] = block_pairs(keys, max_block_size)
        if among is not None:
            pairs = pairs[among[pairs // max(n, 1)] | among[pairs % max(n, 1)]]
            stats[blocking_pass.name]["pairs"] = int(len(pairs))
        per_pass[blocking_pass.name] = pairs
    union = _sorted_unique(np.concatenate(list(per_pass.values()))) if per_pass else np.zeros(0, np.int64)
    masks = {name: _mask(union, pairs) for name, pairs in per_pass.items()}
    return Candidates(left=union // max(n, 1), right=union % max(n, 1), passes=masks,
                      stats={"passes": stats, "candidate_pairs": int(len(union))})
