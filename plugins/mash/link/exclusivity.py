"""Evidence from the extracts as a whole: an agency's extract lists a child once.

A pair's match weight weighs the two records alone. But a schools record whose child is almost surely in the health
extract (nine in ten of the schools' children are, say), and whose only plausible health candidate is this one,
is far more likely to be that child than the pair alone says; and a candidate with a stronger rival in the same
extract is less likely. Per record and other source, three hypotheses cover its child: not in that extract
(probability 1 - coverage), the candidate in question, or one of its rivals (the other candidates in that extract).
Relative to "no match anywhere", their odds are 1 - coverage, the pair's odds and the sum of the rivals' odds, so
the pair's odds divided by (1 - coverage + rivals) is its odds given that record's view of the other extract.
Both records' views are taken (each record's child is in the other extract or not, independently), so a cross-source
pair's weight gains ``-log2(1 - coverage_l + rivals_l) - log2(1 - coverage_r + rivals_r)``: positive for a pair
alone in both extracts when each extract holds most of the other's children, negative when a rival is stronger.

Coverage (the share of a source's records whose child is in another source) is estimated from the data: the
records' expected matches in the other source (pairwise probabilities, capped at one per record), with half a
record's worth of doubt either way. It counts only the matches the blocking finds, so a match the blocking misses
counts as a child not in the other extract, as it should here. An extract that does hold a child twice (the
consent register, one row per consent) is allowed for: a rival that is itself probably the same child as the
candidate (a within-source pair's probability) is no rival. Pairs of one source get no such evidence (their
prior, :func:`mash.link.model.source_priors`, already says how often an extract repeats a child).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMN = "w_exclusivity"
_RIVAL_FLOOR = 0.01      # within-source pairs less likely than this to be one child do not excuse a rival


def _sources(sources: np.ndarray) -> tuple[np.ndarray, list[str]]:
    codes, names = pd.factorize(sources, sort=True)
    return codes, list(names)


def _probability(weight: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -200, 200)))


def coverage(sources: np.ndarray, left: np.ndarray, right: np.ndarray, weight: np.ndarray) -> dict[str, float]:
    """Per ordered pair of different sources "S>T": the estimated share of S's records whose child is in T's
    extract, from the pairs' match weights (``left``/``right`` record positions)."""
    codes, names = _sources(sources)
    k, n = len(names), len(codes)
    cross = codes[left] != codes[right]
    probability = _probability(weight[cross])
    record = np.concatenate([left[cross], right[cross]])
    target = np.concatenate([codes[right[cross]], codes[left[cross]]])
    matched = np.minimum(np.bincount(record * k + target, weights=np.tile(probability, 2), minlength=n * k), 1.0)
    per_source = np.bincount(np.repeat(codes, k) * k + np.tile(np.arange(k), n), weights=matched,
                             minlength=k * k).reshape(k, k)
    sizes = np.bincount(codes, minlength=k)
    return {f"{names[s]}>{names[t]}": float((per_source[s, t] + 0.5) / (sizes[s] + 1.0))
            for s in range(k) for t in range(k) if s != t}


def exclusivity_weights(sources: np.ndarray, left: np.ndarray, right: np.ndarray, weight: np.ndarray,
                        covered: dict[str, float]) -> np.ndarray:
    """Per pair, the weight of the extracts' evidence (see the module docstring) for pairs with match weight
    ``weight`` (without it); 0 for pairs of one source. A pair of sources missing from ``covered`` (a model
    estimated before this evidence, or a source new since) counts as coverage 0: rivals still count."""
    codes, names = _sources(sources)
    k, n = max(len(names), 1), len(codes)
    cross = codes[left] != codes[right]
    result = np.zeros(len(left))
    if not cross.any():
        return result
    uncovered = np.ones((k, k))
    for key, share in covered.items():
        source, target = key.split(">")
        if source in names and target in names:
            uncovered[names.index(source), names.index(target)] = 1.0 - share
    a, b, w = left[cross], right[cross], weight[cross]
    odds = np.exp2(np.clip(w, -200, 200))
    # each record's total odds over its candidates in the other record's source
    total = np.bincount(np.concatenate([a * k + codes[b], b * k + codes[a]]), weights=np.tile(odds, 2),
                        minlength=n * k)
    excused_a, excused_b = _duplicates_excused(codes, left, right, weight, a, b, odds)
    rivals_a = np.maximum(total[a * k + codes[b]] - odds - excused_a, 0.0)
    rivals_b = np.maximum(total[b * k + codes[a]] - odds - excused_b, 0.0)
    result[cross] = (-np.log2(uncovered[codes[a], codes[b]] + rivals_a)
                     - np.log2(uncovered[codes[b], codes[a]] + rivals_b))
    return result


def _duplicates_excused(codes: np.ndarray, left: np.ndarray, right: np.ndarray, weight: np.ndarray,
                        a: np.ndarray, b: np.ndarray, odds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cross-source pair (a, b): the rival odds of a's candidates j in b's source that are excused because j is
    probably b itself (a within-source pair (b, j), weighted by its probability), and the same for b."""
    within = (codes[left] == codes[right]) & (_probability(weight) >= _RIVAL_FLOOR)
    if not within.any():
        return np.zeros(len(a)), np.zeros(len(a))
    n = len(codes)
    same = pd.DataFrame({"h": np.concatenate([left[within], right[within]]),
                         "j": np.concatenate([right[within], left[within]]),
                         "p": np.tile(_probability(weight[within]), 2)})
    record, partner, both = np.concatenate([a, b]), np.concatenate([b, a]), np.tile(odds, 2)
    near = np.isin(partner, same["j"].to_numpy())           # only candidates with a likely duplicate matter
    joined = pd.DataFrame({"s": record[near], "j": partner[near], "odds": both[near]}).merge(same, on="j")
    excused = (joined["odds"] * joined["p"]).groupby(joined["s"].to_numpy() * n + joined["h"].to_numpy()).sum()
    keys, values = excused.index.to_numpy(), excused.to_numpy()

    def lookup(s: np.ndarray, h: np.ndarray) -> np.ndarray:
        if not len(keys):
            return np.zeros(len(s))
        code = s.astype(np.int64) * n + h
        found = np.searchsorted(keys, code).clip(max=len(keys) - 1)
        return np.where(keys[found] == code, values[found], 0.0)

    return lookup(a, b), lookup(b, a)
