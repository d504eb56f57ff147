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
from .names import map_distinct


def _key(*parts: np.ndarray) -> np.ndarray:
    """An integer code per distinct combination of the parts, -1 where any part is missing ('' or not positive)."""
    code = np.zeros(len(parts[0]), dtype=np.int64)
    missing = np.zeros(len(parts[0]), dtype=bool)
    for part in parts:
        missing |= (part == "") if part.dtype == object else (part <= 0)
        part_code, distinct = pd.factorize(part)
        code = pd.factorize(code * (len(distinct) + 1) + part_code)[0]
    return np.where(missing, -1, code)


def _initial(values: np.ndarray) -> np.ndarray:
    return map_distinct(pd.Series(values, dtype=object), lambda value: value[:1]).to_numpy(dtype=object)


def _initials_unordered(f: Features) -> tuple[np.ndarray, np.ndarray]:
    """The initials of the family and first given names, smaller first: the same for names recorded swapped."""
    family, given = _initial(f.family), _initial(f.given_first)
    first = family < given
    return np.where(first, family, given), np.where(first, given, family)


def _day_month_unordered(f: Features) -> np.ndarray:
    low, high = np.minimum(f.dob_day, f.dob_month), np.maximum(f.dob_day, f.dob_month)
    return f.dob_year * 10_000 + low * 100 + high


@dataclass(frozen=True)
class BlockingPass:
    name: str
    key: Callable[[Features], np.ndarray]     # one integer key per record, -1 for no key
    compared_on: frozenset[str]               # comparisons the key constrains: their m is not trained on it
    trains: bool = True                       # False for the loose keys (phonetic codes, initials): their blocks
                                              # hold many non-matches that agree on names, which EM over the
                                              # few comparisons left would take for matches


PASSES: tuple[BlockingPass, ...] = (
    BlockingPass("nhs_number", lambda f: _key(f.nhs_number), frozenset({"nhs_number"})),
    BlockingPass("upn", lambda f: _key(f.upn), frozenset({"upn"})),
    BlockingPass("family_dob", lambda f: _key(f.family, f.dob_text),
                 frozenset({"family_name", "date_of_birth"})),
    BlockingPass("given_canonical_dob", lambda f: _key(f.given_key, f.dob_text),
                 frozenset({"given_name", "date_of_birth"})),
    BlockingPass("family_phonetic_year_given_phonetic", lambda f: _key(f.family_phonetic, f.dob_year,
                                                                          f.given_phonetic),
                 frozenset({"family_name", "given_name", "date_of_birth"}), trains=False),
    BlockingPass("dob_postcode", lambda f: _key(f.dob_text, f.postcode),
                 frozenset({"date_of_birth", "home"})),
    BlockingPass("dob_and_initials_any_order", lambda f: _key(_day_month_unordered(f), *_initials_unordered(f)),
                 frozenset({"date_of_birth", "family_name", "given_name"}), trains=False),
    BlockingPass("postcode_given_canonical", lambda f: _key(f.postcode, f.given_key),
                 frozenset({"home", "given_name"})),
    # Without the date of birth (missing or mistyped on one side): the home, the family name and the given
    # name's initial, which a typo in the given name mostly leaves alone.
    BlockingPass("postcode_family_given_initial", lambda f: _key(f.postcode, f.family, _initial(f.given_first)),
                 frozenset({"home", "family_name"}), trains=False),
    # The same dwelling (postcode and house numbers) and initials in either order: both names mistyped, and the
    # date of birth too.
    BlockingPass("dwelling_initials_any_order", lambda f: _key(f.postcode, f.address_numbers,
                                                                *_initials_unordered(f)),
                 frozenset({"home"}), trains=False),
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
    for blocking_pass in PASSES:
        keys = blocking_pass.key(features)
        if among is not None:
            keys = np.where(np.isin(keys, np.unique(keys[among & (keys >= 0)])), keys, -1)
        pairs, stats[blocking_pass.name] = block_pairs(keys, max_block_size)
        if among is not None:
            pairs = pairs[among[pairs // max(n, 1)] | among[pairs % max(n, 1)]]
            stats[blocking_pass.name]["pairs"] = int(len(pairs))
        per_pass[blocking_pass.name] = pairs
    union = _sorted_unique(np.concatenate(list(per_pass.values()))) if per_pass else np.zeros(0, np.int64)
    masks = {name: _mask(union, pairs) for name, pairs in per_pass.items()}
    return Candidates(left=union // max(n, 1), right=union % max(n, 1), passes=masks,
                      stats={"passes": stats, "candidate_pairs": int(len(union))})
