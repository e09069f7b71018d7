"""The scope a user or token may carry: the divisions it is limited to (GB/T 2260 codes of the profile's
division table; none: the whole city) and the bureau sections (科室) it acts for in joint reviews."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from yimatong.domain.profile import Profile
from yimatong.errors import invalid

SECTION_RE = re.compile(r"^[\w\-.]{1,40}$")
SECTION_TABLES = ("section", "sections")
# A time typed without a zone when no profile is at hand (every profile so far is in China)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def divisions(profile: Profile | None, values: Iterable[str], field: str = "divisions") -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(values):
        value = str(raw).strip()
        if profile is not None and not profile.has_value("division", value):
            known = "、".join(f"{e.value}（{e.label}）" for e in profile.tables.get("division", [])[:12])
            raise invalid(f"{field}.{i}", f"未知的行政区划代码 {value!r}，可选：{known}")
        if not value.isdigit() or len(value) != 6:
            raise invalid(f"{field}.{i}", f"行政区划代码应为 6 位数字（GB/T 2260），收到 {value!r}")
        if value not in out:
            out.append(value)
    return out


def sections(profile: Profile | None, values: Iterable[str], field: str = "sections") -> list[str]:
    table: list[Any] | None = list(profile.sections) if profile is not None and profile.sections else None  # [joint]
    if table is None:
        table = next((profile.tables[t] for t in SECTION_TABLES if profile is not None and t in profile.tables), None)
    out: list[str] = []
    for i, raw in enumerate(values):
        value = str(raw).strip()
        if table is not None and not any(e.value == value for e in table):
            known = "、".join(f"{e.value}（{e.label}）" for e in table)
            raise invalid(f"{field}.{i}", f"未知的科室 {value!r}，可选：{known}")
        if not SECTION_RE.match(value):
            raise invalid(f"{field}.{i}", f"科室代码应为 1–40 位字母、数字、下划线或连字符，收到 {value!r}")
        if value not in out:
            out.append(value)
    return out
