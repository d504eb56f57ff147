"""Working days and the timescales the hub measures against (mash/config/timescales.yaml).

Working days exclude weekends and English bank holidays (the ``holidays`` package, England). ``working_days_between``
counts the working days after a start day up to and including an end day, so a decision made the next working day
took 1 working day and one made the same day 0; ``add_working_days`` gives the day a timescale runs out. Both take
single dates or whole arrays/Series (numpy's business-day functions), so reports and notices share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import holidays
import numpy as np
import pandas as pd

from mash import config
from mash.config import TimescalesFile

YEARS = range(1990, 2061)


@dataclass(frozen=True)
class Timescales:
    """The timescales the board's report measures, from the same ``timescales.yaml`` the notices read."""
    referral_decision_working_days: int
    assessment_working_days: int
    initial_conference_working_days: int
    first_review_months: int
    later_review_months: int
    plan_visit_working_days: int

    @classmethod
    def load(cls, path: Path | None = None) -> "Timescales":
        """From the officers' ``timescales.yaml`` (MASH_CONFIG_DIR or the shipped one), or ``path``; a malformed
        file raises :class:`mash.config.ConfigError` naming its line and key."""
        t: TimescalesFile = config.load("timescales.yaml", path=path).value
        return cls(referral_decision_working_days=t.referrals.decision_working_days,
                   assessment_working_days=t.referrals.assessment_working_days,
                   initial_conference_working_days=t.conferences.initial_conference_working_days,
                   first_review_months=t.conferences.first_review_months,
                   later_review_months=t.conferences.later_review_months,
                   plan_visit_working_days=t.notifications.visiting_interval_working_days)


@cache
def bank_holidays() -> np.ndarray:
    """English bank holidays, 1990-2060, as numpy days."""
    return np.array(sorted(holidays.country_holidays("GB", subdiv="ENG", years=YEARS)), dtype="datetime64[D]")


def _days(value):
    if isinstance(value, (pd.Series, pd.Index)):
        return value.to_numpy(dtype="datetime64[D]")
    return np.asarray(value, dtype="datetime64[D]")


def working_days_between(start, end):
    """Working days after ``start`` up to and including ``end``; minus the working days after ``end`` up to and
    including ``start`` when ``end`` is earlier. Dates, or arrays/Series of them: an array with a missing date
    (NaT) gives NaN there; two single dates give an int."""
    start_days, end_days = _days(start), _days(end)
    missing = np.isnat(start_days) | np.isnat(end_days)
    filler = np.datetime64("2000-01-01")
    first, last = np.where(missing, filler, start_days), np.where(missing, filler, end_days)
    low, high = np.minimum(first, last), np.maximum(first, last)
    one = np.timedelta64(1, "D")
    counted = np.busday_count(low + one, high + one, holidays=bank_holidays()) * np.where(last < first, -1, 1)
    if counted.ndim == 0:
        return None if missing else int(counted)
    return np.where(missing, np.nan, counted)


def add_working_days(start, days: int):
    """The first day that is ``days`` working days after ``start``: ``working_days_between(start, it) == days``."""
    if days == 0:
        return start
    result = np.busday_offset(_days(start), days, roll="backward", holidays=bank_holidays())
    return pd.Timestamp(result).date() if np.ndim(result) == 0 else result


def is_working_day(day: date) -> bool:
    return bool(np.is_busday(np.datetime64(day, "D"), holidays=bank_holidays()))


def next_working_day(day: date) -> date:
    """``day`` if it is a working day, else the first working day after it."""
    return pd.Timestamp(np.busday_offset(np.datetime64(day, "D"), 0, roll="forward",
                                         holidays=bank_holidays())).date()
