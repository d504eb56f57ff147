"""Ingestion of agency drops: find complete drops, verify them, archive every file, load or quarantine every row.

One drop becomes one batch, ``<agency>-<YYYYMMDD>-<first 8 hex of the manifest's SHA-256>``, so the same drop
always gets the same id and a rerun finds the work already done. A batch is loaded in one transaction: either all
of its rows are loaded or quarantined, or the drop is rejected with a reason naming the file, row or column and
nothing of it is loaded (the agency's last good batch stays current). Files are removed from the landing zone only
once their bytes are in the archive and are still the bytes the manifest lists; a drop whose files do not match
its manifest is neither archived nor removed, and a file still being written is waited for.
"""

from __future__ import annotations

import hashlib
import logging
import os
import traceback
from dataclasses import asdict, dataclass
from itertools import repeat
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from mash.archive import ArchiveError, archive_file
from mash.contracts import ENCODINGS, Contract, contracts
from mash.home import Home
from mash.ingest.lock import agency_lock
from mash.ingest.parse import HeaderError, parse_file
from mash.landing import (MANIFEST_SUFFIX, SETTLE, Manifest, ManifestError, NotRegular, StillBeingWritten,
                          implausible_date, look_at, not_regular, read_manifest, waiting_manifests)
from mash.store import bulk_insert
from mash.store.schema import archived_file, batch, batch_file, feed_tables, quality_validation, quarantine

log = logging.getLogger(__name__)
QUARANTINE_COLUMNS = ["batch_id", "contract_file", "row_number", "column_name", "reason", "detail"]


class IngestFailed(RuntimeError):
    """Unexpected failures while ingesting an agency's drops; names each drop and error type only."""

    def __init__(self, message: str, outcomes: list["BatchOutcome"]):
        super().__init__(message)
        self.outcomes = outcomes


class DropRejected(Exception):
    """The drop breaks the landing protocol or its contract; the message is safe to show (no personal data)."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one drop came to: ids and counts only, safe for logs and XCom."""
    batch_id: str
    agency: str
    state: str
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    note: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def ingest_agency(agency: str, home: Home, engine: Engine, now: datetime | None = None) -> list[BatchOutcome]:
    """Ingest every complete drop waiting in the agency's landing folder, oldest first (``now``: the clock, for
    tests).

    A drop that fails unexpectedly stays in the landing zone for a rerun and does not stop the agency's later drops;
    IngestFailed is raised at the end, carrying the outcomes of the others. While another process ingests the
    agency (:mod:`mash.ingest.lock`), nothing is done: the other process takes the drops in.
    """
    with agency_lock(agency, home, engine) as held:
        if not held:
            log.warning("%s: already being ingested by another process; its drops are left to that one", agency)
            return []
        return _ingest_waiting(agency, home, engine, now)


def _ingest_waiting(agency: str, home: Home, engine: Engine, now: datetime | None) -> list[BatchOutcome]:
    contract = contracts()[agency]
    outcomes, failures = [], []
    for path in waiting_manifests(home.agency_landing(agency)):
        try:
            outcomes.append(ingest_drop(path, contract, home, engine, now))
        except ArchiveError as exc:             # the hub's disk, not the drop: it stays in landing for a rerun
            failures.append(f"drop {path.name} was not taken in: {exc}")
            log.error("%s: %s; its files stay in the landing zone", agency, failures[-1])
        except Exception as exc:
            # The message of an unexpected error may quote a value from the file: only its type is logged; the
            # traceback goes to a file only the hub's account can read.
            details = _keep_traceback(home, path.name)
            failures.append(f"drop {path.name} failed with {exc.__class__.__name__} (details: {details})")
            log.error("%s: %s; its files stay in the landing zone for a rerun", agency, failures[-1])
    if failures:
        raise IngestFailed(f"{agency}: " + "; ".join(failures), outcomes)
    if not outcomes:
        log.info("%s: no drop waiting", agency)
    return outcomes


def _keep_traceback(home: Home, drop: str) -> Path:
    folder = home.root / "errors"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{drop}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}.txt"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
        handle.write(traceback.format_exc())
    return path


