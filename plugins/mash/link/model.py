"""The Fellegi-Sunter model: m and u probabilities per comparison level, estimated from the data being linked.

- u (how often a level occurs between two different children) from a uniform sample of random record pairs, which
  are almost all non-matches;
- m (how often it occurs between two records of the same child) by expectation-maximisation on the candidate
  pairs with u fixed, once per blocking pass with an exact key, over the comparisons that key does not constrain
  (Splink's approach), the passes' estimates averaged weighted by each pass's expected number of matches;
- the prior lambda (probability that two random records are the same child): the expected number of matches among
  the candidate pairs under the fitted model, divided by the number of all record pairs;
- then a prior per pair of sources (health and schools, schools and schools, ...), by EM with m and u fixed: the
  expected matches among that pair of sources' candidate pairs over all its record pairs. An agency's extract
  usually lists a child once, so two records of one source are rarely the same child, and a small source whose
  children are all known to another (the consent register and social care) has a high prior against it; the data
  say how far this holds, so an agency whose extract does hold duplicates keeps a prior that allows them;
- and per ordered pair of sources, the share of one's records whose child is in the other's extract (the
  coverage that :mod:`.exclusivity` weighs a pair's rivals against).

Safeguards keep the estimate from collapsing whatever the data's shape (recorded in ``Model.safeguards``): m has a
weak prior (PRIOR_M), weights are monotone in level order (:func:`monotone`), a pass whose EM did not find people
is rejected (:func:`_pass_rejected`), a source's own prior is bounded by its priors with other sources
(:func:`bounded_source_priors`), and :func:`sanity_checks` say whether the model is fit to use.

A pair's weight for a comparison is log2(m/u) of its level (0 for the null level); exact given and family names
use u = the frequency of that name among the records (term-frequency adjustment: 'Smith' or 'Muhammad' agreeing
says less than 'Wojcik'). The match weight is the log-odds of its pair of sources' prior plus the comparison
weights plus the twins guard (see :func:`twins_guard`), which applies when the data hold twins (see
:func:`twins_seen`); match_probability = 2^w / (1 + 2^w).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .blocking import PASSES, BlockingPass, Candidates
from .comparisons import COMPARISONS, Comparison, Features, compare, by_name
from .exclusivity import coverage


@dataclass
class Model:
    m: dict[str, np.ndarray]             # comparison -> probability per level (index 0, the null level, unused)
    u: dict[str, np.ndarray]
    prior: float                         # lambda over all record pairs
    candidate_match_share: float         # lambda among the candidate pairs
    training: dict = field(default_factory=dict)   # counts only
    # "A|B" (sources in sorted order) -> log2 prior odds of a pair from sources A and B, less prior_weight; a pair of
    # sources not listed (none of its pairs was a candidate) has the overall prior
    source_prior_weights: dict[str, float] = field(default_factory=dict)
    # "S>T" -> share of source S's records whose child is in T's extract (see mash.link.exclusivity)
    coverage: dict[str, float] = field(default_factory=dict)
    twins_guarded: bool = True            # the data hold twins (see twins_seen), so the twins guard applies
    generations_guarded: bool = True      # an extract holds parents beside children (see generations_seen)
    # which safeguards fired while estimating, and the sanity checks (see :func:`sanity_checks`); counts only
    safeguards: dict = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """The model passed its sanity checks (a model stored before they existed counts as usable)."""
        return all(self.safeguards.get("checks", {}).values())

    def weights(self, name: str) -> np.ndarray:
        """log2(m/u) per level, 0 for the null level."""
        table = np.log2(self.m[name] / self.u[name])
        table[0] = 0.0
        return table

    @property
    def prior_weight(self) -> float:
        return float(np.log2(self.prior / (1 - self.prior)))

    def pair_prior_weights(self, features: Features, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Per pair, the log2 prior odds of its pair of sources."""
        code, names = source_pairs(features, left, right)
        offsets = np.array([self.source_prior_weights.get(name, 0.0) for name in names] or [0.0])
        return self.prior_weight + offsets[code]

    def as_dict(self) -> dict:
        """JSON-serialisable: every comparison's levels with their m, u and weight (no personal data)."""
        comparisons = {}
        for comparison in COMPARISONS:
            weights = self.weights(comparison.name)
            comparisons[comparison.name] = {
                "term_frequency_adjusted_level": "exact" if comparison.term_frequency else None,
                "levels": [{"level": i, "label": label,
                            "description": comparison.levels[i - 1].description if i else "missing on either side",
                            "m": None if i == 0 else float(self.m[comparison.name][i]),
                            "u": None if i == 0 else float(self.u[comparison.name][i]),
                            "weight": float(weights[i])}
                           for i, label in enumerate(comparison.labels())]}
        return {"prior": self.prior, "prior_weight": self.prior_weight,
                "candidate_match_share": self.candidate_match_share,
                "source_prior_weights": dict(self.source_prior_weights), "coverage": dict(self.coverage),
                "comparisons": comparisons,
                "twins_guard": twins_guard.__doc__.split("\n\n")[0].strip(), "twins_guarded": self.twins_guarded,
                "generation_guard": generation_guard.__doc__.split("\n\n")[0].strip(),
                "generations_guarded": self.generations_guarded,
                "training": self.training, "safeguards": self.safeguards}

    @classmethod
    def from_dict(cls, document: dict) -> "Model":
        """The model :meth:`as_dict` wrote. Raises ValueError when its comparisons or levels are not this code's
        (a model estimated by another version: relink in full)."""
        stored = document.get("comparisons", {})
        expected = {c.name: c.labels() for c in COMPARISONS}
        if {name: [level["label"] for level in stored[name]["levels"]] for name in stored} != expected:
            raise ValueError("the stored link model's comparisons differ from this version's: relink in full")
        m = {name: np.array([1.0] + [level["m"] for level in stored[name]["levels"][1:]]) for name in expected}
        u = {name: np.array([1.0] + [level["u"] for level in stored[name]["levels"][1:]]) for name in expected}
        return cls(m=m, u=u, prior=float(document["prior"]),
                   candidate_match_share=float(document["candidate_match_share"]),
                   training=dict(document.get("training", {})),
                   source_prior_weights={name: float(weight) for name, weight
                                         in document.get("source_prior_weights", {}).items()},
                   coverage={name: float(share) for name, share in document.get("coverage", {}).items()},
                   twins_guarded=bool(document.get("twins_guarded", True)),
                   generations_guarded=bool(document.get("generations_guarded", True)),
                   safeguards=dict(document.get("safeguards", {})))


