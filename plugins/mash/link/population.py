"""Tonight's matching over the store: link every agency's current person records into children, keep the
children's ids stable, remember why each link was made, and queue the uncertain pairs for officers.

Once a population has been matched, a night is incremental: only new and changed records are scored, with the
model the last full relink estimated (see :mod:`mash.link.incremental`); ``full=True`` relinks everything and
estimates the model afresh (the first night, after a change of the matcher, or whenever the partnership wants the
model re-estimated). The same as the nightly DAG's `match_children` task and `mash match [--full]`.

Given a ``features`` file, each run remembers its records' features there and the next run, full or incremental,
works out only the new and changed records' (:mod:`mash.link.incremental`); the file is a cache, and a missing or
stale one only costs time.

A night that would merge, split or move more children than the link settings allow is held, not stored
(:mod:`mash.link.held`): :attr:`MatchSummary.held` says so, and :func:`apply_held_night` stores it once an officer
has approved it.

In partitions (MASH_MATCH_PARTITIONS, `mash match --partitions N`), :func:`plan_partitions` loads the records and
blocks them, each partition's comparisons run on their own (:func:`mash.link.partitions.compare_partition`, in the
DAG a mapped task per partition), and :func:`combine_partitions` scores, clusters and stores the result as
:func:`match_children` does, full relink or incremental alike.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, or_, select, update

from mash.link import LinkResult, LinkSettings, Model, Previous, Remembered, evidence_pairs, link, prepare
from mash.link.held import HoldError, digest, gate
from mash.link.partitions import combine, compare_partitions, remove, split
from mash.link.identity import apply_child_ids, plan_child_ids
from mash.link.incremental import as_text, from_text, recall, remember
from mash.link.records import records_from_store
from mash.link.review import constraints, sync_review_queue
from mash.store import bulk_insert
from mash.store.schema import child_record, link_model, match_hold, record_link

CHUNK = 5000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatchSummary:
    """Counts only: safe for logs and XCom."""
    full_relink: bool           # False: an incremental night
    records: int
    records_rescored: int       # new and changed records (all of them in a full relink)
    features_remembered: int    # records whose features were the last run's (not worked out again)
    children: int
    links: int
    reviews: int
    new_children: int
    merged: int
    split: int
    records_moved: int
    children_ended: int         # children in force none of whose records is left
    invalid_identifiers: dict[str, dict[str, int]]   # per source: NHS numbers and UPNs present but invalid
    model_checks_failed: int = 0   # sanity checks the model estimated tonight failed (see mash.link.model)
    last_good_model_used: bool = False   # ... so tonight was scored with the last model that passed them
    held: bool = False          # past the held_night thresholds and not approved: nothing was stored
    newly_held: bool = False    # held by this run (the officers are to be alerted), not by an earlier one

    def as_dict(self) -> dict[str, int]:
        """Flat, for XCom: the invalid identifiers as invalid_<identifier>_<source> counts."""
        flat = asdict(self)
        for source, counts in flat.pop("invalid_identifiers").items():
            flat.update({f"invalid_{identifier}_{source}": count for identifier, count in counts.items()})
        return flat


def same_local_authority_child(records, cannot_link) -> list[tuple[str, str]]:
    """Records carrying the same local authority child id (social care's record and the consent register's rows
    for that child) are one child by definition, not by likelihood: they are joined as must-links, unless an
    officer has decided that two of them are different children (then the officer's decision stands)."""
    keyed = records[records["la_child_id"] != ""].groupby("la_child_id")["record_id"].apply(sorted)
    disputed = {record for pair in cannot_link for record in pair}
    return [(ids[0], other) for ids in keyed if len(ids) > 1 and not disputed.intersection(ids)
            for other in ids[1:]]


def previous_population(conn: Connection) -> Previous | None:
    """What an incremental run reuses: the latest full relink's model, the records' fingerprints and the pairs in
    force that count as evidence, with their weights before the extracts' evidence. None when there is nothing to
    build on (no model, or no record matched with a fingerprint) or the stored model is not this version's."""
    stored = conn.execute(select(link_model.c.records, link_model.c.model)
                          .order_by(link_model.c.created_at.desc()).limit(1)).first()
    if stored is None:
        return None
    try:
        model = Model.from_dict(json.loads(stored.model))
    except ValueError:
        return None
    prints = dict(conn.execute(select(child_record.c.record_id, child_record.c.fingerprint)
                               .where(child_record.c.fingerprint.is_not(None))).all())
    if not prints:
        return None
    rows = conn.execute(select(record_link.c.record_id_l, record_link.c.record_id_r, record_link.c.match_weight,
                               record_link.c.match_probability, record_link.c.weights)).all()
    pairs = pd.DataFrame([row[:4] for row in rows],
                         columns=["record_id_l", "record_id_r", "match_weight", "match_probability"])
    weights = pd.DataFrame([json.loads(row[4]) for row in rows], index=pairs.index)
    return Previous(fingerprints=pd.Series(from_text(list(prints.values())), index=list(prints.keys())),
                    pairs=pd.concat([pairs.assign(decision=""), weights], axis=1),
                    model=model, records=int(stored.records))


def match_children(engine: Engine, run_id: str, settings: LinkSettings | None = None,
                   full: bool = False, features: Path | None = None) -> MatchSummary:
    """Match the store's current person records; incremental when a matched population exists, unless ``full``.
    ``features``: the file where the runs remember their features (see the module's docstring)."""
    records, must_link, cannot_link, previous, remembered = _inputs(engine, full, features)
    settings = settings or LinkSettings.load()
    fallback = None
    if previous is None:
        with engine.connect() as conn:
            fallback = last_good_model(conn)
    result = link(records, settings, must_link=must_link, cannot_link=cannot_link, previous=previous,
                  remembered=remembered, fallback=fallback)
    if result.stats["model"]["failed_checks"]:
        log.warning("matching: the estimated model failed %d sanity check(s); scored with the %s model",
                    len(result.stats["model"]["failed_checks"]), result.stats["model"]["used"])
    return _store_result(engine, run_id, result, previous, features, settings)


def apply_held_night(engine: Engine, run_id: str, settings: LinkSettings | None = None,
                     features: Path | None = None) -> MatchSummary:
    """Store the held run ``run_id`` once an officer has approved it (:func:`mash.link.held.decide_held_night`):
    matched again as it was (incremental or full), which gives the grouping that was held, and stored."""
    with engine.connect() as conn:
        row = conn.execute(select(match_hold.c.status, match_hold.c.full_relink)
                           .where(match_hold.c.run_id == run_id)).first()
    if row is None or row.status not in ("approved", "applied"):
        raise HoldError(f"{run_id}: not an approved held matching run")
    return match_children(engine, run_id, settings, full=row.full_relink, features=features)


def last_good_model(conn: Connection) -> Model | None:
    """The latest stored model that passed its sanity checks, for a full relink whose estimate fails them; None
    when there is none of this version."""
    for (text,) in conn.execute(select(link_model.c.model).order_by(link_model.c.created_at.desc())):
        try:
            model = Model.from_dict(json.loads(text))
        except ValueError:
            return None
        if model.usable:
            return model
    return None


def plan_partitions(engine: Engine, directory: Path, partitions: int, settings: LinkSettings | None = None,
                    full: bool = False, features: Path | None = None) -> list[int]:
    """The first step of :func:`match_children` in partitions (see :mod:`mash.link.partitions`): features and
    blocking, written into ``directory``; the partitions' numbers, each for :func:`~mash.link.partitions.
    compare_partition`, and then :func:`combine_partitions`."""
    records, must_link, cannot_link, previous, remembered = _inputs(engine, full, features)
    return split(prepare(records, settings, must_link, cannot_link, previous, remembered), partitions, directory)


def combine_partitions(engine: Engine, run_id: str, directory: Path, features: Path | None = None) -> MatchSummary:
    """The last step of :func:`match_children` in partitions: score, cluster and store as it does, then remove the
    work."""
    result, work = combine(directory)
    summary = _store_result(engine, run_id, result, work.previous, features, work.settings)
    remove(directory)
    return summary


def match_children_in_partitions(engine: Engine, run_id: str, directory: Path, partitions: int,
                                 processes: int = 1, settings: LinkSettings | None = None,
                                 full: bool = False, features: Path | None = None) -> MatchSummary:
    """:func:`match_children` with the comparisons in ``partitions`` partitions over ``processes`` processes."""
    numbers = plan_partitions(engine, directory, partitions, settings, full, features)
    try:
        compare_partitions(directory, numbers, processes)
        return combine_partitions(engine, run_id, directory, features)
    finally:
        remove(directory)           # personal data: a failed run leaves none behind


def _inputs(engine: Engine, full: bool, features: Path | None
            ) -> tuple[pd.DataFrame, list, list, Previous | None, Remembered | None]:
    """The store's current person records, the officers' must-link (with the same local authority child's) and
    cannot-link pairs among them, the population to build on (None for a full relink) and the features the last
    run remembered in the file ``features`` (None when there is no file or no usable one)."""
    records = records_from_store(engine)
    with engine.connect() as conn:
        must_link, cannot_link = constraints(conn)
        previous = None if full else previous_population(conn)
    present = set(records["record_id"])
    cannot_link = [p for p in cannot_link if present.issuperset(p)]
    must_link = [p for p in must_link if present.issuperset(p)] + same_local_authority_child(records, cannot_link)
    return records, must_link, cannot_link, previous, None if features is None else recall(features)


def _store_result(engine: Engine, run_id: str, result: LinkResult, previous: Previous | None,
                  features: Path | None, settings: LinkSettings) -> MatchSummary:
    """Store a linkage of the current records, unless it is held (:mod:`mash.link.held`): stable child ids,
    fingerprints, the review queue, the pairs that count as evidence (all of them after a full relink, with its
    model; the rescored records' after an incremental one); then remember its features in the file ``features``,
    if given."""
    pairs = result.pairs
    present = set(result.clusters["record_id"])
    rescored = set(result.clusters["record_id"][result.rescored])
    with engine.begin() as conn:
        plan = plan_child_ids(conn, result.clusters)
        applied, newly_held = gate(conn, run_id, plan, digest(result.clusters), previous is None, settings)
        if applied:
            apply_child_ids(conn, plan, run_id)
            _store_fingerprints(conn, result.clusters["record_id"], result.fingerprints, rescored)
            sync_review_queue(conn, pairs, run_id)
            _store_evidence(conn, run_id, result, previous, present, rescored)
            if previous is None:
                _store_model(conn, run_id, len(present), result.model)
    if features is not None:
        try:
            remember(features, result.features, result.fingerprints)
        except (OSError, ValueError) as error:   # a cache (ValueError: a NUL in a value): the night is stored
            log.warning("matching: features not remembered (%s); the next run works them all out",
                        type(error).__name__)
    changes = plan.changes
    return MatchSummary(full_relink=previous is None, records=len(present),
                        records_rescored=result.stats["records_rescored"],
                        features_remembered=result.stats["features_remembered"], children=changes.children,
                        links=int((pairs["decision"] == "link").sum()),
                        reviews=int((pairs["decision"] == "review").sum()),
                        new_children=changes.new, merged=changes.merged, split=changes.split,
                        records_moved=changes.records_moved, children_ended=changes.ended,
                        invalid_identifiers=result.stats["invalid_identifiers"], held=not applied,
                        newly_held=newly_held, model_checks_failed=len(result.stats["model"]["failed_checks"]),
                        last_good_model_used=result.stats["model"]["used"] == "fallback")


def _store_evidence(conn: Connection, run_id: str, result: LinkResult, previous: Previous | None,
                    present: set[str], rescored: set[str]) -> None:
    """Keep the pairs that count as evidence for the next incremental run (``record_link``): after a full relink
    all of them replace the stored ones; after an incremental night the pairs of records gone or rescored are
    replaced by tonight's. Their weights are kept exactly (JSON numbers as Python writes them: every bit)."""
    evidence = evidence_pairs(result)
    if previous is None:
        conn.execute(delete(record_link))
    else:
        stored = previous.pairs
        gone = sorted(set(stored["record_id_l"]).union(stored["record_id_r"]) - (present - rescored))
        for start in range(0, len(gone), CHUNK):
            chunk = gone[start:start + CHUNK]
            conn.execute(delete(record_link).where(or_(record_link.c.record_id_l.in_(chunk),
                                                       record_link.c.record_id_r.in_(chunk))))
        evidence = evidence[evidence["record_id_l"].isin(rescored) | evidence["record_id_r"].isin(rescored)]
    columns = [c for c in evidence.columns if c.startswith("w_")]
    weights = [json.dumps(dict(zip(columns, row))) for row in evidence[columns].astype(float).itertuples(index=False)]
    bulk_insert(conn, record_link, ["record_id_l", "record_id_r", "match_probability", "match_weight", "weights",
                                    "run_id"],
                zip(evidence["record_id_l"], evidence["record_id_r"], evidence["match_probability"].astype(float),
                    evidence["match_weight"].astype(float), weights, [run_id] * len(evidence)))


def _store_fingerprints(conn: Connection, record_ids: pd.Series, prints: np.ndarray, rescored: set[str]) -> None:
    """Tonight's fingerprint on the records scored tonight and on any row without one (assign_child_ids re-creates
    the row of a record that moved to another child)."""
    missing = set(conn.execute(select(child_record.c.record_id).where(child_record.c.fingerprint.is_(None)))
                  .scalars())
    statement = (update(child_record).where(child_record.c.record_id == bindparam("rid"))
                 .values(fingerprint=bindparam("print")))
    keep = [position for position, record in enumerate(record_ids) if record in rescored or record in missing]
    rows = [{"rid": record, "print": text}
            for record, text in zip(record_ids.to_numpy()[keep], as_text(prints[keep]))]
    for start in range(0, len(rows), CHUNK):
        conn.execute(statement, rows[start:start + CHUNK])


def _store_model(conn: Connection, run_id: str, records: int, model: Model) -> None:
    """Keep the model a full relink estimated, for the incremental runs after it (a rerun replaces its own)."""
    conn.execute(delete(link_model).where(link_model.c.run_id == run_id))
    conn.execute(link_model.insert().values(run_id=run_id, created_at=datetime.now(timezone.utc),
                                            records=records, model=json.dumps(model.as_dict())))
