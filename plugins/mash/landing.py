"""The landing protocol: how an agency hands a nightly drop to the hub, and how the hub finds complete drops.

An agency writes its extract files into ``MASH_HOME/landing/<agency>/`` and then, last, a manifest
``<agency>-<YYYYMMDD>.manifest.json`` listing each file's name, contract file, record count and SHA-256. Files
without a manifest are a drop still being written and are left alone. See docs/contracts.md for the format.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

MANIFEST_SUFFIX = ".manifest.json"
MAX_NAME = 200
CHUNK = 1 << 20


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
    """Data records in a CSV file, as the CSV reader sees them: the header and blank lines are not records."""
    with path.open(encoding=codec(encoding), errors="surrogateescape", newline="") as handle:
        return max(sum(1 for record in csv.reader(handle) if record) - 1, 0)


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


def read_manifest(path: Path, agency: str) -> Manifest:
    """Parse and check one manifest; raise ManifestError naming the manifest and the problem."""
    raw_bytes = path.read_bytes()
    try:
        raw = json.loads(raw_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path.name}: not valid JSON ({exc.__class__.__name__} at position "
                            f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))})") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path.name}: expected a JSON object")
    if raw.get("agency") != agency:
        raise ManifestError(f"{path.name}: names another agency than {agency!r}, whose folder it was dropped in")
    try:
        extract_date = date.fromisoformat(str(raw.get("extract_date")))
    except ValueError:
        raise ManifestError(f"{path.name}: extract_date must be YYYY-MM-DD") from None
    if path.name != manifest_name(agency, extract_date):
        raise ManifestError(f"{path.name}: a manifest must be named {manifest_name(agency, extract_date)} "
                            f"(<agency>-<extract_date as YYYYMMDD>{MANIFEST_SUFFIX})")
    files = raw.get("files")
    if not isinstance(files, list) or not files:
        raise ManifestError(f"{path.name}: 'files' must be a non-empty list")
    entries = []
    for i, entry in enumerate(files, start=1):
        try:
            entries.append(ManifestFile(
                name=str(entry["name"]), contract_file=str(entry["contract_file"]), rows=entry["rows"],
                sha256=str(entry["sha256"]).lower(), encoding=entry.get("encoding")))
        except (KeyError, TypeError):
            raise ManifestError(f"{path.name}: file entry {i} needs name, contract_file, rows and sha256") from None
        if type(entries[-1].rows) is not int or entries[-1].rows < 0:
            raise ManifestError(f"{path.name}: file entry {i}: rows must be a whole number of records")
        if Path(entries[-1].name).name != entries[-1].name or len(entries[-1].name) > MAX_NAME:
            raise ManifestError(f"{path.name}: file entry {i} must name a file in the same folder "
                                f"(at most {MAX_NAME} characters)")
        if entries[-1].name in [e.name for e in entries[:-1]]:
            raise ManifestError(f"{path.name}: file entry {i} names a file an earlier entry names")
    return Manifest(path, agency, extract_date, tuple(entries), hashlib.sha256(raw_bytes).hexdigest())


def waiting_manifests(agency_dir: Path) -> list[Path]:
    """Manifests in an agency's landing folder, oldest extract first (names sort by date)."""
    if not agency_dir.is_dir():
        return []
    return sorted(agency_dir.glob(f"*{MANIFEST_SUFFIX}"))
