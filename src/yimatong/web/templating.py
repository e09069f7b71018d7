"""Jinja2 environment shared by every page (autoescaped; templates ship inside the package).

Filters for people's times: `{{ e.at | local_time(profile) }}` (an RFC 3339 or stored time in the profile's time
zone, `YYYY-MM-DD HH:MM`) and `{{ s.finished_at | local_day(profile) }}` (a stored date or time as a local date)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from yimatong.domain import localtime
from yimatong.domain.enums import Role
from yimatong.domain.events import EVENT_LABELS

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _local_time(value: Any, profile: Any) -> str:
    return localtime.format_local(value, profile.tz)


def _local_day(value: Any, profile: Any) -> str:
    return localtime.local_day_text(value, profile.tz) if isinstance(value, str) else ""


TEMPLATES.env.filters["local_time"] = _local_time
TEMPLATES.env.filters["local_day"] = _local_day
# Codes people should never read as such: an event type or a role is shown by its Chinese label.
TEMPLATES.env.globals["event_labels"] = EVENT_LABELS
TEMPLATES.env.globals["role_labels"] = Role.labels()
