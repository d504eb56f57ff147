"""The notices' settings: timescales (``mash/config/timescales.yaml``, working days) and where notices go when no named
professional's address is known (``mash/config/notices.yaml``). Both are validated at load; errors name the key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time
from functools import cache
from pathlib import Path

from mash.contracts import agencies
from mash.errors import Refused
from mash.home import config_path
from mash.sharing.policy import read_config


class SettingsError(Refused):
    """A settings file is malformed: the message names the file and key."""


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


def _count(raw: dict, section: str, key: str, path: Path) -> int:
    value = (raw.get(section) or {}).get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SettingsError(f"{path.name}: {section}.{key} must be a whole number of days, 0 or more")
    return value


def load_settings(timescales: Path | None = None, contacts: Path | None = None) -> Settings:
    timescales = Path(timescales or os.environ.get("MASH_TIMESCALES") or config_path("timescales.yaml"))
    contacts = Path(contacts or os.environ.get("MASH_NOTICE_CONTACTS") or config_path("notices.yaml"))
    t, c = read_config(timescales, SettingsError), read_config(contacts, SettingsError)
    try:
        starts = time.fromisoformat(str((t.get("notifications") or {}).get("encompass_school_day_starts")))
    except ValueError:
        raise SettingsError(f"{timescales.name}: notifications.encompass_school_day_starts must be HH:MM") from None
    inboxes = c.get("agencies") or {}
    for agency in agencies():
        entry = inboxes.get(agency) or {}
        if not all(isinstance(entry.get(k), str) and "@" in entry[k] for k in ("safeguarding", "data")):
            raise SettingsError(f"{contacts.name}: agencies.{agency} needs 'safeguarding' and 'data' addresses")
    if not isinstance(c.get("sender"), str) or "@" not in c["sender"]:
        raise SettingsError(f"{contacts.name}: 'sender' must be an email address")
    return Settings(
        **{key: _count(t, "referrals", key, timescales) for key in (
            "decision_working_days", "assessment_working_days", "feedback_working_days",
            "first_night_lookback_working_days")},
        encompass_school_day_starts=starts,
        visiting_interval_working_days=_count(t, "notifications", "visiting_interval_working_days", timescales),
        school_roll_lookback_days=_count(t, "notifications", "school_roll_lookback_days", timescales),
        max_attempts=max(1, _count(t, "delivery", "max_attempts", timescales)),
        first_retry_minutes=_count(t, "delivery", "first_retry_minutes", timescales),
        sender=c["sender"], inboxes={a: dict(inboxes[a]) for a in agencies()})


@cache
def default_settings() -> Settings:
    return load_settings()
