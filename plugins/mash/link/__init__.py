"""Record linkage: which records from health, police, schools and social care are the same child.

    from mash.link import link
    result = link(records)                 # records: a DataFrame in the person schema
    result.clusters                        # record_id, person_id (every input record)
    result.pairs                           # candidate pairs with per-field weights and a decision
    result.model.as_dict()                 # the m/u estimates, for explaining a decision
    link(records, previous=previous)       # incremental: only new and changed records are scored (.incremental)
    link(records, remembered=recall(path)) # only new and changed records' features worked out (.incremental)
    partitions.link_in_partitions(records, 4, directory)   # the same, comparisons in 4 partitions (.partitions)

Blocking (:mod:`.blocking`) finds candidate pairs, :mod:`.comparisons` grades each field of a pair into levels,
:mod:`.model` estimates a Fellegi-Sunter model from the records themselves and scores the pairs, the settings'
thresholds decide link / review / non-link, and :mod:`.clusters` groups the linked records into persons under the
officers' must-link and cannot-link constraints; an uncertain pair whose records the links have already made one
child is ``clustered`` rather than queued for review. Precision comes first: a false link shows one child's
history to another child's professionals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import yaml

from .blocking import Candidates, candidate_pairs
from .clusters import ConstraintConflict, cluster
from .comparisons import Features, compare, dominant_values, invalid_identifiers, person_schema
from .exclusivity import COLUMN as EXCLUSIVITY, exclusivity_weights
from .incremental import Previous, RecordIds, Remembered, fingerprints, kept_pairs, unchanged
from .model import Model, estimate, score

__all__ = ["ConstraintConflict", "LinkResult", "LinkSettings", "LinkWork", "Model", "Previous", "Remembered",
           "counts_as_evidence", "evidence_pairs", "finish", "link", "prepare"]

DECISIONS = ("link", "review", "clustered", "non-link")   # clustered: uncertain alone, but already one child
LINK, REVIEW, CLUSTERED, NON_LINK = range(len(DECISIONS))
EVIDENCE_WEIGHT = -10.0     # match weight (before the extracts' evidence) below which a pair is no evidence: odds
                            # under 1 in 1,000, a rival too weak to matter and a pair too weak to become a link


@dataclass(frozen=True)
class LinkSettings:
    """The thresholds and sizes of a linkage run; the values live in ``settings.yaml``."""
    link_probability: float
    review_probability: float
    max_block_size: int
    u_random_pairs: int
    seed: int
    em_max_iterations: int
    em_tolerance: float
    probability_floor: float
    dominant_value_share: float
    dominant_name_share: float
    dominant_value_min_records: int
    hold_merged_share: float = 0.02     # held_night: see settings.yaml
    hold_split_share: float = 0.02
    hold_moved_share: float = 0.02
    hold_ended_share: float = 0.02
    hold_at_least: int = 20

    def __post_init__(self):
        problems = []
        for name in ("hold_merged_share", "hold_split_share", "hold_moved_share", "hold_ended_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                problems.append(f"{name} must be a share above 0 and at most 1 (got {value!r})")
        if isinstance(self.hold_at_least, bool) or not isinstance(self.hold_at_least, int) or self.hold_at_least < 0:
            problems.append(f"hold_at_least must be a whole number of at least 0 (got {self.hold_at_least!r})")
        if not 0.5 <= self.review_probability <= self.link_probability < 1:
            problems.append("need 0.5 <= review_probability <= link_probability < 1 (got "
                            f"{self.review_probability} and {self.link_probability})")
        for name in ("max_block_size", "u_random_pairs", "em_max_iterations"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 2:
                problems.append(f"{name} must be an integer of at least 2 (got {getattr(self, name)!r})")
        if not isinstance(self.seed, int):
            problems.append(f"seed must be an integer (got {self.seed!r})")
        for name in ("em_tolerance", "probability_floor"):
            if not 0 < getattr(self, name) < 0.01:
                problems.append(f"{name} must be between 0 and 0.01 (got {getattr(self, name)!r})")
        for name in ("dominant_value_share", "dominant_name_share"):
            if not 0 < getattr(self, name) <= 1:
                problems.append(f"{name} must be above 0 and at most 1 (got {getattr(self, name)!r})")
        if not isinstance(self.dominant_value_min_records, int) or self.dominant_value_min_records < 2:
            problems.append("dominant_value_min_records must be an integer of at least 2 "
                            f"(got {self.dominant_value_min_records!r})")
        if problems:
            raise ValueError("invalid link settings: " + "; ".join(problems))

    @classmethod
    def load(cls, path: Path | None = None) -> "LinkSettings":
        """The packaged ``settings.yaml``, with the values in the YAML file ``path`` (same shape, any subset of
        keys) taking precedence."""
        values = _settings_values(resources.files(__name__).joinpath("settings.yaml").read_text(encoding="utf-8"),
                                  "settings.yaml")
        if path is not None:
            values.update(_settings_values(Path(path).read_text(encoding="utf-8"), str(path)))
        return cls(**values)


def _settings_values(text: str, source: str) -> dict:
    document = yaml.safe_load(text) or {}
    sections = {"decisions", "blocking", "estimation", "held_night"}
    if not isinstance(document, dict) or set(document) - sections:
        raise ValueError(f"link settings {source}: top-level keys must be among {sorted(sections)}")
    values = {}
    for section in sections & set(document):
        if not isinstance(document[section], dict):
            raise ValueError(f"link settings {source}: '{section}' must be a mapping")
        values.update(document[section])
    unknown = set(values) - {f.name for f in fields(LinkSettings)}
    if unknown:
        raise ValueError(f"link settings {source}: unknown keys {sorted(unknown)}")
    return values


@dataclass
class LinkResult:
    clusters: pd.DataFrame      # record_id, person_id
    pairs: pd.DataFrame         # record_id_l, record_id_r, match_weight, match_probability, decision, w_*, l_*
    model: Model
    stats: dict                 # counts and seconds only
    fingerprints: np.ndarray    # per record (as in clusters): see mash.link.incremental.fingerprints
    features: Features          # per record (as in clusters): for the next run to reuse (incremental.remember)
    rescored: np.ndarray        # per record: its pairs were scored in this run (all, unless incremental)


def _positions(pairs: list[tuple[str, str]], ids: RecordIds, what: str) -> np.ndarray:
    found = ids.positions([record for pair in pairs for record in pair]).reshape(-1, 2)
    if (found < 0).any():
        raise ValueError(f"{what} pairs name records that are not in the input: {int((found < 0).any(axis=1).sum())}"
                         " pair(s)")
    return found.astype(np.int64)


def link(records: pd.DataFrame, settings: LinkSettings | None = None,
         must_link: Iterable[tuple[str, str]] = (), cannot_link: Iterable[tuple[str, str]] = (),
         previous: Previous | None = None, remembered: Remembered | None = None,
         fallback: Model | None = None) -> LinkResult:
    """Link ``records`` (person schema; missing columns count as empty) into persons.

    Without ``previous`` (a full relink) every candidate pair is scored by a model estimated on the records alone.
    With it (incremental) only the pairs with a new or changed record on at least one side are blocked and scored,
    by the previous model; the previous link and review pairs between unchanged records are kept as scored.
    With ``remembered`` (features an earlier run worked out), only new and changed records' features are worked out.
    With ``fallback`` (the last good model, e.g. the store's latest), a full relink whose estimated model fails its
    sanity checks (:func:`~.model.sanity_checks`) scores with ``fallback`` instead; ``stats["model"]`` says which.

    The three stages, :func:`prepare`, :func:`~.comparisons.compare` of the candidate pairs and :func:`finish`, are
    also run apart: :mod:`.partitions` compares the candidate pairs in partitions, on other processes or workers."""
    work = prepare(records, settings, must_link, cannot_link, previous, remembered)
    started = time.perf_counter()
    levels = compare(work.features, work.candidates.left, work.candidates.right)
    work.seconds["comparisons"] = round(time.perf_counter() - started, 3)
    return finish(work, levels, fallback)


@dataclass
class LinkWork:
    """A linkage run between blocking and comparisons: everything :func:`finish` needs besides the candidate
    pairs' comparison levels."""
    settings: LinkSettings
    features: Features          # placeholder values found in the data blanked (see dominant_values)
    ids: RecordIds              # for finding records by id
    fingerprints: np.ndarray
    must: np.ndarray            # positions of must-link pairs
    cannot: np.ndarray          # positions of cannot-link pairs
    rescore: np.ndarray         # per record: its pairs are scored in this run
    candidates: Candidates
    previous: Previous | None
    invalid_identifiers: dict[str, dict[str, int]]
    features_remembered: int    # records whose remembered features were reused
    seconds: dict[str, float]   # per step so far
    dominant_values: dict[str, dict[str, int]]   # per comparison, the placeholder values found (counts only)
    remembered: Features        # the features as worked out from the records, for the next run to reuse


def prepare(records: pd.DataFrame, settings: LinkSettings | None = None,
            must_link: Iterable[tuple[str, str]] = (), cannot_link: Iterable[tuple[str, str]] = (),
            previous: Previous | None = None, remembered: Remembered | None = None) -> LinkWork:
    """The records' features and the candidate pairs (see :func:`link`)."""
    settings = settings or LinkSettings.load()
    started = time.perf_counter()
    records = person_schema(records)
    ids = RecordIds(records["record_id"].to_numpy())
    prints = fingerprints(records)
    earlier_at = None if remembered is None else remembered.positions(prints)
    features = Features.of_schema(records, earlier=remembered, earlier_at=earlier_at)
    must = _positions(list(must_link), ids, "must-link")
    cannot = _positions(list(cannot_link), ids, "cannot-link")
    rescore = np.ones(len(features), bool) if previous is None else ~unchanged(ids, prints, previous)
    invalid = invalid_identifiers(features)
    compared, dominant = dominant_values(features, settings.dominant_value_share, settings.dominant_name_share,
                                         settings.dominant_value_min_records)
    blocking = time.perf_counter()
    candidates = candidate_pairs(compared, settings.max_block_size, None if previous is None else rescore)
    seconds = {"features": round(blocking - started, 3), "blocking": round(time.perf_counter() - blocking, 3)}
    return LinkWork(settings=settings, features=compared, ids=ids, fingerprints=prints, must=must, cannot=cannot,
                    rescore=rescore, candidates=candidates, previous=previous, invalid_identifiers=invalid,
                    features_remembered=0 if earlier_at is None else int((earlier_at >= 0).sum()), seconds=seconds,
                    dominant_values=dominant, remembered=features)


def finish(work: LinkWork, levels: pd.DataFrame, fallback: Model | None = None) -> LinkResult:
    """Estimate (a full relink) or reuse (incremental) the model, score and decide the candidate pairs whose
    comparison ``levels`` are given (one row per candidate pair, in order), and cluster. An estimated model that
    fails its sanity checks is replaced by ``fallback`` if given (see :func:`link`)."""
    settings, features, candidates, previous = work.settings, work.features, work.candidates, work.previous
    seconds = dict(work.seconds)
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    if previous is None:
        model = estimate(features, candidates, levels, settings.u_random_pairs, settings.seed,
                         settings.em_max_iterations, settings.em_tolerance, settings.probability_floor)
        failed = [name for name, held in model.safeguards.get("checks", {}).items() if not held]
        used = "estimated"
        if failed and fallback is not None:
            model = _rescaled(fallback, len(features))
            used = "fallback"
        model_stats = {"estimated_usable": not failed, "used": used, "failed_checks": failed}
    else:
        model = previous.model_for(len(features))
        model_stats = {"estimated_usable": None, "used": "previous", "failed_checks": []}
    lap("estimation")
    scored = score(features, candidates, levels, model)
    weight_columns = list(scored.columns[2:])               # w_prior, a weight per comparison, w_twins_guard
    pairs = pd.concat([pd.DataFrame({"record_id_l": features.record_id[candidates.left],
                                     "record_id_r": features.record_id[candidates.right]}, dtype=object),
                       scored.iloc[:, :2], pd.DataFrame({"decision": np.full(len(scored), "", dtype=object)},
                                                        dtype=object),
                       scored.iloc[:, 2:], levels.add_prefix("l_")], axis=1)
    left, right = candidates.left, candidates.right
    kept = 0
    if previous is not None:
        earlier, earlier_left, earlier_right = kept_pairs(previous, work.ids, ~work.rescore)
        kept = len(earlier)
        # tonight's prior for a kept pair: the prior is rescaled to tonight's records (Previous.model_for)
        earlier = earlier.assign(w_prior=model.pair_prior_weights(features, earlier_left, earlier_right))
        pairs = pd.concat([pairs, earlier.drop(columns=[EXCLUSIVITY], errors="ignore")], ignore_index=True)
        left, right = np.concatenate([left, earlier_left]), np.concatenate([right, earlier_right])
    pairs["match_weight"] = _summed(pairs, weight_columns)
    pairs = _with_exclusivity(pairs, features, left, right, model, work.ids)
    decision = _decide(pairs, settings)
    lap("scoring")
    label, cluster_stats = cluster(len(features), left, right, pairs["match_weight"].to_numpy(dtype=float),
                                   decision == LINK, features.codes("nhs_number")[0], work.must, work.cannot,
                                   features.record_id)
    # An uncertain pair whose records are one child already, through links (or officers' must-links) each surer
    # than it, needs no officer: it agrees with what the links decided.
    decision[(decision == REVIEW) & (label[left] == label[right])] = CLUSTERED
    pairs["decision"] = np.array(DECISIONS, dtype=object)[decision]
    clusters = pd.DataFrame({"record_id": features.record_id, "person_id": _person_ids(label, len(features))},
                            dtype=object)
    lap("clustering")
    stats = {"records": len(features), "mode": "full" if previous is None else "incremental",
             "records_rescored": int(work.rescore.sum()), "pairs_kept": kept,
             "features_remembered": work.features_remembered,
             "invalid_identifiers": work.invalid_identifiers, "dominant_values": work.dominant_values,
             "model": model_stats, **candidates.stats,
             "decisions": dict(zip(DECISIONS, np.bincount(decision, minlength=len(DECISIONS)).tolist())),
             "persons": int(np.count_nonzero(np.bincount(label))), **cluster_stats, "seconds": seconds}
    return LinkResult(clusters=clusters, pairs=pairs, model=model, stats=stats, fingerprints=work.fingerprints,
                      features=work.remembered, rescored=work.rescore)


def _rescaled(model: Model, records: int) -> Model:
    """A model estimated on other records (its training says how many), its prior rescaled to ``records`` as an
    incremental run rescales the last full relink's (:meth:`.incremental.Previous.model_for`)."""
    estimated_on = model.training.get("records")
    if not estimated_on:
        return model
    return Previous(fingerprints=pd.Series(dtype="uint64"), pairs=pd.DataFrame(), model=model,
                    records=int(estimated_on)).model_for(records)


def _person_ids(label: np.ndarray, records: int) -> np.ndarray:
    """'P' and the cluster label, zero-padded to the width of the largest possible label: P000000, P000001, ...
    (the characters' code points worked out digit by digit over all labels at once, for speed)."""
    width = len(str(max(records - 1, 0)))
    characters = np.empty((len(label), width + 1), dtype=np.uint32)
    characters[:, 0] = ord("P")
    rest = label.astype(np.int64)
    for column in range(width, 0, -1):
        rest, characters[:, column] = np.divmod(rest, 10)
    characters[:, 1:] += ord("0")
    return characters.view(f"U{width + 1}").ravel().astype(object)


def _summed(pairs: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Per pair, the sum of its ``columns`` added left to right: the same sum for a pair scored tonight and a pair
    kept from an earlier run, to the last bit."""
    total = np.zeros(len(pairs))
    for column in columns:
        total = total + pairs[column].to_numpy(dtype=float)
    return total


def counts_as_evidence(match_weight: np.ndarray) -> np.ndarray:
    """Per pair (its match weight before the extracts' evidence): whether it counts as evidence, that is takes part
    in the extracts' evidence (as a candidate or a rival) and is kept for the next incremental run. A pair below
    EVIDENCE_WEIGHT is a non-link whatever the extracts say, so a full relink and an incremental night weigh the
    same pairs."""
    return match_weight >= EVIDENCE_WEIGHT


def evidence_pairs(result: "LinkResult") -> pd.DataFrame:
    """The pairs of ``result`` that count as evidence, as the next incremental run takes them (:class:`Previous`):
    record ids, match weight and probability before the extracts' evidence, decision, and the other weights."""
    pairs = result.pairs.drop(columns=[EXCLUSIVITY, *result.pairs.filter(regex="^l_").columns])
    weight = _summed(pairs, [column for column in pairs.columns if column.startswith("w_")])   # as finish() adds
    pairs = pairs.assign(match_weight=weight, match_probability=1.0 / (1.0 + np.exp2(-weight)))
    return pairs[counts_as_evidence(weight)].reset_index(drop=True)


def _with_exclusivity(pairs: pd.DataFrame, features: Features, left: np.ndarray, right: np.ndarray,
                      model: Model, ids: RecordIds) -> pd.DataFrame:
    """The pairs with the extracts' evidence (:mod:`.exclusivity`) weighed over the pairs that count as evidence,
    tonight's and kept ones alike, taken in the order of their records' ids (hashed; see :func:`_canonical`) so that
    the sums over rivals are added in the same order whichever run found the pairs; match weight and probability
    updated. A pair that does not count as evidence gets none."""
    weight = pairs["match_weight"].to_numpy(dtype=float)
    order = _canonical(np.flatnonzero(counts_as_evidence(weight)), left, right, ids)
    evidence = np.zeros(len(pairs))
    evidence[order] = exclusivity_weights(features.source, left[order], right[order], weight[order],
                                          model.coverage)
    pairs = pairs.assign(**{EXCLUSIVITY: evidence}, match_weight=weight + evidence)
    pairs["match_probability"] = 1.0 / (1.0 + np.exp2(-pairs["match_weight"].to_numpy()))
    return pairs


def _canonical(rows: np.ndarray, left: np.ndarray, right: np.ndarray, ids: RecordIds) -> np.ndarray:
    """``rows`` (pair positions) ordered by their records' hashed ids (the lower hash first, then the higher): an
    order that does not depend on the order the records were read in or the pairs were found in."""
    hashes = ids.hashes
    a, b = hashes[left[rows]], hashes[right[rows]]
    return rows[np.lexsort((np.maximum(a, b), np.minimum(a, b)))]


def _decide(scored: pd.DataFrame, settings: LinkSettings) -> np.ndarray:
    """Per pair, its decision by the thresholds, as its position in DECISIONS (compared as small integers)."""
    probability = scored["match_probability"].to_numpy()
    return np.select([probability >= settings.link_probability, probability >= settings.review_probability],
                     [LINK, REVIEW], NON_LINK).astype(np.int8)
