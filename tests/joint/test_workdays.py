"""Working-day arithmetic (domain/workdays.py) as properties (hypothesis) and against the official calendar's
known days: 国庆 2026 (10月1日–7日 放假) and its 调休 working Saturday (10月10日)."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yimatong.domain import workdays
from yimatong.domain.workdays import CalendarGap, Suspended, Suspension

FIRST, LAST = workdays.covered_years()
starts = st.dates(min_value=dt.date(max(FIRST, 2010), 1, 1), max_value=dt.date(LAST, 6, 30))
limits = st.integers(min_value=1, max_value=60)


def naive_due(start: dt.date, limit: int, stops: list[tuple[dt.date, dt.date]]) -> dt.date:
    """An independent oracle: walk the days, ask the calendar, skip the stops."""
    day, n = start, 0
    while n < limit:
        day += dt.timedelta(days=1)
        if chinese_calendar.is_workday(day) and not any(a <= day <= b for a, b in stops):
            n += 1
    return day


@given(starts, limits)
@settings(max_examples=200, deadline=None)
def test_due_is_a_working_day_exactly_limit_working_days_on(start: dt.date, limit: int) -> None:
    due = workdays.add_working_days(start, limit)
    assert due > start and workdays.is_workday(due)
    assert workdays.working_days_between(start, due) == limit
    assert due == naive_due(start, limit, [])


@given(starts, limits, limits)
@settings(max_examples=100, deadline=None)
def test_a_longer_limit_never_ends_earlier(start: dt.date, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert workdays.add_working_days(start, lo) <= workdays.add_working_days(start, hi)


@given(starts, limits, st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=30))
@settings(max_examples=150, deadline=None)
def test_a_suspension_stops_the_clock_and_never_brings_the_due_date_forward(start: dt.date, limit: int,
                                                                          offset: int, length: int) -> None:
    stop = (start + dt.timedelta(days=offset), start + dt.timedelta(days=offset + length))
    plain = workdays.add_working_days(start, limit)
    stopped = workdays.add_working_days(start, limit, [Suspension(*stop)])
    assert stopped >= plain
    assert stopped == naive_due(start, limit, [stop])
    suspended_workdays = sum(chinese_calendar.is_workday(stop[0] + dt.timedelta(days=i)) for i in range(length + 1)
                             if start < stop[0] + dt.timedelta(days=i) <= stopped)
    assert workdays.working_days_between(start, stopped) - suspended_workdays == limit


@given(starts, starts)
@settings(max_examples=100, deadline=None)
def test_days_left_is_zero_on_the_day_and_antisymmetric(a: dt.date, b: dt.date) -> None:
    assert workdays.days_left(a, a) == 0
    assert workdays.days_left(a, b) == -workdays.days_left(b, a)
    if a < b:
        assert workdays.days_left(a, b) >= 0


def test_national_day_2026_and_the_working_saturday() -> None:
    if LAST < 2026:
        pytest.skip("the installed calendar has no 2026 data")
    start = dt.date(2026, 9, 28)   # a Monday; 9-29, 9-30, (10-1…10-7 国庆), 10-8, 10-9, 10-10 (调休 Saturday)
    assert workdays.add_working_days(start, 5) == dt.date(2026, 10, 10)
    assert workdays.add_working_days(start, 6) == dt.date(2026, 10, 12)   # 10-11 is a Sunday off
    assert not workdays.is_workday(dt.date(2026, 10, 5)) and workdays.is_workday(dt.date(2026, 10, 10))
    # 公示 on 9-29 and 9-30: those two days do not count
    assert workdays.add_working_days(start, 5, [Suspension(dt.date(2026, 9, 29), dt.date(2026, 9, 30))]) == \
        dt.date(2026, 10, 13)


def test_a_year_beyond_the_calendar_is_an_error_never_a_guess() -> None:
    beyond = dt.date(LAST + 1, 1, 4)
    with pytest.raises(CalendarGap) as exc:
        workdays.is_workday(beyond)
    assert exc.value.year == LAST + 1 and str(LAST + 1) in str(exc.value)
    with pytest.raises(CalendarGap):   # a limit running into the next year is not counted with weekends alone
        workdays.add_working_days(dt.date(LAST, 12, 20), 20)
    with pytest.raises(CalendarGap):
        workdays.add_working_days(dt.date(FIRST - 1, 6, 1), 3)


def test_an_open_suspension_says_how_many_days_remain() -> None:
    start = dt.date(LAST, 3, 2)
    with pytest.raises(Suspended) as exc:
        workdays.add_working_days(start, 10, [Suspension(start + dt.timedelta(days=1), None)])
    assert exc.value.remaining == 10


def test_a_year_from_the_profile_counts_its_holidays_and_working_weekends() -> None:
    year = LAST + 1
    jan1, sat = dt.date(year, 1, 1), next(dt.date(year, 1, d) for d in range(2, 9) if dt.date(year, 1, d).weekday() == 5)
    cal = workdays.Calendar({year: workdays.YearArrangement(frozenset({jan1}), frozenset({sat}))})
    assert not cal.is_workday(jan1) and cal.is_workday(sat)
    assert not cal.is_workday(sat + dt.timedelta(days=1))   # an ordinary Sunday
    # counted across the new year with the supplement; without it the same count is refused
    due = workdays.add_working_days(dt.date(LAST, 12, 24), 10, cal=cal)
    assert due.year == year and workdays.working_days_between(dt.date(LAST, 12, 24), due, cal) == 10
    with pytest.raises(CalendarGap):
        cal.is_workday(dt.date(year + 1, 3, 1))


@given(st.dates(min_value=dt.date(FIRST, 1, 1), max_value=dt.date(LAST, 12, 31)))
@settings(max_examples=500, deadline=None)
def test_every_day_is_what_the_library_says(day: dt.date) -> None:
    assert workdays.is_workday(day) is chinese_calendar.is_workday(day)
