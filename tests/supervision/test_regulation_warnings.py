"""The regulations' warnings over the API: facts gathered from stages and the supply result's data."""

from __future__ import annotations

import datetime as dt

from api.helpers import add_result, put_stage, register
from yimatong.core.context import local_today
from yimatong.domain.supervision import add_years
from yimatong.profiles.loader import load_profile

TODAY = local_today(load_profile("changde"))


def ago(days: int = 0, years: float = 0) -> str:
    return (add_years(TODAY, -years) - dt.timedelta(days=days)).isoformat()


def warnings(client, h, code: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    items = client.get("/api/v1/warnings", params={"limit": 1000}, headers=h).json()["items"]
    return {w["kind"]: w for w in items if w["code"] == code}


def test_not_applicable_supply_is_never_approved_not_supplied(client, registrar_headers) -> None:
    h = registrar_headers
    code = register(client, h, name="存量建设用地项目", area_m2=8000.0)["code"]
    put_stage(client, h, code, "land_approval", finished_at=ago(years=3))
    put_stage(client, h, code, "compensation", "not_applicable")
    assert warnings(client, h, code)["approved_not_supplied"]["area_m2"] == 8000.0
    assert put_stage(client, h, code, "supply", "not_applicable").status_code == 200
    assert "approved_not_supplied" not in warnings(client, h, code)
    stock = client.get("/api/v1/stats", params={"group_by": "approved_not_supplied"}, headers=h).json()
    assert stock["total"] == {"count": 0, "area_m2": 0.0}


def test_stock_by_age_in_the_stats(client, registrar_headers) -> None:
    h = registrar_headers
    for name, years, area in (("一年前", 1, 1000.0), ("三年前", 3, 2000.0), ("六年前", 6, 3000.0), ("七年前", 7, 500.0)):
        code = register(client, h, name=name, area_m2=area)["code"]
        put_stage(client, h, code, "land_approval", finished_at=ago(years=years))
    stock = client.get("/api/v1/stats", params={"group_by": "approved_not_supplied"}, headers=h).json()
    got = {i["key"]: (i["label"], i["count"], i["area_m2"]) for i in stock["items"]}
    assert got["le2"] == ("2年以内", 1, 1000.0) and got["2to5"] == ("2–5年", 1, 2000.0)
    assert got["gt5"] == ("5年以上", 2, 3500.0) and stock["total"] == {"count": 4, "area_m2": 6500.0}


def test_idle_second_branch_from_the_supply_result(client, registrar_headers) -> None:
    h = registrar_headers
    code = register(client, h, name="停工项目")["code"]
    put_stage(client, h, code, "land_approval", finished_at=ago(years=4))
    put_stage(client, h, code, "compensation", "done")
    put_stage(client, h, code, "supply", finished_at=ago(years=3))
    put_stage(client, h, code, "land_use_permit")
    put_stage(client, h, code, "works_permit", finished_at=ago(years=3))
    put_stage(client, h, code, "construction", "in_progress", started_at=ago(days=10, years=2))
    add_result(client, h, code, {"stage": "supply", "kind": "出让合同", "data": {
        "agreed_start": ago(years=2), "agreed_finish": ago(years=-1), "developed_area_ratio": 0.2,
        "invested_ratio": 0.6, "suspended_since": ago(days=30, years=1)}})
    idle = warnings(client, h, code)["idle_land"]
    assert idle["level"] == 1 and "第二条第二款" in idle["detail"] and "疑似闲置" in idle["detail"]
    add_result(client, h, code, {"stage": "inspection", "kind": "闲置土地认定书"})
    assert "已认定为闲置土地" in warnings(client, h, code)["idle_land"]["detail"]
    add_result(client, h, code, {"stage": "supply", "kind": "补充协议", "data": {"government_cause": True}})
    assert "idle_land" not in warnings(client, h, code)


def test_built_before_supply_and_permit_are_recorded_and_warned(client, registrar_headers) -> None:
    h = registrar_headers
    code = register(client, h, name="未批先建项目", supply_type="10")["code"]
    r = put_stage(client, h, code, "construction", "in_progress", started_at=ago(days=40))
    assert r.status_code == 200  # the library records what happened
    got = warnings(client, h, code)
    assert got["built_before_supply"]["since"] == ago(days=40) and got["built_before_permit"]["level"] == 2


def test_pre_review_expired_and_compensation_missing(client, registrar_headers) -> None:
    h = registrar_headers
    old = register(client, h, name="预审过期项目")["code"]
    put_stage(client, h, old, "pre_review", finished_at=ago(days=1, years=3))
    fresh = register(client, h, name="预审有效项目")["code"]
    put_stage(client, h, fresh, "pre_review", finished_at=ago(days=-1, years=3))
    assert "pre_review_expired" in warnings(client, h, old) and "pre_review_expired" not in warnings(client, h, fresh)
    put_stage(client, h, fresh, "land_approval", finished_at=ago(days=2))
    assert "compensation_missing" in warnings(client, h, fresh)
    put_stage(client, h, fresh, "compensation", "done")
    assert "compensation_missing" not in warnings(client, h, fresh)
    only = client.get("/api/v1/warnings", params={"kind": "pre_review_expired"}, headers=h).json()["items"]
    assert [w["code"] for w in only] == [old]
