"""The supervision rules of the regulations, each on both sides of its threshold (pure: facts in, warnings out)."""

from __future__ import annotations

import datetime as dt

import pytest

from yimatong.domain.supervision import Facts, add_years, evaluate, stock_by_age
from yimatong.profiles.loader import load_profile

TODAY = dt.date(2026, 12, 1)
T = load_profile("changde").supervision
DAY = dt.timedelta(days=1)


def kinds(f: Facts) -> dict[str, int]:
    return {w.kind: w.level for w in evaluate(f, TODAY, T)}


def facts(**kw: object) -> Facts:
    statuses = {"compensation": "not_applicable", "works_permit": "done"} | dict(kw.pop("statuses", {}))  # type: ignore[arg-type]
    return Facts("C", "项目", "430702", statuses=statuses, **kw)  # type: ignore[arg-type]


# 批而未供 ------------------------------------------------------------------------------------------------------

def test_approved_not_supplied_after_two_years_with_its_area() -> None:
    two_years = add_years(TODAY, -2)
    at = facts(statuses={"land_approval": "done"}, finished={"land_approval": two_years}, area_m2=6666.67)
    assert "approved_not_supplied" not in kinds(at)  # exactly two years: not yet
    at.finished["land_approval"] = two_years - DAY
    w = next(w for w in evaluate(at, TODAY, T) if w.kind == "approved_not_supplied")
    assert w.area_m2 == 6666.67 and "6666.67" in w.detail and "自然资规〔2018〕1号" in w.detail
    at.statuses["supply"] = "not_applicable"  # no supply needed (e.g. 集体土地): never 批而未供
    assert "approved_not_supplied" not in kinds(at)
    at.statuses["supply"] = "in_progress"
    assert "approved_not_supplied" in kinds(at)


def test_stock_by_age_bands() -> None:
    def approved(years: float, extra: int = 0) -> Facts:
        return facts(statuses={"land_approval": "done"}, finished={"land_approval": add_years(TODAY, -years) - extra * DAY},
                     area_m2=100.0)
    stock = [approved(2), approved(2, 1), approved(5), approved(5, 1), approved(0.5),
             facts(statuses={"land_approval": "done", "supply": "done"}, finished={"land_approval": add_years(TODAY, -9)}),
             facts(statuses={"land_approval": "done", "supply": "not_applicable"}),
             facts(statuses={"land_approval": "done"})]
    out = {i["key"]: (i["count"], i["area_m2"]) for i in stock_by_age(stock, TODAY, [2, 5])}
    assert out == {"le2": (2, 200.0), "2to5": (2, 200.0), "gt5": (1, 100.0), "unknown": (1, 0.0)}


# 闲置土地 (国土资源部令第53号 第二条) ------------------------------------------------------------------------------

def test_idle_first_branch_levels_and_both_sides() -> None:
    f = facts(statuses={"supply": "done"}, agreed_start=add_years(TODAY, -1))
    assert kinds(f).get("idle_land") is None and kinds(f)["idle_land_pre"] == 1  # exactly a year: pre-warning
    f.agreed_start = add_years(TODAY, -1) - DAY
    assert kinds(f)["idle_land"] == 1 and "idle_land_pre" not in kinds(f)
    f.agreed_start = add_years(TODAY, -2)
    assert kinds(f)["idle_land"] == 1
    f.agreed_start = add_years(TODAY, -2) - DAY
    w = next(w for w in evaluate(f, TODAY, T) if w.kind == "idle_land")
    assert w.level == 2 and "无偿收回" in w.detail and "第53号" in w.detail and "疑似闲置" in w.detail


def test_idle_second_branch_started_but_little_done_and_stopped_a_year() -> None:
    stopped = add_years(TODAY, -1) - DAY
    f = facts(statuses={"supply": "done", "construction": "in_progress"}, started={"construction": TODAY - 900 * DAY},
              agreed_start=TODAY - 1000 * DAY, developed_area_ratio=0.30, invested_ratio=0.5, suspended_since=stopped)
    w = next(w for w in evaluate(f, TODAY, T) if w.kind == "idle_land")
    assert w.level == 1 and "第二条第二款" in w.detail and "30%" in w.detail and w.since == stopped
    f.developed_area_ratio = 0.34  # at least a third developed and a quarter invested: not idle
    assert "idle_land" not in kinds(f)
    f.invested_ratio = 0.24  # … unless less than 25 % of the investment was made
    assert kinds(f)["idle_land"] == 1
    f.suspended_since = add_years(TODAY, -1)  # stopped exactly a year ago: not yet
    assert "idle_land" not in kinds(f)
    f.suspended_since = add_years(TODAY, -2) - DAY
    assert kinds(f)["idle_land"] == 2
    f.suspended_since = None  # not stopped
    assert "idle_land" not in kinds(f)


@pytest.mark.parametrize("ratio", [1 / 3, 0.25])
def test_idle_thresholds_are_strictly_less_than(ratio: float) -> None:
    f = facts(statuses={"supply": "done", "construction": "in_progress"}, developed_area_ratio=0.9,
              invested_ratio=0.9, suspended_since=add_years(TODAY, -3))
    setattr(f, "developed_area_ratio" if ratio > 0.3 else "invested_ratio", ratio + 1e-9)
    assert "idle_land" not in kinds(f)