def ingest_drop(manifest_path: Path, contract: Contract, home: Home, engine: Engine,
                now: datetime | None = None) -> BatchOutcome:
    now = now or datetime.now(timezone.utc)
    try:
        manifest = read_manifest(manifest_path, contract.agency)
    except ManifestError as exc:
        return _reject_unreadable_manifest(manifest_path, contract.agency, str(exc), home, engine, now)
    batch_id = f"{manifest.drop_name}-{manifest.sha256[:8]}"
    with engine.connect() as conn:
        known = conn.execute(select(batch).where(batch.c.batch_id == batch_id)).mappings().first()
    if known and (known["state"] == "loaded" or _validated(batch_id, engine)):
        # A batch the data-quality checks rejected was loaded: the same bytes would fail the same way.
        log.info("%s: drop %s already ingested as %s; clearing the landing zone", contract.agency, manifest.drop_name,
                 batch_id)
        _clear_landing(manifest, engine)
        return _outcome(known, note="already ingested")

    # A date that cannot be right is refused like an unreadable manifest: only the manifest is taken in, and the
    # data files wait for a corrected one. The batch records no extract date, so it counts for no night.
    if problem := implausible_date(manifest, now, _current_extract(contract.agency, engine)):
        return _reject_unreadable_manifest(manifest_path, contract.agency, problem, home, engine, now)
    base = dict(batch_id=batch_id, agency=contract.agency, drop_name=manifest.drop_name,
                extract_date=manifest.extract_date, manifest_sha256=manifest.sha256, received_at=now)
    state, reason = _take_in(manifest, now)
    if state == "waiting":
        return _wait(base, reason, engine)
    if state == "rejected":
        # Nothing of the drop was archived or removed: it stays in the landing folder as the agency left it and is
        # looked at again on every run, so it loads once its files are right. Unchanged, it is not recorded again,
        # so the agency hears of it once.
        if not (known and known["state"] == "rejected" and known["reason"] == reason):
            with engine.begin() as conn:
                _write_batch(conn, {**base, "state": "rejected", "reason": reason, "finished_at": now})
            log.warning("%s: drop %s rejected, left in the landing folder: %s", contract.agency, batch_id, reason)
        return BatchOutcome(batch_id, contract.agency, "rejected", reason=reason)

    try:
        archived = {f.name: archive_file(manifest_path.parent / f.name, home.archive, f.sha256)
                    for f in manifest.files}
        archived[manifest_path.name] = archive_file(manifest_path, home.archive, manifest.sha256)
    except StillBeingWritten as exc:
        return _wait(base, f"waiting for {exc.file_name} to be finished: it changed while it was read", engine)
    try:
        _verify(manifest, archived, contract)
        with engine.begin() as conn:
            _record_archive(conn, archived, now)
            outcome = _load(conn, manifest, archived, contract, base)
    except (DropRejected, HeaderError) as exc:
        outcome = BatchOutcome(batch_id, contract.agency, "rejected", reason=str(exc))
        with engine.begin() as conn:
            _record_archive(conn, archived, now)
            _write_batch(conn, {**base, "state": "rejected", "reason": outcome.reason,
                                "finished_at": datetime.now(timezone.utc)})
            _write_files(conn, batch_id, manifest, archived, contract, counts={})
        log.warning("%s: drop %s rejected: %s", contract.agency, batch_id, outcome.reason)
    else:
        log.info("%s: batch %s loaded: %d rows in, %d loaded, %d quarantined", contract.agency, batch_id,
                 outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined)
    _clear_landing(manifest, engine)
    return outcome


def _take_in(manifest: Manifest, now: datetime) -> tuple[str, str | None]:
    """Whether a drop can be taken in: ``ready`` (every file there, regular, finished and as the manifest says),
    ``waiting`` (a file not there yet, or still being written) or ``rejected`` (a file that is not a regular file, or
    whose bytes are not those the manifest lists), with the reason. Nothing is archived or removed here."""
    folder = manifest.path.parent
    for entry in manifest.files:
        try:
            problem = not_regular((folder / entry.name).lstat())
        except FileNotFoundError:
            return "waiting", _not_arrived(entry.name)
        if problem:
            return "rejected", f"{entry.name}: {problem}"
    sealed = manifest.path.lstat().st_mtime_ns
    for entry in manifest.files:
        try:
            look = look_at(folder / entry.name)
        except NotRegular as exc:                               # replaced since the first look
            return "rejected", str(exc)
        except FileNotFoundError:                               # moved away since the first look
            return "waiting", _not_arrived(entry.name)
        if look.changed:
            return "waiting", f"waiting for {entry.name} to be finished: it changed while it was read"
        if look.sha256 != entry.sha256:
            modified = datetime.fromtimestamp(look.mtime_ns / 1e9, timezone.utc)
            if look.mtime_ns > sealed and now - modified < SETTLE:
                return "waiting", (f"waiting for {entry.name} to be finished: it changed after the manifest was "
                                   f"written and does not yet match it")
            return "rejected", (f"{entry.name}: SHA-256 does not match the manifest (the file is damaged or "
                                f"changed after the manifest was written)")
    return "ready", None