def _distribution(levels: np.ndarray, n_levels: int, weights: np.ndarray | None, floor: float) -> np.ndarray:
    """Share of each non-null level among the non-null ones (index 0 left as 1.0), floored and renormalised."""
    counts = np.bincount(levels, weights=weights, minlength=n_levels + 1)[1:].astype(float)
    total = counts.sum()
    share = counts / total if total > 0 else np.full(n_levels, 1.0 / n_levels)
    share = np.maximum(share, floor)
    return np.concatenate(([1.0], share / share.sum()))


def random_pairs(n: int, sample: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every pair when there are at most ``sample`` of them, else ``sample`` uniform random pairs of distinct
    records (with replacement)."""
    if n * (n - 1) // 2 <= sample:
        return np.triu_indices(n, 1)
    left, right = rng.integers(0, n, size=sample), rng.integers(0, n, size=sample)
    keep = left != right
    return left[keep], right[keep]


def _u_from(levels: pd.DataFrame, non_match: np.ndarray | None, floor: float) -> dict[str, np.ndarray]:
    return {c.name: _distribution(levels[c.name].to_numpy(), len(c.levels), non_match, floor) for c in COMPARISONS}


# A weak prior for m, per comparison and level (1..): how the records of one child from two agencies usually compare
# (domain knowledge: most agree exactly, a few carry a typo, a variant or a swapped day and month; a home is often
# out of date). EM adds it as pseudo-counts worth PRIOR_MATCHES matches, so that m is never degenerate (no level
# of a comparison impossible for a match) and a comparison no accepted pass trains (see _fit_m) keeps these values.
PRIOR_M = {
    "nhs_number": (0.995, 0.005),    # two valid identifiers of one child differ rarely: a prior that
    "upn": (0.995, 0.005),           # allowed more would soften the evidence of two different ones
    "given_name": (0.01, 0.80, 0.06, 0.05, 0.03, 0.02, 0.01, 0.02),
    "family_name": (0.85, 0.03, 0.05, 0.02, 0.01, 0.04),
    "middle_name": (0.85, 0.05, 0.10),
    "date_of_birth": (0.85, 0.01, 0.02, 0.06, 0.02, 0.02, 0.02),
    "sex": (0.97, 0.03),
    "home": (0.60, 0.05, 0.03, 0.05, 0.05, 0.05, 0.17),
}
PRIOR_MATCHES = 20.0
# Comparisons whose best level says "the same person" far more often than chance: a pass whose matches do not
# agree on them at least 2^PERSON_BITS times more often than random pairs do has found something else (households,
# namesakes sharing a placeholder) and is rejected. Real records of one child score 5 to 13 bits here.
PERSON_COMPARISONS = ("nhs_number", "upn", "given_name", "family_name", "date_of_birth")
PERSON_BITS = 3.0
ALL_MATCHES = 0.99            # a pass whose EM finds more of its pairs matches than this, not keyed on an identifier,
                              # must show matches plainly people (2 * PERSON_BITS) to be kept
IDENTIFIERS = frozenset({"nhs_number", "upn"})


def prior_m(comparison: Comparison) -> np.ndarray:
    """The weak prior of m for a comparison (index 0, the null level, 1.0)."""
    share = np.array(PRIOR_M[comparison.name], dtype=float)
    if len(share) != len(comparison.levels):
        raise ValueError(f"PRIOR_M['{comparison.name}'] needs one value per level ({len(comparison.levels)})")
    return np.concatenate(([1.0], share / share.sum()))


def agreement_level(comparison: Comparison) -> int:
    """The level of plain agreement ('exact', or else the first level): what term frequencies adjust and what
    must never count against a match."""
    labels = comparison.labels()
    return labels.index("exact") if "exact" in labels else 1


def monotone(m: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, int]:
    """m adjusted so that the weight log2(m/u) never rises from a level to the next (a closer level never weighs
    less than a further one): adjacent levels that violate it are pooled (pool adjacent violators, weighted by u),
    the levels of a pool sharing the ratio sum(m)/sum(u) and keeping their total m; and how many levels were
    pooled into a neighbour. As m and u each sum to one, the best level then never weighs below 0."""
    blocks: list[list[float]] = []                        # per pool: its m, its u, its levels
    for m_level, u_level in zip(m[1:], u[1:]):
        blocks.append([float(m_level), float(u_level), 1])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] < blocks[-1][0] * blocks[-2][1] * (1 - 1e-9):
            m_last, u_last, levels = blocks.pop()
            blocks[-1][0] += m_last
            blocks[-1][1] += u_last
            blocks[-1][2] += levels
    ratio = np.repeat([block[0] / block[1] for block in blocks], [block[2] for block in blocks])
    return np.concatenate(([1.0], ratio * u[1:])), sum(block[2] - 1 for block in blocks)


def _m_distribution(levels: np.ndarray, comparison: Comparison, matched: np.ndarray, u: np.ndarray,
                    floor: float) -> np.ndarray:
    """m from the expected matches ``matched`` per pattern (their levels ``levels``) and the weak prior, floored,
    made monotone (see :func:`monotone`)."""
    counts = np.bincount(levels, weights=matched, minlength=len(comparison.levels) + 1)[1:]
    share = np.maximum(counts + PRIOR_MATCHES * prior_m(comparison)[1:], 0.0)
    share = np.maximum(share / share.sum(), floor)
    return monotone(np.concatenate(([1.0], share / share.sum())), u)[0]


COLUMN = {comparison.name: j for j, comparison in enumerate(COMPARISONS)}


@dataclass(frozen=True)
class Patterns:
    """The distinct level patterns (rows over all comparisons) among some pairs, and each pair's pattern: EM and
    posteriors are computed once per pattern, not once per pair."""
    rows: np.ndarray
    of_pair: np.ndarray

    @classmethod
    def of(cls, levels: pd.DataFrame) -> "Patterns":
        matrix = levels[list(COLUMN)].to_numpy(dtype=np.int64)
        code = np.zeros(len(matrix), dtype=np.int64)
        for comparison in COMPARISONS:
            code = code * (len(comparison.levels) + 1) + matrix[:, COLUMN[comparison.name]]
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        return cls(matrix[first], inverse.ravel())

    def counts(self, mask: np.ndarray | None = None) -> np.ndarray:
        pairs = self.of_pair if mask is None else self.of_pair[mask]
        return np.bincount(pairs, minlength=len(self.rows)).astype(float)

    def log2_bayes_factors(self, names: list[str], m: dict, u: dict) -> np.ndarray:
        total = np.zeros(len(self.rows))
        for name in names:
            table = np.log2(m[name] / u[name])
            table[0] = 0.0
            total += table[self.rows[:, COLUMN[name]]]
        return total


def _posterior(log2_bf: np.ndarray, share: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-log2_bf) * (1.0 - share) / share)


def expectation_maximisation(patterns: Patterns, counts: np.ndarray, names: list[str], u: dict, m: dict,
                             share: float, fit_m: bool, iterations: int, tolerance: float, floor: float
                             ) -> tuple[dict, float, int]:
    """EM over level patterns weighted by ``counts`` (pairs per pattern), using comparisons ``names``: returns m
    (re-estimated if ``fit_m``), the match share among the counted pairs and the iterations used. u stays
    fixed. Each re-estimated m has the weak prior added and is made monotone (:func:`_m_distribution`)."""
    m = {name: m[name].copy() for name in names}
    if not counts.sum():
        return m, share, 0
    for iteration in range(1, iterations + 1):
        matched = counts * _posterior(patterns.log2_bayes_factors(names, m, u), share)
        new_share = float(np.clip(matched.sum() / counts.sum(), floor, 1 - floor))
        change = abs(new_share - share)
        share = new_share
        if fit_m:
            for name in names:
                new_m = _m_distribution(patterns.rows[:, COLUMN[name]], by_name(name), matched, u[name], floor)
                change = max(change, float(np.abs(new_m - m[name]).max()))
                m[name] = new_m
        if change < tolerance:
            break
    return m, share, iteration


def _pass_rejected(blocking_pass: BlockingPass, patterns: Patterns, counts: np.ndarray, names: list[str], m: dict, u: dict,
                   share: float) -> str | None:
    """Why a blocking pass's EM estimate is not to be trusted (None: it is): it found no matches, or its matches
    do not agree on a person's identifiers, names and date of birth far more often than random pairs (see
    PERSON_BITS; twice as often, in bits, when, keyed on anything but an identifier, it found all its pairs
    matches)."""
    expected = share * counts.sum()
    if expected < 1.0:
        return "no matches"
    # all matches: EM did not tell matches from non-matches, unless its matches are plainly people (a pass on a
    # name and date of birth in a file of duplicates can be all matches), so they must clear twice the bar
    all_matches = share > ALL_MATCHES and not blocking_pass.compared_on <= IDENTIFIERS
    bar = 2 * PERSON_BITS if all_matches else PERSON_BITS
    matched = counts * _posterior(patterns.log2_bayes_factors(names, m, u), share)
    for name in names:
        if name in PERSON_COMPARISONS:
            known = matched[patterns.rows[:, COLUMN[name]] > 0].sum()
            agree = agreement_level(by_name(name))
            if known >= 5.0 and np.log2(m[name][agree] / u[name][agree]) < bar:
                return "all matches" if all_matches else f"{name} agreement is no evidence"
    return None


def _fit_m(patterns: Patterns, candidates: Candidates, u: dict, iterations: int, tolerance: float,
           floor: float, training: np.ndarray) -> tuple[dict, dict, list[str]]:
    """m by EM once per blocking pass (over the comparisons the pass does not force to agree) on the pairs marked
    ``training``, averaged over the passes not rejected (see :func:`_pass_rejected`) weighted by each one's expected
    number of matches; a comparison no accepted pass trains keeps its weak prior. Returns m, per pass its counts
    (and why it was rejected) and the comparisons left at their prior."""
    start = {c.name: prior_m(c) for c in COMPARISONS}
    sums = {name: np.zeros_like(table) for name, table in start.items()}
    totals = dict.fromkeys(start, 0.0)
    per_pass = {}
    for blocking_pass in (p for p in PASSES if p.trains):
        counts = patterns.counts(candidates.passes[blocking_pass.name] & training)
        if not counts.any():
            continue
        names = [c.name for c in COMPARISONS if c.name not in blocking_pass.compared_on]
        m, share, used = expectation_maximisation(patterns, counts, names, u, start, 0.5, True, iterations,
                                                  tolerance, floor)
        expected = share * counts.sum()
        rejected = _pass_rejected(blocking_pass, patterns, counts, names, m, u, share)
        per_pass[blocking_pass.name] = {"pairs": int(counts.sum()), "iterations": used,
                                        "expected_matches": round(expected, 1)}
        if rejected:
            per_pass[blocking_pass.name]["rejected"] = rejected
            continue
        for name in names:
            if counts[patterns.rows[:, COLUMN[name]] > 0].any():
                sums[name] += expected * m[name]
                totals[name] += expected
    fitted = {name: monotone(sums[name] / totals[name] if totals[name] > 0 else start[name], u[name])[0]
              for name in start}
    return fitted, per_pass, [name for name in start if totals[name] == 0]


def estimate(features: Features, candidates: Candidates, levels: pd.DataFrame, u_sample: int, seed: int,
             iterations: int, tolerance: float, floor: float) -> Model:
    """Fit the model in two rounds. Round 1: u from the random pairs, m by EM. Round 2: u again from the same
    random pairs, each weighted by its probability of being a non-match under round 1 (1 for a random pair that
    is not a candidate pair; this matters only for small inputs, where true matches are a noticeable share of all
    pairs), then m by EM again. Finally the share of matches among the candidate pairs by EM with m and u fixed,
    which gives the prior."""
    n = len(features)
    sample_left, sample_right = random_pairs(n, u_sample, np.random.default_rng(seed))
    sample_levels = compare(features, sample_left, sample_right)
    candidate_codes = candidates.left * n + candidates.right
    sample_codes = np.minimum(sample_left, sample_right) * n + np.maximum(sample_left, sample_right)
    order = np.argsort(sample_codes)                 # looked up in order: several times faster than at random
    found = np.empty(len(sample_codes), dtype=np.int64)
    found[order] = np.searchsorted(candidate_codes, sample_codes[order]).clip(max=max(len(candidate_codes) - 1, 0))
    is_candidate = (candidate_codes[found] == sample_codes) if len(candidate_codes) else np.zeros(0, bool)

    patterns = Patterns.of(levels)
    # Pairs that look like twins (same family name, date of birth and home; given names clearly different or
    # missing) agree on everything a household shares, so EM would take them for matches and learn that matches
    # often disagree on given name: they are left out of training (but scored), unless they share a valid NHS
    # number or UPN (which twins do not). Different recorded sexes alone do not exclude a pair: that would leave
    # no match with a mis-recorded sex in training.
    # When the data hold no twins (see twins_seen), such pairs are matches with a mistyped given name, and train.
    identified = ((levels["nhs_number"] == 1) | (levels["upn"] == 1)).to_numpy()
    guarded = twins_seen(features, candidates, levels)
    training = ~twins_pattern(levels, sexes=False) | identified if guarded else np.ones(len(levels), bool)
    # Parents and children named alike (see generation_guard) would teach it that matches' dates of birth are
    # often decades apart: they never train, unless they share a valid identifier.
    generations = generation_pattern(features, candidates.left, candidates.right, levels)
    generations_guarded = generations_seen(features, candidates, levels, generations)
    generations &= ~identified & generations_guarded
    all_counts = patterns.counts()
    all_names = list(COLUMN)
    non_match = np.ones(len(sample_levels))
    for _ in range(2):
        u = _u_from(sample_levels, non_match, floor)
        m, per_pass, from_prior = _fit_m(patterns, candidates, u, iterations, tolerance, floor,
                                           training & ~generations)
        _, share, used = expectation_maximisation(patterns, all_counts, all_names, u, m, 0.5, False, iterations,
                                                  tolerance, floor)
        if len(candidate_codes):
            posterior = _posterior(patterns.log2_bayes_factors(all_names, m, u), share)[patterns.of_pair]
            non_match = np.where(is_candidate, 1.0 - posterior[found], 1.0)
    all_pairs = max(n * (n - 1) // 2, 1)
    prior = float(np.clip(share * len(levels) / all_pairs, floor * floor, 1 - floor))
    model = Model(m=m, u=u, prior=prior, candidate_match_share=share, twins_guarded=guarded,
                  generations_guarded=generations_guarded,
                  training={"records": n, "u_random_pairs": len(sample_levels),
                            "u_random_pairs_that_are_candidates": int(is_candidate.sum()),
                            "pairs_left_out_of_training_as_twins": int((~training).sum()),
                            "pairs_left_out_of_training_as_generations": int((generations & training).sum()),
                            "em_passes": per_pass, "prior_iterations": used, "probability_floor": floor})
    evidence = score(features, candidates, levels, model)["match_weight"].to_numpy() - model.prior_weight
    weights, model.training["source_pairs"] = source_priors(features, candidates, evidence, prior, iterations,
                                                            tolerance)
    model.source_prior_weights, bounded = bounded_source_priors(weights)
    covered = coverage(features.source, candidates.left, candidates.right,
                       evidence + model.pair_prior_weights(features, candidates.left, candidates.right))
    model.coverage = {key: min(share, COVERAGE_CEILING) for key, share in covered.items()}
    model.safeguards = {"em_passes_rejected": {name: counts["rejected"] for name, counts in per_pass.items()
                                               if "rejected" in counts},
                        "m_from_prior": from_prior, "source_priors_bounded": bounded,
                        "coverage_capped": sorted(key for key, share in covered.items() if share > COVERAGE_CEILING)}
    model.safeguards["checks"] = sanity_checks(model, n, len(levels))
    return model


# No extract is taken to hold more than this share of another's children: the extracts' evidence (.exclusivity)
# for a pair alone in both then stays under 2 * log2(1 / (1 - COVERAGE_CEILING)), about 13 bits, however sure the
# estimate (an extract is never complete: children move in, are born, are missed).
COVERAGE_CEILING = 0.99

# A pair of records of one source is at most 2^SOURCE_PRIOR_BOUND times likelier (before any evidence) to be one
# child than a pair of that source and another: an extract that lists a child twice far more often than the other
# extracts list that child at all says the evidence within it was misread (siblings taken for one child).
SOURCE_PRIOR_BOUND = 4.0


def bounded_source_priors(weights: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """The priors per pair of sources (see :func:`source_priors`) with each source's own pairs' prior at most
    SOURCE_PRIOR_BOUND bits above its best prior with another source (a source without candidate pairs with
    another keeps its own); and the pairs of sources whose prior was lowered."""
    bounded, lowered = dict(weights), []
    for name, weight in weights.items():
        source, other = name.split("|")
        if source != other:
            continue
        cross = [w for key, w in weights.items() if source in key.split("|") and key != name]
        if cross and weight > max(cross) + SOURCE_PRIOR_BOUND:
            bounded[name] = max(cross) + SOURCE_PRIOR_BOUND
            lowered.append(name)
    return bounded, lowered


MAX_MATCHES_PER_RECORD = 5.0    # expected matching pairs per record: more says EM took whole blocks for matches


def sanity_checks(model: Model, records: int, candidate_pairs: int) -> dict[str, bool]:
    """The fitted model's sanity checks, each True when it holds: weights monotone in level order and the best
    level of every comparison not against a match; at least one blocking pass's EM accepted, if any had pairs to
    train on (else m is the weak prior alone); the matches expected among the candidate pairs neither none nor implausibly many."""
    monotone_weights = all(np.all(np.diff(model.weights(c.name)[1:]) <= 1e-9)
                           and model.weights(c.name)[agreement_level(c)] >= 0 for c in COMPARISONS)
    passes = model.training.get("em_passes", {})
    expected = model.candidate_match_share * candidate_pairs
    return {"weights_monotone": bool(monotone_weights),
            "an_em_pass_accepted": not passes or any("rejected" not in counts for counts in passes.values()),
            "expected_matches_plausible": bool(candidate_pairs == 0
                                               or 0.5 <= expected <= MAX_MATCHES_PER_RECORD * max(records, 1))}


def source_pairs(features: Features, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Per pair, a code for its pair of sources, and the names ("A|B", sources in sorted order) of the codes."""
    codes, sources = pd.factorize(features.source, sort=True)
    k = max(len(sources), 1)
    low, high = np.minimum(codes[left], codes[right]), np.maximum(codes[left], codes[right])
    return low * k + high, [f"{a}|{b}" for a in sources for b in sources]


