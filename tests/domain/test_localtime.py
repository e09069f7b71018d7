"""Times for people are local (the profile's time zone); the API's instants compare in UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from yimatong.domain import localtime

SH = ZoneInfo("Asia/Shanghai")


def test_before_eight_in_the_morning_beijing_is_already_the_next_day() -> None:
    late_utc = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
    assert localtime.local_date(late_utc, SH) == dt.date(2026, 12, 1)
    assert localtime.format_local(late_utc, SH) == "2026-12-01 07:30"
    assert localtime.format_local("2026-11-30T23:30:00.000000Z", SH) == "2026-12-01 07:30"
    naive_from_sqlite = dt.datetime(2026, 11, 30, 23, 30)  # stored as UTC
    assert localtime.format_local(naive_from_sqlite, SH, seconds=True) == "2026-12-01 07:30:00"


def test_dates_people_entered_stay_as_they_are() -> None:
    assert localtime.local_day_text("2026-12-01", SH) == "2026-12-01"
    assert localtime.local_day_text("2026-11-30T17:00:00Z", SH) == "2026-12-01"
    assert localtime.format_local("not a time", SH) == "not a time"


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1),
                    timezones=st.sampled_from([dt.UTC, SH, dt.timezone(dt.timedelta(hours=-5)),
                                               dt.timezone(dt.timedelta(hours=5, minutes=45))])))
def test_any_offset_normalises_to_the_same_utc_instant(value: dt.datetime) -> None:
    """RFC 3339 carries offsets (not zones with daylight saving, whose ambiguous hours compare unequal)."""
    utc = localtime.to_utc(value)
    assert utc.tzinfo == dt.UTC and utc == value
    assert localtime.parse_instant(value.isoformat()) == value
