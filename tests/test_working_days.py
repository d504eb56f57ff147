"""Working days in England (mash.timescales, shared by the board's report and the notices): weekends and English
bank holidays skipped, both ways; a day received on a weekend counts from the next working day."""

from __future__ import annotations

from datetime import date

from hypothesis import given, strategies as st

from mash.timescales import add_working_days, is_working_day, next_working_day, working_days_between


def test_weekends_and_english_bank_holidays_are_not_working_days():
    assert add_working_days(date(2026, 11, 6), 1) == date(2026, 11, 9)           # Friday -> Monday
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)         # Christmas and Boxing Day (Mon 28th)
    assert add_working_days(date(2026, 8, 28), 1) == date(2026, 9, 1)            # English summer bank holiday
    assert is_working_day(date(2026, 8, 3))                                      # Scotland's, not England's
    assert next_working_day(date(2026, 11, 7)) == date(2026, 11, 9)              # Saturday -> Monday
    assert next_working_day(date(2026, 11, 9)) == date(2026, 11, 9)
    assert add_working_days(date(2026, 11, 7), 1) == date(2026, 11, 9)           # received Saturday: due Monday
    assert add_working_days(date(2026, 11, 9), -1) == date(2026, 11, 6)
    assert working_days_between(date(2026, 11, 6), date(2026, 11, 9)) == 1
    assert working_days_between(date(2026, 11, 9), date(2026, 11, 6)) == -1


@given(start=st.dates(date(2024, 1, 1), date(2028, 12, 31)), n=st.integers(1, 60))
def test_adding_n_working_days_spans_n_working_days(start, n):
    end = add_working_days(start, n)
    assert is_working_day(end) and end > start
    assert working_days_between(start, end) == n
    if is_working_day(start):
        assert add_working_days(end, -n) == start