def source_priors(features: Features, candidates: Candidates, evidence: np.ndarray, prior: float,
                  iterations: int, tolerance: float) -> tuple[dict[str, float], dict[str, dict]]:
    """The prior per pair of sources, by EM with m and u fixed: a pair's match probability from its ``evidence``
    (match weight less the prior) and its sources' prior; each prior the expected matches among that pair of
    sources' candidate pairs, plus one at the overall rate (so a pair of sources with no likely match among its
    candidates keeps a prior of about one match in all its pairs), over its record pairs.

    Returns per pair of sources with candidate pairs, the log2 prior odds less the overall prior's, and (counts
    only) its record pairs, candidate pairs and expected matches."""
    code, names = source_pairs(features, candidates.left, candidates.right)
    sizes = np.bincount(pd.factorize(features.source, sort=True)[0], minlength=int(np.sqrt(len(names))))
    k = len(sizes)
    record_pairs = np.array([sizes[i] * (sizes[i] - 1) / 2 if i == j else float(sizes[i] * sizes[j])
                             for i in range(k) for j in range(k)])
    candidate_pairs = np.bincount(code, minlength=k * k)
    odds = np.log2(prior / (1 - prior))
    weights = np.full(k * k, odds)
    expected = np.zeros(k * k)
    for _ in range(iterations):
        expected = np.bincount(code, weights=1.0 / (1.0 + np.exp2(-(evidence + weights[code]))), minlength=k * k)
        rate = (expected + 1.0) / np.maximum(record_pairs + 1.0 / prior, 1.0)
        new = np.log2(rate / (1 - rate))
        change = float(np.abs(new - weights).max()) if k else 0.0
        weights = new
        if change < tolerance:
            break
    present = np.flatnonzero(candidate_pairs)
    return ({names[i]: float(weights[i] - odds) for i in present},
            {names[i]: {"record_pairs": int(record_pairs[i]), "candidate_pairs": int(candidate_pairs[i]),
                        "expected_matches": round(float(expected[i]), 1)} for i in present})


