"""Supervision rules (监测监管), computed from the data, never typed in. Pure: facts in, warnings out.

批而未供 approved_not_supplied: land approval done more than N years ago and supply not done.
闲置土地 idle_land: supplied, the contract's agreed start passed by more than 1 year (level 1, idle fee) or
2 years (level 2, reclaim) and construction not started.
竣工逾期 overdue_completion: the agreed finish passed and construction not done.
登记滞后 registration_lag: verification done more than N days ago and registration not done.
码段过期 code_outdated: a coded attribute no longer matches the code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

KINDS = ("approved_not_supplied", "idle_land", "overdue_completion", "registration_lag", "code_outdated",
         "spatial_conflict")
KIND_LABELS = {"approved_not_supplied": "批而未供", "idle_land": "闲置土地", "overdue_completion": "竣工逾期",
               "registration_lag": "登记滞后", "code_outdated": "码段过期", "spatial_conflict": "空间冲突"}


@dataclass
class Facts:
    """What the rules need to know about one project."""

    code: str
    name: str
    division: str
    statuses: dict[str, str] = field(default_factory=dict)
    finished: dict[str, dt.date | None] = field(default_factory=dict)
    started: dict[str, dt.date | None] = field(default_factory=dict)
    agreed_start: dt.date | None = None
    agreed_finish: dt.date | None = None
    code_outdated: bool = False
    updated: dt.date | None = None


@dataclass(frozen=True)
class Warning:
    kind: str
    level: int
    code: str
    since: dt.date | None
    detail: str
    name: str = ""
    division: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "code": self.code,
                "since": self.since.isoformat() if self.since else None, "detail": self.detail,
                "name": self.name, "division": self.division}


def add_years(day: dt.date, years: float) -> dt.date:
    whole = int(years)
    try:
        base = day.replace(year=day.year + whole)
    except ValueError:  # 29 February
        base = day.replace(year=day.year + whole, day=28)
    return base + dt.timedelta(days=round((years - whole) * 365))


def evaluate(f: Facts, today: dt.date, t: Any) -> list[Warning]:
    """All warnings of one project; `t` is the profile's supervision thresholds."""
    out: list[Warning] = []
    done = {k for k, v in f.statuses.items() if v == "done"}
    w = _make(f)
    approved = f.finished.get("land_approval")
    if "land_approval" in done and "supply" not in done and approved and \
            today > add_years(approved, t.approved_not_supplied_years):
        out.append(w("approved_not_supplied", 1, approved,
                     f"农转用征收审批于 {approved} 办结，超过 {t.approved_not_supplied_years:g} 年仍未供地"))
    started = f.statuses.get("construction") in ("in_progress", "done") or f.started.get("construction")
    if "supply" in done and f.agreed_start and not started:
        if today > add_years(f.agreed_start, t.idle_land_level2_years):
            out.append(w("idle_land", 2, f.agreed_start,
                         f"约定 {f.agreed_start} 开工，逾期超过 {t.idle_land_level2_years:g} 年未动工：可无偿收回"))
        elif today > add_years(f.agreed_start, t.idle_land_level1_years):
            out.append(w("idle_land", 1, f.agreed_start,
                         f"约定 {f.agreed_start} 开工，逾期超过 {t.idle_land_level1_years:g} 年未动工：征收土地闲置费"))
    finish = f.agreed_finish
    if "supply" in done and finish and f.statuses.get("construction") != "done" and \
            today > finish + dt.timedelta(days=t.overdue_completion_grace_days):
        out.append(w("overdue_completion", 1, finish, f"约定 {finish} 竣工，至今未竣工"))
    verified = f.finished.get("verification")
    if "verification" in done and "registration" not in done and verified and \
            today > verified + dt.timedelta(days=t.registration_lag_days):
        out.append(w("registration_lag", 1, verified,
                     f"规划核实于 {verified} 办结，超过 {t.registration_lag_days} 天未办理不动产登记"))
    if f.code_outdated:
        out.append(w("code_outdated", 1, f.updated, "项目属性已变化，项目码中的编码段与现状不一致"))
    return out


def _make(f: Facts):  # type: ignore[no-untyped-def]
    def build(kind: str, level: int, since: dt.date | None, detail: str) -> Warning:
        return Warning(kind, level, f.code, since, detail, f.name, f.division)

    return build


def parse_day(value: Any) -> dt.date | None:
    """Dates as stored: `YYYY-MM-DD`, RFC 3339, or a date; anything else is no date."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
