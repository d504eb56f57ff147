"""Where the hub keeps its runtime state: one directory, MASH_HOME, and the store's database URL.

MASH_HOME (default ``var/`` in the checkout) holds the landing zone, the archive, the embedded SQLite store,
the outbox, the reports and the demo's Airflow home. MASH_DB_URL points the store at PostgreSQL instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> "Home":
        return cls(Path(os.environ.get("MASH_HOME", REPO_ROOT / "var")).resolve())

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

    def agency_landing(self, agency: str) -> Path:
        return self.landing / agency

    def db_url(self) -> str:
        """MASH_DB_URL if set (PostgreSQL in a real deployment), else the embedded SQLite store."""
        return os.environ.get("MASH_DB_URL") or f"sqlite:///{self.root / 'mash.db'}"

    def ensure(self) -> "Home":
        for path in (self.landing, self.archive, self.outbox, self.reports):
            path.mkdir(parents=True, exist_ok=True)
        return self