def term_frequencies(codes: np.ndarray) -> np.ndarray:
    """Per record (its value's code, -1 where missing: :meth:`Features.codes`), the share of records with a value
    that hold the same value; 1.0 where missing."""
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=max(int(codes.max(initial=-1)) + 1, 1))
    return np.where(present, counts[np.maximum(codes, 0)] / max(int(present.sum()), 1), 1.0)


HOUSEHOLD = ("family_name", "date_of_birth", "home")


def twins_pattern(levels: pd.DataFrame, sexes: bool = True) -> np.ndarray:
    """Per pair: the twins guard's pattern holds (see :func:`twins_guard`); with ``sexes`` False, only its
    given-name condition tells the records apart (not different recorded sexes)."""
    given, dob = (by_name(name).labels() for name in ("given_name", "date_of_birth"))
    undistinguished = levels["given_name"].isin([0, given.index("phonetic"), given.index("else")])
    not_identical = levels["given_name"] != given.index("exact")
    # two different valid identifiers (NHS numbers or UPNs: a child keeps one) tell twins apart whose given names
    # are only alike (Magdalena and Lena)
    undistinguished |= ((levels["nhs_number"] == 2) | (levels["upn"] == 2)) & not_identical
    if sexes:
        undistinguished |= (levels["sex"] == 2) & not_identical
    same_birthday = levels["date_of_birth"].isin([dob.index("exact"), dob.index("exact_1_jan")])
    return (_same_household(levels) & same_birthday & undistinguished).to_numpy()


