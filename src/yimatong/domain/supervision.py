"""Supervision rules (监测监管), computed from the data, never typed in. Pure: facts in, warnings out.
Thresholds are the profile's (`supervision:`); every warning's detail names its rule and the regulation.

批而未供 approved_not_supplied: land approval done more than N years ago and supply neither done nor not
  applicable; the warning carries the area, and `stock_by_age` gives the whole stock by age (≤ 2, 2–5, > 5 years).
闲置土地 idle_land (国土资源部令第53号 第二条): supplied, and either (第一款) the agreed start passed by more than a
  year without construction starting, or (第二款) construction started but less than 1/3 of the area developed or
  less than 25 % of the investment made, and stopped (`suspended_since`) for more than a year. Level 1 (征缴土地闲置费)
  after 1 year, level 2 (无偿收回, 第十四条) after 2. Labelled 疑似闲置 until a 闲置土地认定书 confirms it; cases
  recorded as 政府原因 (`government_cause`, or the land delivered late: 第八条 第（一）项) are excluded.
供而未用 idle_land_pre: supplied, the agreed start passed, construction not started, not yet 闲置土地.
竣工逾期 overdue_completion: the agreed finish passed and construction not done.
登记滞后 registration_lag: verification done more than N days ago and registration not done.
建而未验 built_not_verified: construction done more than N days ago and verification not done.
未供先建 built_before_supply / 未批先建 built_before_permit: construction started (by its `started_at`) before supply
  was done, or before the works permit; nothing refuses such facts, this warns.
占补平衡 compensation_missing: land approval done, compensation neither done nor not applicable.
预审过期 pre_review_expired: the pre-review older than its validity (3 years) and land approval not done.
码段过期 code_outdated: a coded attribute no longer matches the code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# A rule is a function in RULES and a kind here. The working-day kinds (overdue_step, overdue_review) read due
# dates computed with the holiday calendar by supervision.service (joint/limits.py): the rules compare dates only.
KINDS = ("approved_not_supplied", "idle_land", "idle_land_pre", "overdue_completion", "registration_lag",
         "built_not_verified", "built_before_supply", "built_before_permit", "compensation_missing",
         "pre_review_expired", "code_outdated", "spatial_conflict", "overdue_step", "overdue_review")
KIND_LABELS = {"approved_not_supplied": "批而未供", "idle_land": "闲置土地", "idle_land_pre": "供而未用",
               "overdue_completion": "竣工逾期", "registration_lag": "登记滞后", "built_not_verified": "建而未验",
               "built_before_supply": "未供先建", "built_before_permit": "未批先建", "compensation_missing": "占补平衡",
               "pre_review_expired": "预审过期", "code_outdated": "码段过期", "spatial_conflict": "空间冲突",
               "overdue_step": "办理超期", "overdue_review": "会签超期"}
SETTLED = ("done", "not_applicable")


@dataclass
class Facts:
    """What the rules need to know about one project (dates are local dates)."""

    code: str
    name: str
    division: str
    statuses: dict[str, str] = field(default_factory=dict)
    finished: dict[str, dt.date | None] = field(default_factory=dict)
    started: dict[str, dt.date | None] = field(default_factory=dict)
    agreed_start: dt.date | None = None
    agreed_finish: dt.date | None = None
    agreed_delivery: dt.date | None = None
    actual_delivery: dt.date | None = None
    developed_area_ratio: float | None = None
    invested_ratio: float | None = None
    suspended_since: dt.date | None = None
    government_cause: bool = False
    idle_confirmed: bool = False
    code_outdated: bool = False
    updated: dt.date | None = None
    area_m2: float | None = None
    # [joint] open stages' due dates (stage → (due, limit in working days)) and open reviews' (id, stage, due,
    # sections still pending)
    step_dues: dict[str, tuple[dt.date, int]] = field(default_factory=dict)
    review_dues: list[tuple[int, str, dt.date, list[str]]] = field(default_factory=list)

    def status(self, stage: str) -> str:
        return self.statuses.get(stage, "pending")

    @property
    def construction_started(self) -> bool:
        return self.status("construction") in ("in_progress", "done") or self.started.get("construction") is not None


@dataclass(frozen=True)
class Warning:
    kind: str
    level: int
    code: str
    since: dt.date | None
    detail: str
    name: str = ""
    division: str = ""
    area_m2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "code": self.code,
                "since": self.since.isoformat() if self.since else None, "detail": self.detail,
                "name": self.name, "division": self.division, "area_m2": self.area_m2}


def add_years(day: dt.date, years: float) -> dt.date:
    whole = int(years)
    try:
        base = day.replace(year=day.year + whole)
    except ValueError:  # 29 February
        base = day.replace(year=day.year + whole, day=28)
    return base + dt.timedelta(days=round((years - whole) * 365))


Make = Callable[..., Warning]
Rule = Callable[[Facts, dt.date, Any, Make], Iterator[Warning]]


def evaluate(f: Facts, today: dt.date, t: Any) -> list[Warning]:
    """All warnings of one project; `today` is the local date, `t` the profile's supervision thresholds."""
    make = _make(f, t)
    return [w for rule in RULES for w in rule(f, today, t, make)]


