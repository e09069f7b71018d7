"""Time limits in working days (工作日), with the official Chinese holiday calendar. Pure.

Which days are working days comes from `chinese-calendar` (the State Council's yearly holiday arrangements,
including 调休: weekends that are working days, weekdays that are holidays). A day of a year the library has no
data for raises `CalendarGap` — a limit is never silently counted with weekends alone (that would put a deadline
on a public holiday or miss a 调休 Saturday).

Counting (《行政许可法》第八十二条: 期限以工作日计算，不含法定节假日; the day a period starts is not counted,
《民法典》第二百零一条): the limit's first day is the first working day after `start`; days inside a suspension
(补正, 听证, 公示 …; 《行政许可法》第四十五条: 所需时间不计算在期限内) are skipped; `due` is the day the N-th counted
working day falls on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import chinese_calendar

MAX_LIMIT = 2000
_HOLIDAYS: frozenset[dt.date] = frozenset(chinese_calendar.holidays)
_WORKDAYS: frozenset[dt.date] = frozenset(chinese_calendar.workdays)   # 调休: weekend days that are working days
_FIRST, _LAST = min(_HOLIDAYS).year, max(_HOLIDAYS).year               # the library's own range check   # working days; a limit beyond ~8 years is a profile error, and bounds every loop below


class CalendarGap(ValueError):
    """The holiday calendar has no data for `year`: counting across it would be a guess."""

    def __init__(self, year: int) -> None:
        super().__init__(f"节假日日历没有 {year} 年的数据（国务院当年的放假安排尚未收录），无法按工作日计算期限")
        self.year = year


@dataclass(frozen=True)
class Suspension:
    """A stop of the clock, `start` to `end` inclusive (`end` None: still suspended)."""

    start: dt.date
    end: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class YearArrangement:
    """One year's official arrangement given in the profile (for a year the library does not know yet, once the
    State Council has published it): its holidays, and the weekend days that are working days (调休)."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()


@dataclass(frozen=True)
class Calendar:
    """The library's calendar, supplemented by the profile's arrangements for later years (the library's data
    wins for the years it has)."""

    extra: Mapping[int, YearArrangement] = field(default_factory=dict)

    def is_workday(self, day: dt.date) -> bool:
        if _FIRST <= day.year <= _LAST:
            # the library's own rule on its own tables; its is_workday() recomputes min/max over every holiday
            # on each call (bench/bench_workdays.py: ~15× a plain weekday loop), this is a set lookup
            return day in _WORKDAYS or (day.weekday() < 5 and day not in _HOLIDAYS)
        year = self.extra.get(day.year)
        if year is None:
            raise CalendarGap(day.year)
        if day in year.workdays:
            return True
        return day.weekday() < 5 and day not in year.holidays


OFFICIAL = Calendar()


def is_workday(day: dt.date, cal: Calendar = OFFICIAL) -> bool:
    return cal.is_workday(day)


def covered_years() -> tuple[int, int]:
    """The first and last year the installed calendar knows (for messages and tests)."""
    return _FIRST, _LAST


def _suspended(day: dt.date, stops: Sequence[Suspension]) -> bool:
    return any(s.covers(day) for s in stops)


class Suspended(ValueError):
    """The clock stopped without an end before the limit was reached: `remaining` working days are left."""

    def __init__(self, since: dt.date, remaining: int) -> None:
        super().__init__(f"计时中止自 {since.isoformat()}，尚余 {remaining} 个工作日")
        self.since, self.remaining = since, remaining


def add_working_days(start: dt.date, limit: int, suspensions: Iterable[Suspension] = (), cal: Calendar = OFFICIAL
                     ) -> dt.date:
    """The day the `limit`-th working day after `start` falls on, not counting suspended days. Raise `Suspended`
    when an open suspension (no end yet) stops the clock before that day."""
    if not 0 < limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT} working days")
    stops = list(suspensions)
    day, counted = start, 0
    while counted < limit:
        day += dt.timedelta(days=1)
        open_stop = next((s for s in stops if s.end is None and s.covers(day)), None)
        if open_stop is not None:
            raise Suspended(open_stop.start, limit - counted)
        if cal.is_workday(day) and not _suspended(day, stops):
            counted += 1
    return day


def working_days_between(first: dt.date, last: dt.date, cal: Calendar = OFFICIAL) -> int:
    """Working days in (first, last]: after `first` up to and including `last`; negative when last < first."""
    if last < first:
        return -working_days_between(last, first, cal)
    count, day = 0, first
    while day < last:
        day += dt.timedelta(days=1)
        count += cal.is_workday(day)
    return count


def days_left(today: dt.date, due: dt.date, cal: Calendar = OFFICIAL) -> int:
    """The contract's `working_days_left`: working days after today up to and including `due`; when overdue,
    minus the working days after `due` up to and including today (0 on the day itself)."""
    return working_days_between(today, due, cal)