def _same_household(levels: pd.DataFrame) -> pd.Series:
    """Per pair: the family names agree (any level short of 'else') and so do the homes (same address, or
    postcode)."""
    family, home = (by_name(name).labels() for name in ("family_name", "home"))
    same_family = ~levels["family_name"].isin([0, family.index("else")])
    return same_family & levels["home"].isin([home.index(label)
                                              for label in ("same_home", "same_postcode", "neighbours")])


# Two people of one household whose years of birth are at least this far apart (and whose dates are not one typo
# apart) are a generation apart: a parent and a child, whom a household names alike as often as not.
GENERATION_YEARS = 12


def generation_pattern(features: Features, left: np.ndarray, right: np.ndarray, levels: pd.DataFrame
                       ) -> np.ndarray:
    """Per pair: the generation guard's pattern holds (see :func:`generation_guard`)."""
    years_l, years_r = features.dob_year[left], features.dob_year[right]
    apart = (years_l > 0) & (years_r > 0) & (np.abs(years_l - years_r) >= GENERATION_YEARS)
    dob_else = levels["date_of_birth"].to_numpy() == by_name("date_of_birth").labels().index("else")
    return apart & dob_else & _same_household(levels).to_numpy()


# An extract listing parents beside their children holds pairs of its own records a generation apart at one home
# under different given names for a good share of its records (some 1 to 5 in 100 on the generator's shapes);
# people of one file who share a surname and an address by chance, far fewer (under 1 in 500 on FEBRL).
GENERATIONS_SEEN_SHARE = 0.005


