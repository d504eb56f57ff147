"""The notices' settings: timescales (``timescales.yaml``, working days) and where notices go when no named
professional's address is known (``notices.yaml``). Both are read and validated by :mod:`mash.config` (the board's
report reads the same ``timescales.yaml`` the same way, :mod:`mash.timescales`); errors name the file, line and key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path

from mash import config
from mash.config import ConfigError, NoticesFile, TimescalesFile
from mash.contracts import agencies


class SettingsError(ConfigError):
    """A settings file is malformed: the message names the file, line, column and key."""


@dataclass(frozen=True)
class Settings:
    decision_working_days: int
    assessment_working_days: int
    feedback_working_days: int
    first_night_lookback_working_days: int
    encompass_school_day_starts: time
    visiting_interval_working_days: int
    school_roll_lookback_days: int
    max_attempts: int
    first_retry_minutes: int
    sender: str
    inboxes: dict[str, dict[str, str]]          # agency -> {"safeguarding": address, "data": address}


def load_settings(timescales: Path | None = None, contacts: Path | None = None) -> Settings:
    """The notices' settings from the officers' files (MASH_CONFIG_DIR or the shipped ones, read once per process),
    or from the files given."""
    t: TimescalesFile = config.load("timescales.yaml", SettingsError, timescales).value
    c: NoticesFile = config.load("notices.yaml", SettingsError, contacts).value
    return Settings(**t.referrals.model_dump(), **t.notifications.model_dump(), **t.delivery.model_dump(),
                    sender=c.sender, inboxes={agency: c.agencies[agency].model_dump() for agency in agencies()})


def default_settings() -> Settings:
    """The officers' settings (what the night's stages use unless a test passes its own)."""
    return load_settings()
