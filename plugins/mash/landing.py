"""The landing protocol: how an agency hands a nightly drop to the hub, and how the hub finds complete drops.

An agency writes its extract files into ``MASH_HOME/landing/<agency>/`` and then, last, a manifest
``<agency>-<YYYYMMDD>.manifest.json`` listing each file's name, contract file, record count and SHA-256. Files
without a manifest are a drop still being written and are left alone. See docs/contracts.md for the format.

A manifest is checked against a schema (:func:`read_manifest`) and its date against the night being run
(:func:`implausible_date`). Landing files are read only if they are regular files of their own, never through a link
(:func:`open_regular`), and each read says whether the file changed meanwhile (:func:`look_at`), so that a file still
being written is waited for rather than taken in half.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, BinaryIO, Callable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mash import records

MANIFEST_SUFFIX = ".manifest.json"
MAX_NAME = 200
MAX_ENTRIES = 100                 # a contract has a handful of files; more is not a drop
MAX_ROWS = 10**12
MAX_MANIFEST_BYTES = 1 << 20      # a manifest of MAX_ENTRIES entries is a few KiB
CHUNK = 1 << 20
LONDON = ZoneInfo("Europe/London")                # the hub's nights are London dates
OLDEST = timedelta(days=3653)     # an extract_date this long before the night being run is a mistyped year
BEHIND = timedelta(days=92)       # ... or this long before the agency's current extract: each drop is a full snapshot,
                                  # so a quarter-old one is never a redelivery worth loading
SETTLE = timedelta(minutes=30)    # a file modified after its manifest, and this recently, is still being written
SYMLINK = "is a symbolic link; only regular files are taken in (a link is never followed)"


class ManifestError(ValueError):
    """A manifest that cannot be read or does not follow the protocol; the message names the manifest."""


@dataclass(frozen=True)
class ManifestFile:
    name: str
    contract_file: str
    rows: int
    sha256: str
    encoding: str | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path
    agency: str
    extract_date: date
    files: tuple[ManifestFile, ...]
    sha256: str

    @property
    def drop_name(self) -> str:
        return self.path.name[: -len(MANIFEST_SUFFIX)]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def count_records(path: Path, encoding: str) -> int:
    """Data records in a CSV file as its agency wrote them: the header and blank lines are not records, and a quote
    left open does not swallow the records after it (see ``mash.records``)."""
    with path.open(encoding=codec(encoding), errors="surrogateescape", newline="") as handle:
        return records.count_records(handle)


def codec(encoding: str) -> str:
    """UTF-8 files may carry a byte-order mark; ``utf-8-sig`` reads both."""
    return "utf-8-sig" if encoding == "utf-8" else encoding


def manifest_name(agency: str, extract_date: date) -> str:
    return f"{agency}-{extract_date:%Y%m%d}{MANIFEST_SUFFIX}"


def seal_drop(agency_dir: Path, agency: str, extract_date: date, files: dict[str, Path],
              encoding: str = "utf-8") -> Path:
    """The agency's last step: write the manifest for files already in ``agency_dir``, atomically."""
    entries = [
        {"name": path.name, "contract_file": contract_file, "rows": count_records(path, encoding),
         "sha256": sha256_of(path), "encoding": encoding}
        for contract_file, path in files.items()
    ]
    body = {"agency": agency, "extract_date": extract_date.isoformat(), "files": entries}
    target = agency_dir / manifest_name(agency, extract_date)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


class _Entry(BaseModel):
    """One file of a drop, as the manifest lists it: strict types, so a list or a number where a string belongs, or
    a string where a count belongs, is refused rather than converted."""
    model_config = ConfigDict(strict=True, extra="ignore")
    name: Annotated[str, StringConstraints(min_length=1)]       # its length is checked with its folder below
    contract_file: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    rows: Annotated[int, Field(ge=0, le=MAX_ROWS)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
    encoding: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    agency: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    extract_date: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    files: Annotated[list[_Entry], Field(min_length=1, max_length=MAX_ENTRIES)]


def read_manifest(path: Path, agency: str) -> Manifest:
    """Parse and check one manifest; raise ManifestError naming the manifest and the problem.

    Every check is linear in the manifest's size, and no more than MAX_MANIFEST_BYTES is read, so a hostile
    manifest is refused within a second.
    """
    raw_bytes = _read_regular(path)
    try:
        raw = json.loads(raw_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path.name}: not valid JSON ({exc.__class__.__name__} at position "
                            f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))})") from None
    except RecursionError:
        raise ManifestError(f"{path.name}: nested too deeply to be a manifest") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path.name}: expected a JSON object")
    if raw.get("agency") != agency:
        raise ManifestError(f"{path.name}: names another agency than {agency!r}, whose folder it was dropped in")
    try:
        body = _Body.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(f"{path.name}: {_first_problem(exc)}") from None
    try:
        extract_date = date.fromisoformat(body.extract_date)
    except ValueError:
        raise ManifestError(f"{path.name}: extract_date must be YYYY-MM-DD") from None
    if path.name != manifest_name(agency, extract_date):
        raise ManifestError(f"{path.name}: a manifest must be named {manifest_name(agency, extract_date)} "
                            f"(<agency>-<extract_date as YYYYMMDD>{MANIFEST_SUFFIX})")
    seen: set[str] = set()
    for i, entry in enumerate(body.files, start=1):
        if Path(entry.name).name != entry.name or entry.name in (".", "..") or len(entry.name) > MAX_NAME:
            raise ManifestError(f"{path.name}: file entry {i} must name a file in the same folder "
                                f"(at most {MAX_NAME} characters)")
        if entry.name in seen:
            raise ManifestError(f"{path.name}: file entry {i} names a file an earlier entry names")
        seen.add(entry.name)
    entries = tuple(ManifestFile(e.name, e.contract_file, e.rows, e.sha256.lower(), e.encoding) for e in body.files)
    return Manifest(path, agency, extract_date, entries, hashlib.sha256(raw_bytes).hexdigest())