def generations_seen(features: Features, candidates: Candidates, levels: pd.DataFrame, pattern: np.ndarray
                     ) -> bool:
    """The data hold households of two generations: in some source, the pairs of its own records that fit the
    generation guard's pattern (``pattern``) with given names clearly different (missing, only phonetically alike
    or else) number at least GENERATIONS_SEEN_SHARE of its records. An extract lists a person once, so those are
    a parent and a child. Where no source holds them (two files of people, a file of duplicates whose dates of
    birth were garbled), a pair a generation apart at one home is one person with a wrong date of birth."""
    given = by_name("given_name").labels()
    unlike = levels["given_name"].isin([0, given.index("phonetic"), given.index("else")]).to_numpy()
    codes, sources = pd.factorize(features.source)
    same_source = codes[candidates.left] == codes[candidates.right]
    held = np.bincount(codes[candidates.left[pattern & unlike & same_source]], minlength=len(sources))
    return bool((held >= GENERATIONS_SEEN_SHARE * np.bincount(codes, minlength=len(sources))).any()
                and held.any())


def generation_guard(pattern: np.ndarray, weights: pd.DataFrame) -> np.ndarray:
    """Generation guard: where two records share a household (family name, any level short of 'else', and home:
    same address or postcode) but their years of birth are GENERATION_YEARS or more apart (and their dates not
    one digit apart), they are a parent and a child, who share the household by construction (and often a
    forename): its family name and home are no evidence, so the guard cancels their weights and the date of
    birth, names, sex and identifiers decide.

    Returns the guard weight per pair (0 where the pattern does not hold)."""
    household = weights[["w_family_name", "w_home"]].sum(axis=1).to_numpy()
    return np.where(pattern, -household, 0.0)