def _make(f: Facts, t: Any) -> Make:
    def build(kind: str, level: int, since: dt.date | None, text: str, area: float | None = None) -> Warning:
        regulation = t.regulations.get(kind, "")
        detail = f"{KIND_LABELS[kind]}：{text}" + (f"。依据：{regulation}" if regulation else "")
        return Warning(kind, level, f.code, since, detail, f.name, f.division, area)

    return build


def _approved_not_supplied(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    approved = f.finished.get("land_approval")
    if f.status("land_approval") == "done" and f.status("supply") not in SETTLED and approved and \
            today > add_years(approved, t.approved_not_supplied_years):
        area = f"，面积 {f.area_m2:.2f} 平方米" if f.area_m2 else ""
        yield w("approved_not_supplied", 1, approved,
                f"农转用征收审批于 {approved} 办结，超过 {t.approved_not_supplied_years:g} 年仍未供地{area}", f.area_m2)


def government_cause(f: Facts, today: dt.date) -> str | None:
    """Why idleness is the government's doing, if the facts say so (第53号令 第八条)."""
    if f.government_cause:
        return "已记录为政府原因"
    if f.agreed_delivery and (f.actual_delivery or today) > f.agreed_delivery:
        return "未按约定期限交付土地（第八条 第（一）项）"
    return None


def _idle_land(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    if f.status("supply") != "done" or government_cause(f, today):
        return
    label = "已认定为闲置土地" if f.idle_confirmed else "疑似闲置（待认定）"
    if not f.construction_started and f.agreed_start:
        level = _idle_level(today, f.agreed_start, t.idle_land_level1_years, t.idle_land_level2_years)
        if level:
            years = t.idle_land_level2_years if level == 2 else t.idle_land_level1_years
            yield w("idle_land", level, f.agreed_start,
                    f"{label}，第二条第一款：约定 {f.agreed_start} 动工，逾期超过 {years:g} 年未动工开发：{_consequence(level)}")
        return
    if f.construction_started and f.status("construction") != "done" and f.suspended_since and _little_done(f, t):
        level = _idle_level(today, f.suspended_since, t.idle_suspended_years, t.idle_land_level2_years)
        if level:
            yield w("idle_land", level, f.suspended_since,
                    f"{label}，第二条第二款：已动工但{_progress(f, t)}，自 {f.suspended_since} 中止开发建设超过 "
                    f"{(t.idle_land_level2_years if level == 2 else t.idle_suspended_years):g} 年：{_consequence(level)}")


def _idle_level(today: dt.date, since: dt.date, level1_years: float, level2_years: float) -> int:
    if today > add_years(since, level2_years):
        return 2
    return 1 if today > add_years(since, level1_years) else 0


def _consequence(level: int) -> str:
    return "可无偿收回国有建设用地使用权（第十四条）" if level == 2 else "征缴土地闲置费（第十四条）"


def _little_done(f: Facts, t: Any) -> bool:
    area, invested = f.developed_area_ratio, f.invested_ratio
    return (area is not None and area < t.developed_area_min) or (invested is not None and invested < t.invested_min)


def _progress(f: Facts, t: Any) -> str:
    parts = []
    if f.developed_area_ratio is not None and f.developed_area_ratio < t.developed_area_min:
        parts.append(f"开发面积仅 {f.developed_area_ratio:.0%}（不足 {float(t.developed_area_min):.0%}）")
    if f.invested_ratio is not None and f.invested_ratio < t.invested_min:
        parts.append(f"已投资额仅 {f.invested_ratio:.0%}（不足 {float(t.invested_min):.0%}）")
    return "、".join(parts)


def _idle_land_pre(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    start = f.agreed_start
    if f.status("supply") != "done" or not start or f.construction_started or government_cause(f, today):
        return
    if start + dt.timedelta(days=t.idle_land_pre_days) < today <= add_years(start, t.idle_land_level1_years):
        yield w("idle_land_pre", 1, start, f"约定 {start} 动工，至今未动工；满 {t.idle_land_level1_years:g} 年"
                                           f"（{add_years(start, t.idle_land_level1_years)}）后将构成闲置土地", f.area_m2)


def _overdue_completion(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    finish = f.agreed_finish
    if f.status("supply") == "done" and finish and f.status("construction") != "done" and \
            today > finish + dt.timedelta(days=t.overdue_completion_grace_days):
        yield w("overdue_completion", 1, finish, f"约定 {finish} 竣工，至今未竣工")


def _registration_lag(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    verified = f.finished.get("verification")
    if f.status("verification") == "done" and f.status("registration") != "done" and verified and \
            today > verified + dt.timedelta(days=t.registration_lag_days):
        yield w("registration_lag", 1, verified, f"规划核实于 {verified} 办结，超过 {t.registration_lag_days} 天未办理不动产登记")


def _built_not_verified(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    built = f.finished.get("construction")
    if f.status("construction") == "done" and f.status("verification") not in SETTLED and built and \
            today > built + dt.timedelta(days=t.built_not_verified_days):
        yield w("built_not_verified", 1, built, f"于 {built} 竣工，超过 {t.built_not_verified_days} 天未办理规划核实")


def _built_before(stage: str, kind: str, what: str) -> Rule:
    def rule(f: Facts, _today: dt.date, _t: Any, w: Make) -> Iterator[Warning]:
        if not f.construction_started or f.status(stage) == "not_applicable":
            return
        started, done_on = f.started.get("construction"), f.finished.get(stage)
        when = f"于 {started} 开工" if started else "已开工"
        if f.status(stage) != "done":
            yield w(kind, 2, started, f"{when}，{what}至今未办结")
        elif started and done_on and started < done_on:
            yield w(kind, 2, started, f"{when}，早于{what}办结日期 {done_on}")

    return rule


def _compensation_missing(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    approved = f.finished.get("land_approval")
    if f.status("land_approval") != "done" or f.status("compensation") in SETTLED:
        return
    if approved is None or today >= approved + dt.timedelta(days=t.compensation_missing_days):
        since = f"于 {approved} " if approved else ""
        yield w("compensation_missing", 1, approved, f"农转用征收审批已{since}办结，耕地占补平衡既未落实也未标为不适用")


def _pre_review_expired(f: Facts, today: dt.date, t: Any, w: Make) -> Iterator[Warning]:
    reviewed = f.finished.get("pre_review")
    if f.status("pre_review") == "done" and reviewed and f.status("land_approval") not in SETTLED and \
            today > add_years(reviewed, t.pre_review_valid_years):
        yield w("pre_review_expired", 1, reviewed, f"用地预审于 {reviewed} 办结，已超过 {t.pre_review_valid_years:g} 年有效期，"
                                                   f"农转用征收审批仍未办结")


def _code_outdated(f: Facts, _today: dt.date, _t: Any, w: Make) -> Iterator[Warning]:
    if f.code_outdated:
        yield w("code_outdated", 1, f.updated, "项目属性已变化，项目码中的编码段与现状不一致")


def _overdue_step(f: Facts, today: dt.date, _t: Any, w: Make) -> Iterator[Warning]:
    for stage, (due, limit) in f.step_dues.items():
        if today > due:
            yield w("overdue_step", 1, due, f"阶段 {stage} 的办理时限 {limit} 个工作日已于 {due} 届满，至今未办结")


def _overdue_review(f: Facts, today: dt.date, _t: Any, w: Make) -> Iterator[Warning]:
    for review_id, stage, due, pending in f.review_dues:
        if today > due:
            yield w("overdue_review", 1, due, f"阶段 {stage} 的联合审查 {review_id} 期限 {due} 已过，"
                                              f"待签署意见的科室：{'、'.join(pending) or '无'}")


RULES: list[Rule] = [
    _approved_not_supplied, _idle_land, _idle_land_pre, _overdue_completion, _registration_lag, _built_not_verified,
    _built_before("supply", "built_before_supply", "土地供应"),
    _built_before("works_permit", "built_before_permit", "建设工程规划许可"),
    _compensation_missing, _pre_review_expired, _code_outdated, _overdue_step, _overdue_review,
]


def stock_by_age(facts: list[Facts], today: dt.date, bands: list[float]) -> list[dict[str, Any]]:
    """批而未供 stock (land approval done; supply neither done nor not applicable) by the approval's age:
    ≤ bands[0] years, bands[0]–bands[1], …, > bands[-1]; approvals without a date count apart."""
    labels = [f"{bands[0]:g}年以内"] + [f"{a:g}–{b:g}年" for a, b in zip(bands, bands[1:], strict=False)] + \
        [f"{bands[-1]:g}年以上", "审批日期未知"]
    keys = [f"le{bands[0]:g}"] + [f"{a:g}to{b:g}" for a, b in zip(bands, bands[1:], strict=False)] + \
        [f"gt{bands[-1]:g}", "unknown"]
    counts, areas = [0] * len(keys), [0.0] * len(keys)
    for f in facts:
        if f.status("land_approval") != "done" or f.status("supply") in SETTLED:
            continue
        approved = f.finished.get("land_approval")
        i = len(keys) - 1 if approved is None else \
            next((n for n, years in enumerate(bands) if today <= add_years(approved, years)), len(bands))
        counts[i] += 1
        areas[i] += f.area_m2 or 0.0
    return [{"key": k, "label": lab, "count": c, "area_m2": round(a, 2)}
            for k, lab, c, a in zip(keys, labels, counts, areas, strict=True)]


def parse_day(value: Any) -> dt.date | None:
    """Dates as stored: `YYYY-MM-DD`, RFC 3339, or a date; anything else is no date. (An RFC 3339 time is read
    as its own calendar date here; supervision.service converts stored times to local dates first.)"""
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


def parse_ratio(value: Any) -> float | None:
    """A ratio 0–1 as given in result data; anything else (a percentage, text) is no fact: never guessed."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None