def _read_regular(path: Path) -> bytes:
    """The manifest's bytes, if it is a regular file of a manifest's size; a symbolic link is never followed."""
    try:
        with open_regular(path) as handle:
            raw_bytes = handle.read(MAX_MANIFEST_BYTES + 1)
    except NotRegular as exc:
        raise ManifestError(str(exc)) from None
    if len(raw_bytes) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path.name}: larger than {MAX_MANIFEST_BYTES // 1024} KiB, too large to be a manifest")
    return raw_bytes


class NotRegular(ValueError):
    """A file in a drop that is not a regular file of its own; the message names the file and what it is."""


class StillBeingWritten(Exception):
    """A file changed while the hub read it (or is no longer the bytes its manifest lists)."""

    def __init__(self, file_name: str):
        super().__init__(file_name)
        self.file_name = file_name


def open_regular(path: Path) -> BinaryIO:
    """Open a landing file for reading without following a link; raise NotRegular unless it is a regular file with
    no other hard link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)   # O_NONBLOCK: a pipe must not block us
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular(f"{path.name}: {SYMLINK}") from None
        raise
    handle = os.fdopen(fd, "rb")
    if problem := not_regular(os.fstat(fd)):
        handle.close()
        raise NotRegular(f"{path.name}: {problem}")
    return handle


@dataclass(frozen=True)
class Look:
    """One read of a landing file: its digest and size, when it was last modified, and whether it changed while
    it was read (a writer still at work)."""
    sha256: str
    size: int
    mtime_ns: int
    changed: bool


def look_at(path: Path, sink: Callable[[bytes], object] | None = None) -> Look:
    """Read a landing file once (passing each block to ``sink``, if given) and say what was read."""
    digest, size = hashlib.sha256(), 0
    with open_regular(path) as handle:
        before = os.fstat(handle.fileno())
        while block := handle.read(CHUNK):
            digest.update(block)
            size += len(block)
            if sink:
                sink(block)
        after = os.fstat(handle.fileno())
    changed = (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or size != after.st_size
    return Look(digest.hexdigest(), size, after.st_mtime_ns, changed)


def _first_problem(exc: ValidationError) -> str:
    """The first schema problem, located as an officer would say it ("file entry 3, name"), without the value."""
    error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    where = []
    for part in error["loc"]:
        if isinstance(part, int):
            where[-1:] = [f"file entry {part + 1}"]
        else:
            where.append(str(part))
    return f"{', '.join(where) or 'the manifest'}: {error['msg']}"


def not_regular(st: os.stat_result) -> str | None:
    """Why a file is not one the hub takes in (None if it is): only regular files with no other hard link, so that
    nothing outside the landing folder is ever read through a link."""
    if stat.S_ISLNK(st.st_mode):
        return SYMLINK
    if stat.S_ISDIR(st.st_mode):
        return "is a folder; only regular files are taken in"
    if not stat.S_ISREG(st.st_mode):
        return "is a device, pipe or socket; only regular files are taken in"
    if st.st_nlink > 1:
        return "has other hard links (it may be a file outside the landing folder); only regular files are taken in"
    return None


def implausible_date(manifest: Manifest, now: datetime, current: date | None) -> str | None:
    """Why the manifest's extract_date cannot be right (None if it can): after the night being run (the London date
    at ``now``), or far before it or before the agency's ``current`` extract's date."""
    night, dated = now.astimezone(LONDON).date(), manifest.extract_date
    if dated > night:
        return (f"{manifest.path.name}: extract_date {dated} is after the night being run ({night}); is the date "
                f"mistyped? Drop a manifest with the right date")
    if dated < night - OLDEST:
        return f"{manifest.path.name}: extract_date {dated} is more than ten years before the night being run ({night})"
    if current is not None and dated < current - BEHIND:
        return (f"{manifest.path.name}: extract_date {dated} is more than {BEHIND.days} days before the agency's "
                f"current extract ({current}); is the date mistyped?")
    return None


def waiting_manifests(agency_dir: Path) -> list[Path]:
    """Manifests in an agency's landing folder, oldest extract first (names sort by date)."""
    if not agency_dir.is_dir():
        return []
    return sorted(agency_dir.glob(f"*{MANIFEST_SUFFIX}"))