def test_idle_excludes_government_causes_and_says_when_confirmed() -> None:
    f = facts(statuses={"supply": "done"}, agreed_start=add_years(TODAY, -3))
    assert kinds(f)["idle_land"] == 2
    f.government_cause = True
    assert "idle_land" not in kinds(f) and "idle_land_pre" not in kinds(f)
    f.government_cause = False
    f.agreed_delivery, f.actual_delivery = add_years(TODAY, -3), add_years(TODAY, -3) + DAY  # delivered late
    assert "idle_land" not in kinds(f)
    f.actual_delivery = f.agreed_delivery  # delivered on time
    assert "idle_land" in kinds(f)
    f.actual_delivery = None  # agreed delivery passed, never delivered: the government's doing
    assert "idle_land" not in kinds(f)
    f.agreed_delivery = None
    f.idle_confirmed = True
    w = next(w for w in evaluate(f, TODAY, T) if w.kind == "idle_land")
    assert "已认定为闲置土地" in w.detail and "疑似" not in w.detail


def test_idle_land_pre_warning_from_the_agreed_start() -> None:
    f = facts(statuses={"supply": "done"}, agreed_start=TODAY)
    assert "idle_land_pre" not in kinds(f)  # the agreed start is today: not late yet
    f.agreed_start = TODAY - DAY
    assert kinds(f)["idle_land_pre"] == 1
    f.statuses["construction"] = "in_progress"
    assert "idle_land_pre" not in kinds(f)


# 建而未验, 未供先建, 未批先建 --------------------------------------------------------------------------------------

def test_built_not_verified_after_n_days() -> None:
    f = facts(statuses={"supply": "done", "construction": "done"}, finished={"construction": TODAY - T.built_not_verified_days * DAY})
    assert "built_not_verified" not in kinds(f)
    f.finished["construction"] = TODAY - (T.built_not_verified_days + 1) * DAY
    assert "built_not_verified" in kinds(f)
    f.statuses["verification"] = "done"
    assert "built_not_verified" not in kinds(f)


def test_built_before_supply_by_its_started_at() -> None:
    f = facts(statuses={"supply": "done", "construction": "in_progress"}, started={"construction": TODAY - 10 * DAY},
              finished={"supply": TODAY - 10 * DAY})
    assert "built_before_supply" not in kinds(f)  # started the day supply was done
    f.finished["supply"] = TODAY - 9 * DAY
    w = next(w for w in evaluate(f, TODAY, T) if w.kind == "built_before_supply")
    assert w.since == TODAY - 10 * DAY and "土地管理法" in w.detail
    f.statuses["supply"] = "pending"
    assert "built_before_supply" in kinds(f)
    f.statuses["supply"] = "not_applicable"
    assert "built_before_supply" not in kinds(f)


def test_built_before_permit() -> None:
    f = facts(statuses={"supply": "done", "construction": "in_progress", "works_permit": "in_progress"},
              started={"construction": TODAY - 5 * DAY})
    assert "built_before_permit" in kinds(f)
    f.statuses["works_permit"] = "done"
    f.finished["works_permit"] = TODAY - 5 * DAY
    assert "built_before_permit" not in kinds(f)
    f.finished["works_permit"] = TODAY - 4 * DAY
    assert "built_before_permit" in kinds(f)
    f.statuses["construction"] = "pending"
    f.started = {}
    assert "built_before_permit" not in kinds(f)


# 占补平衡, 预审过期 -------------------------------------------------------------------------------------------------

def test_compensation_missing() -> None:
    f = facts(statuses={"land_approval": "done", "compensation": "pending"}, finished={"land_approval": TODAY})
    assert "compensation_missing" in kinds(f)
    for settled in ("done", "not_applicable"):
        f.statuses["compensation"] = settled
        assert "compensation_missing" not in kinds(f)
    f.statuses["compensation"] = "in_progress"
    f.statuses["land_approval"] = "in_progress"
    assert "compensation_missing" not in kinds(f)


def test_pre_review_expired_after_three_years() -> None:
    f = facts(statuses={"pre_review": "done"}, finished={"pre_review": add_years(TODAY, -3)})
    assert "pre_review_expired" not in kinds(f)
    f.finished["pre_review"] = add_years(TODAY, -3) - DAY
    w = next(w for w in evaluate(f, TODAY, T) if w.kind == "pre_review_expired")
    assert "自然资规〔2019〕2号" in w.detail
    f.statuses["land_approval"] = "done"
    assert "pre_review_expired" not in kinds(f)


def test_every_warning_names_its_rule_and_regulation() -> None:
    f = facts(statuses={"pre_review": "done", "land_approval": "done", "compensation": "pending", "supply": "done",
                        "construction": "done", "works_permit": "pending"},
              finished={"pre_review": add_years(TODAY, -5), "land_approval": TODAY - 400 * DAY,
                        "supply": TODAY - 300 * DAY, "construction": TODAY - 200 * DAY},
              started={"construction": TODAY - 350 * DAY}, agreed_finish=TODAY - 250 * DAY, code_outdated=True)
    out = evaluate(f, TODAY, T)
    assert {w.kind for w in out} >= {"compensation_missing", "built_before_supply", "built_before_permit",
                                      "built_not_verified", "code_outdated"}
    for w in out:
        assert "：" in w.detail and "依据：" in w.detail, w
