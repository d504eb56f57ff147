"""Dates for the synthetic town: days as ordinals, working days, school half terms and fast formatting."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import holidays

# School half terms as (start month, start day, end month, end day); the year is the academic year's.
HALF_TERMS = ((9, 3, 10, 23), (11, 2, 12, 18), (1, 5, 2, 13), (2, 23, 3, 27), (4, 13, 5, 22), (6, 1, 7, 22))


class WorkingDays:
    """English working days: no weekends, no bank holidays in England."""

    def __init__(self, first_year: int, last_year: int):
        self.bank_holidays = {d.toordinal() for d in holidays.UK(subdiv="ENG", years=range(first_year, last_year + 1))}

    def is_working(self, day: int) -> bool:
        return day % 7 not in (6, 0) and day not in self.bank_holidays  # ordinal % 7: 0 is Sunday, 6 Saturday

    def add(self, day: int, n: int) -> int:
        """The n-th working day after ``day`` (n >= 0; n == 0 moves a non-working day to the next working day)."""
        while not self.is_working(day):
            day += 1
        while n > 0:
            day += 1
            if self.is_working(day):
                n -= 1
        return day

    def count(self, first: int, last: int) -> int:
        """Working days from first to last inclusive."""
        return sum(1 for d in range(first, last + 1) if self.is_working(d))


def half_terms(first_day: int, last_day: int, working: WorkingDays) -> list[tuple[int, int, int]]:
    """Half terms (start, end, sessions possible) that end within [first_day, last_day]."""
    found = []
    for year in range(date.fromordinal(first_day).year - 1, date.fromordinal(last_day).year + 1):
        for m1, d1, m2, d2 in HALF_TERMS:
            y = year if m1 >= 9 else year + 1
            start, end = date(y, m1, d1).toordinal(), date(y, m2, d2).toordinal()
            if first_day <= end <= last_day:
                found.append((start, end, 2 * working.count(start, end)))
    return sorted(found)


class Formatter:
    """Formats day ordinals (and minutes of the day) with a contract's formats, caching each day's string."""

    def __init__(self, date_format: str, datetime_format: str):
        self.date_format = date_format
        self.datetime_format = datetime_format
        self._days: dict[int, str] = {}

    def day(self, day: int | None) -> str:
        if day is None:
            return ""
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = date.fromordinal(day).strftime(self.date_format)
        return text

    def moment(self, day: int | None, minute: int = 0) -> str:
        if day is None:
            return ""
        return (datetime.fromordinal(day) + timedelta(minutes=minute)).strftime(self.datetime_format)
