"""Helpers shared by the landing and bad-extract tests: put a drop in the landing zone, seal it, read the store."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, func, select

from mash.archive import relative_path
from mash.contracts import contracts
from mash.landing import MANIFEST_SUFFIX, seal_drop
from mash.store.schema import feed_tables, metadata

CORPUS = Path(__file__).parent / "corpus"
EXTRACT_DATE = date(2024, 3, 1)


def land(source: Path, agency_dir: Path) -> dict[str, bytes]:
    """Copy every file of ``source`` into ``agency_dir``; return the bytes of each copied file by name."""
    agency_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    for path in sorted(source.iterdir()):
        shutil.copyfile(path, agency_dir / path.name)
        copied[path.name] = path.read_bytes()
    return copied


def seal(agency_dir: Path, agency: str, extract_date: date = EXTRACT_DATE, encoding: str | None = None) -> Path:
    """Seal the CSV files in ``agency_dir`` as one drop, each file's contract file named by its stem."""
    files = {path.stem: path for path in sorted(agency_dir.glob("*.csv"))}
    return seal_drop(agency_dir, agency, extract_date, files, encoding or contracts()[agency].encoding)


def manifests_in(agency_dir: Path) -> list[Path]:
    return sorted(agency_dir.glob(f"*{MANIFEST_SUFFIX}"))


def feed_count(engine: Engine, agency: str, batch_id: str) -> int:
    """Rows the batch holds across all of the agency's feed tables."""
    with engine.connect() as conn:
        return sum(conn.execute(select(func.count()).select_from(table).where(table.c.batch_id == batch_id))
                   .scalar_one() for (owner, _), table in feed_tables.items() if owner == agency)


def dump(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table of the store, sorted, for before/after comparisons."""
    with engine.connect() as conn:
        return {name: sorted((tuple(map(repr, row)) for row in conn.execute(select(table))))
                for name, table in metadata.tables.items()}


def archived_bytes(archive_root: Path, sha256: str) -> bytes:
    return (archive_root / relative_path(sha256)).read_bytes()