def twins_seen(features: Features, candidates: Candidates, levels: pd.DataFrame) -> bool:
    """The data hold twins: some pair of records from one source fits the twins guard's pattern. An extract lists
    a child once, so two of its records sharing a household but not a given name are two children; where no
    extract holds such a pair (two files, each of different people), a pair of files fitting the pattern is one
    person with a mistyped or missing given name. One source that repeats people (de-duplicating a single file)
    keeps the guard: precision first."""
    same_source = features.source[candidates.left] == features.source[candidates.right]
    return bool((twins_pattern(levels) & same_source).any())


def twins_guard(levels: pd.DataFrame, weights: pd.DataFrame) -> np.ndarray:
    """Twins guard: where two records agree on family name (any level short of 'else'), date of birth (exact) and
    home (same address, or same postcode) but nothing tells children of one household apart agrees
    (given names missing on either side, or clearly different: no exact, variant, swapped or Jaro-Winkler >= 0.85
    match; or the recorded sexes differ and the given names are not identical, as Aleksander and Aleksandra), the
    household fields are no evidence (twins share them by construction), so the guard cancels their weights and
    only the given names, sex and identifiers decide.

    Returns the guard weight per pair (0 where the pattern does not hold)."""
    pattern = twins_pattern(levels)
    household = weights[[f"w_{name}" for name in HOUSEHOLD]].sum(axis=1).to_numpy()
    return np.where(pattern, -household, 0.0)


