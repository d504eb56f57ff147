"""Where the hub keeps its runtime state: one directory, MASH_HOME, and the store's database URL; where its shipped
files (configuration, migrations, expectation suites) are; and how many partitions the matching runs in.

MASH_HOME (default ``$XDG_DATA_HOME/mash``, i.e. ``~/.local/share/mash``; ``make`` sets ``var/`` in the checkout) holds the landing zone, the archive, the embedded SQLite store,
the outbox, the reports and the demo's Airflow home. MASH_DB_URL points the store at PostgreSQL instead.
Everything under MASH_HOME is its owner's only (folders 0700, files 0600), whatever the umask the hub was started
with: :func:`private_files` sets the process's umask, and :meth:`Home.ensure` (which every command and task calls
first) calls it and closes the folders an older version left open; the SQLite store is made owner-only where it
is opened (:func:`mash.store.new_engine`).
MASH_MATCH_PARTITIONS (default 1) spreads the matching's comparisons over that many processes or Celery workers
(:mod:`mash.link.partitions`). Importing this module is cheap: the DAG reads these settings when it is parsed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# The installed package's own files (package data): found the same way from a checkout, a wheel or the image.
PACKAGE = Path(str(resources.files("mash")))
CONFIG_DIR = "MASH_CONFIG_DIR"
MATCH_PARTITIONS = "MASH_MATCH_PARTITIONS"
PRIVATE_UMASK = 0o077       # files 0600, folders 0700: the hub's files hold children's personal data


def private_files() -> None:
    """From now on, every file and folder this process creates is its owner's only (a service is often started
    with umask 022, which would leave the store and the work files readable by every account on the host)."""
    os.umask(PRIVATE_UMASK)


def config_path(name: str, environ: dict | None = None) -> Path:
    """An officer-edited configuration file: from MASH_CONFIG_DIR if set (the partnership's own copies), else the
    shipped defaults in the package (``mash/config/``)."""
    folder = (os.environ if environ is None else environ).get(CONFIG_DIR)
    return (Path(folder) if folder else PACKAGE / "config") / name


def match_partitions(environ: dict | None = None) -> int:
    """The number of partitions the matching runs in, from MASH_MATCH_PARTITIONS (default 1: one process)."""
    value = (os.environ if environ is None else environ).get(MATCH_PARTITIONS, "1").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{MATCH_PARTITIONS} must be a whole number of at least 1 (got {value!r})")
    return int(value)


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> "Home":
        default = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "mash"
        return cls(Path(os.environ.get("MASH_HOME") or default).resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def audit_anchors(self) -> Path:
        """The append-only file of the disclosure audit's heads, outside the store (see :mod:`mash.sharing.anchors`)."""
        return self.root / "audit" / "anchors.jsonl"

    def matching_work(self, run_id: str) -> Path:
        """Where a matching run in partitions keeps its work (personal data) until the run is stored."""
        return self.root / "work" / "match" / run_id

    def matching_features(self) -> Path:
        """Where the last matching run's features are remembered for the next (personal data; a cache that may be
        deleted at any time: see :mod:`mash.link.incremental`)."""
        return self.root / "work" / "features.npz"

    def agency_landing(self, agency: str) -> Path:
        return self.landing / agency

    def db_url(self) -> str:
        """MASH_DB_URL if set (PostgreSQL in a real deployment), else the embedded SQLite store."""
        return os.environ.get("MASH_DB_URL") or f"sqlite:///{self.root / 'mash.db'}"

    def ensure(self) -> "Home":
        """Create the home's folders, owner-only, and make this process's files private (:func:`private_files`)."""
        private_files()
        for path in (self.root, self.landing, self.archive, self.outbox, self.reports, self.root / "work",
                     self.audit_anchors.parent):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.stat().st_uid == os.getuid():   # not a mount point another account owns: that is the host's
                path.chmod(0o700)                   # a folder an older version (or a looser umask) created
        return self