def _not_arrived(name: str) -> str:
    return f"waiting for {name}, listed in the manifest but not yet in the landing folder"


def _wait(base: dict, reason: str, engine: Engine) -> BatchOutcome:
    with engine.begin() as conn:
        _write_batch(conn, {**base, "state": "waiting", "reason": reason})
    log.warning("%s: drop %s is incomplete: %s", base["agency"], base["batch_id"], reason)
    return BatchOutcome(base["batch_id"], base["agency"], "waiting", reason=reason)


def _current_extract(agency: str, engine: Engine):
    """The extract date of the agency's latest loaded batch (None before its first)."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(batch.c.extract_date))
                            .where(batch.c.agency == agency, batch.c.state == "loaded")).scalar()


def _validated(batch_id: str, engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(quality_validation.c.batch_id)
                            .where(quality_validation.c.batch_id == batch_id)).first() is not None


def _verify(manifest: Manifest, archived: dict, contract: Contract) -> None:
    expected = {spec.name for spec in contract.files}
    seen = set()
    for entry in manifest.files:
        if entry.contract_file not in expected:
            raise DropRejected(f"{entry.name}: its contract_file is not a file of the {contract.agency} contract "
                               f"(expected one of {sorted(expected)})")
        if entry.contract_file in seen:
            raise DropRejected(f"{entry.name}: a second {entry.contract_file!r} file in one drop")  # a contract name
        seen.add(entry.contract_file)
        if (entry.encoding or contract.encoding) not in ENCODINGS:
            raise DropRejected(f"{entry.name}: its encoding is not one of {sorted(ENCODINGS)}")
    if missing := sorted(expected - seen):
        raise DropRejected(f"{manifest.path.name}: the drop has no {missing[0]!r} file")


def _load(conn: Connection, manifest: Manifest, archived: dict, contract: Contract, base: dict) -> BatchOutcome:
    batch_id = base["batch_id"]
    _write_batch(conn, {**base, "state": "loaded"})
    counts, reused = {}, []
    for entry in manifest.files:
        sha = archived[entry.name][0]
        prior = conn.execute(
            select(batch_file.c.rows_batch_id, batch_file.c.rows_in)
            .join(batch, batch.c.batch_id == batch_file.c.batch_id)
            .where(batch_file.c.sha256 == sha, batch_file.c.contract_file == entry.contract_file,
                   batch_file.c.rows_batch_id == batch_file.c.batch_id,   # the batch that loaded the rows
                   batch.c.agency == contract.agency, batch.c.state == "loaded", batch.c.batch_id != batch_id)
        ).first()
        if prior:
            _check_count(entry, prior.rows_in)
            counts[entry.name] = (prior.rows_batch_id, 0, 0, 0)
            reused.append(prior.rows_batch_id)
            continue
        counts[entry.name] = (batch_id, *_load_file(conn, entry, manifest, contract, batch_id))
    rows_in, rows_loaded, rows_quarantined = (sum(c[i] for c in counts.values()) for i in (1, 2, 3))
    note = None
    if reused:
        note = (f"{len(reused)} of {len(manifest.files)} files identical to ones already loaded "
                f"(batch {reused[0]}): not loaded again")
    conn.execute(update(batch).where(batch.c.batch_id == batch_id).values(
        rows_in=rows_in, rows_loaded=rows_loaded, rows_quarantined=rows_quarantined, note=note,
        finished_at=datetime.now(timezone.utc)))
    _write_files(conn, batch_id, manifest, archived, contract, counts)
    return BatchOutcome(batch_id, contract.agency, "loaded", rows_in, rows_loaded, rows_quarantined, note=note)


def _load_file(conn: Connection, entry, manifest: Manifest, contract: Contract, batch_id: str):
    spec = contract.file(entry.contract_file)
    table = feed_tables[(contract.agency, spec.name)]
    path = manifest.path.parent / entry.name
    rows_in = rows_loaded = rows_quarantined = 0
    for chunk in parse_file(path, spec, contract, entry.encoding or contract.encoding):
        bulk_insert(conn, table, ["batch_id", *chunk.columns],
                    zip(repeat(batch_id, chunk.rows_loaded), *chunk.values))
        bulk_insert(conn, quarantine, QUARANTINE_COLUMNS,
                    ((batch_id, spec.name, p.row_number, p.column, p.reason, p.detail) for p in chunk.problems))
        rows_in += chunk.rows_in
        rows_loaded += chunk.rows_loaded
        rows_quarantined += chunk.rows_quarantined
    _check_count(entry, rows_in)
    if rows_in != rows_loaded + rows_quarantined:
        raise RuntimeError(f"{entry.name}: row conservation broken ({rows_in} in, {rows_loaded} loaded, "
                           f"{rows_quarantined} quarantined)")
    return rows_in, rows_loaded, rows_quarantined


def _check_count(entry, rows_in: int) -> None:
    if rows_in != entry.rows:
        raise DropRejected(f"{entry.name}: the manifest says {entry.rows} records, the file holds {rows_in} "
                           f"(truncated or changed after the manifest was written)")


def _write_batch(conn: Connection, values: dict) -> None:
    """Record the batch, replacing an earlier waiting or rejected attempt at the same drop (a redelivery)."""
    earlier = (batch.c.batch_id == values["batch_id"]) & batch.c.state.in_(("waiting", "rejected"))
    conn.execute(delete(batch_file).where(batch_file.c.batch_id.in_(select(batch.c.batch_id).where(earlier))))
    conn.execute(delete(batch).where(earlier))
    conn.execute(insert(batch).values(**values))


def _write_files(conn: Connection, batch_id: str, manifest: Manifest, archived: dict, contract: Contract,
                 counts: dict) -> None:
    rows = []
    for entry in manifest.files:
        rows_batch_id, rows_in, rows_loaded, rows_quarantined = counts.get(entry.name, (None, 0, 0, 0))
        rows.append(dict(batch_id=batch_id, file_name=entry.name, contract_file=entry.contract_file,
                         sha256=archived[entry.name][0], encoding=entry.encoding or contract.encoding,
                         rows_declared=entry.rows, rows_batch_id=rows_batch_id, rows_in=rows_in,
                         rows_loaded=rows_loaded, rows_quarantined=rows_quarantined))
    conn.execute(insert(batch_file), rows)


def _record_archive(conn: Connection, archived: dict, now: datetime) -> None:
    for name, (sha, size, rel) in archived.items():
        if conn.execute(select(archived_file.c.sha256).where(archived_file.c.sha256 == sha)).first() is None:
            conn.execute(insert(archived_file).values(sha256=sha, size_bytes=size, archive_path=str(rel),
                                                      first_name=name, first_seen_at=now))


def _reject_unreadable_manifest(path: Path, agency: str, reason: str, home: Home, engine: Engine,
                                now: datetime) -> BatchOutcome:
    try:
        archived = {path.name: archive_file(path, home.archive)}
    except NotRegular:      # a link, a folder or a device: never read; it stays where it is
        archived = {}
    sha = archived[path.name][0] if archived else hashlib.sha256(b"").hexdigest()
    drop_name = path.name[: -len(MANIFEST_SUFFIX)]
    batch_id = f"{drop_name}-{sha[:8]}"
    with engine.begin() as conn:
        known = conn.execute(select(batch).where(batch.c.batch_id == batch_id)).mappings().first()
        if known is None:
            _record_archive(conn, archived, now)
            _write_batch(conn, dict(batch_id=batch_id, agency=agency, drop_name=drop_name, manifest_sha256=sha,
                                    received_at=now, finished_at=now, state="rejected", reason=reason))
    if archived:
        _remove_if_taken_in(path, sha, engine)
    log.warning("%s: drop %s rejected: %s", agency, batch_id, reason)
    return BatchOutcome(batch_id, agency, "rejected", reason=reason)


def _clear_landing(manifest: Manifest, engine: Engine) -> None:
    """Remove the drop's files from the landing zone, but only those whose bytes are in the archive and are the
    bytes the manifest lists: a file changed since (a writer still at work, a redelivery) stays."""
    for entry in manifest.files:
        _remove_if_taken_in(manifest.path.parent / entry.name, entry.sha256, engine)
    _remove_if_taken_in(manifest.path, manifest.sha256, engine)


def _remove_if_taken_in(path: Path, sha256: str, engine: Engine) -> None:
    """Remove a landing file if its bytes are still ``sha256`` and are in the archive."""
    try:
        look = look_at(path)
    except (FileNotFoundError, NotRegular):
        return
    if look.changed or look.sha256 != sha256:
        return
    with engine.connect() as conn:
        if conn.execute(select(archived_file.c.sha256).where(archived_file.c.sha256 == sha256)).first() is not None:
            path.unlink()


def _outcome(row, note: str | None = None) -> BatchOutcome:
    return BatchOutcome(row["batch_id"], row["agency"], row["state"], row["rows_in"], row["rows_loaded"],
                        row["rows_quarantined"], row["reason"], note or row["note"])