def score(features: Features, candidates: Candidates, levels: pd.DataFrame, model: Model) -> pd.DataFrame:
    """Per pair: the weight of every comparison, the prior, the twins guard, match_weight and probability."""
    weights = {}
    for comparison in COMPARISONS:
        level = levels[comparison.name].to_numpy()
        weight = model.weights(comparison.name)[level]
        if comparison.term_frequency:
            agree = agreement_level(comparison)
            exact = level == agree
            frequency = term_frequencies(features.codes(comparison.term_frequency)[0])
            u_value = np.maximum(frequency[candidates.left[exact]], model.training["probability_floor"])
            # a common name agreeing says less, but never less than the next level nor against a match
            weight[exact] = np.maximum(np.log2(model.m[comparison.name][agree] / u_value),
                                       max(model.weights(comparison.name)[agree + 1], 0.0))
        weights[f"w_{comparison.name}"] = weight
    frame = pd.DataFrame(weights)
    frame["w_twins_guard"] = twins_guard(levels, frame) if model.twins_guarded else 0.0
    frame["w_generation_guard"] = (generation_guard(generation_pattern(features, candidates.left, candidates.right,
                                                                       levels), frame)
                                   if model.generations_guarded else 0.0)
    frame.insert(0, "w_prior", model.pair_prior_weights(features, candidates.left, candidates.right))
    frame.insert(0, "match_weight", frame.sum(axis=1))
    frame.insert(1, "match_probability", 1.0 / (1.0 + np.exp2(-frame["match_weight"].to_numpy())))
    return frame
