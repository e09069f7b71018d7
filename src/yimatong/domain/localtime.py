"""Times for people: every date or time a person reads is in the profile's time zone. Pure: the clock is read
by the caller (core.context.local_now / local_today); these only convert and format.

Stored times are UTC; the API speaks RFC 3339 with offset (core.context.rfc3339)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def to_local(value: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A stored time in local time. SQLite hands timezone-aware columns back naive: they are UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(tz)


def local_date(value: dt.datetime, tz: ZoneInfo) -> dt.date:
    return to_local(value, tz).date()


def format_local(value: dt.datetime | str | None, tz: ZoneInfo, seconds: bool = False) -> str:
    """`YYYY-MM-DD HH:MM` (or with seconds) in local time; an RFC 3339 text is parsed first, a bare date
    (`YYYY-MM-DD`, as people enter them) is returned as it is; anything else unchanged."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        parsed = parse_instant(value)
        if parsed is None:
            return value
        value = parsed
    return to_local(value, tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_day_text(value: str | None, tz: ZoneInfo) -> str:
    """The local date of a stored date-or-time text (`2026-12-01` stays, `2026-11-30T17:00:00Z` is 2026-12-01)."""
    if not value:
        return ""
    if len(value) == 10:
        return value
    parsed = parse_instant(value)
    return to_local(parsed, tz).date().isoformat() if parsed else value[:10]


def parse_instant(text: str) -> dt.datetime | None:
    """An RFC 3339 time with offset (`Z` or ±HH:MM), else None."""
    if len(text) < 11 or "T" not in text.upper():
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware time normalised to UTC: stored times are UTC, and SQLite compares them as text, so a bound
    parameter must be UTC too (08:00+08:00 would otherwise be compared as 08:00 UTC)."""
    return (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
