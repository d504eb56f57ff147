"""Working days in England: weekdays that are not bank holidays in England (the `holidays` package), for the
hub's timescales (a referral decided within one working day, feedback due, visits overdue)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.UK(subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(day: date, n: int) -> date:
    """The n-th working day after ``day`` (before it, for negative n). A day that is not a working day counts as
    the next working day (the previous one, for negative n): a referral made on a Saturday is received on Monday,
    and one working day later is Tuesday. With n == 0, ``day`` itself or the next working day."""
    step = 1 if n >= 0 else -1
    while not is_working_day(day):
        day += timedelta(days=step)
    for _ in range(abs(n)):
        day += timedelta(days=step)
        while not is_working_day(day):
            day += timedelta(days=step)
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative when ``end`` is before ``start``): a
    referral made on a Friday and decided on the Monday was decided in 1 working day."""
    if end < start:
        return -working_days_between(end, start)
    return sum(is_working_day(start + timedelta(days=d)) for d in range(1, (end - start).days + 1))
