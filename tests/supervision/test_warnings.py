"""Warnings and statistics on constructed projects, with dates relative to today."""

from __future__ import annotations

import datetime as dt

from api.helpers import add_result, put_stage, register
from spatial.spatial_helpers import WULING, square
from yimatong.domain.supervision import Facts, add_years, evaluate
from yimatong.profiles.loader import load_profile

TODAY = dt.date.today()
T = load_profile("changde").supervision


def ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


def test_rules_at_their_thresholds() -> None:
    approved = Facts("C", "n", "430702", statuses={"land_approval": "done", "compensation": "done"},
                     finished={"land_approval": TODAY - dt.timedelta(days=365 * 2 + 2)})
    assert [w.kind for w in evaluate(approved, TODAY, T)] == ["approved_not_supplied"]
    fresh = Facts("C", "n", "430702", statuses={"land_approval": "done", "compensation": "not_applicable"},
                  finished={"land_approval": TODAY - dt.timedelta(days=300)})
    assert evaluate(fresh, TODAY, T) == []
    idle = Facts("C", "n", "430702", statuses={"supply": "done"}, agreed_start=add_years(TODAY, -1.2))
    assert [(w.kind, w.level) for w in evaluate(idle, TODAY, T)] == [("idle_land", 1)]
    idle.agreed_start = add_years(TODAY, -2.1)
    assert [(w.kind, w.level) for w in evaluate(idle, TODAY, T)] == [("idle_land", 2)]
    idle.statuses["construction"] = "in_progress"  # started: not idle (but started without a works permit)
    assert [w.kind for w in evaluate(idle, TODAY, T)] == ["built_before_permit"]


def test_warnings_and_stats_over_the_api(client, registrar_headers) -> None:
    h = registrar_headers
    a = register(client, h, name="批而未供项目")["code"]
    put_stage(client, h, a, "land_approval", finished_at=ago(800))
    b = register(client, h, name="闲置项目", division="430703", area_m2=5000.0)["code"]
    put_stage(client, h, b, "land_approval", finished_at=ago(1200))
    put_stage(client, h, b, "supply", finished_at=ago(1100))
    add_result(client, h, b, {"stage": "supply", "kind": "出让合同",
                              "data": {"agreed_start": ago(800), "agreed_finish": ago(100)}})
    c = register(client, h, name="登记滞后项目")["code"]
    put_stage(client, h, c, "land_approval", "not_applicable")
    put_stage(client, h, c, "supply")
    put_stage(client, h, c, "land_use_permit")
    put_stage(client, h, c, "works_permit")
    put_stage(client, h, c, "verification", finished_at=ago(120))
    d = register(client, h, name="改供地方式项目")["code"]
    client.patch(f"/api/v1/projects/{d}", json={"supply_type": "10"}, headers=h)
    register(client, h, name="正常项目")

    items = client.get("/api/v1/warnings", headers=h).json()["items"]
    got = {(w["kind"], w["code"], w["level"]) for w in items}
    assert got == {("approved_not_supplied", a, 1), ("idle_land", b, 2), ("overdue_completion", b, 1),
                   ("registration_lag", c, 1), ("code_outdated", d, 1),
                   # land approval done, 耕地占补平衡 neither done nor n/a
                   ("compensation_missing", a, 1), ("compensation_missing", b, 1)}
    idle = next(w for w in items if w["kind"] == "idle_land")
    assert idle["since"] == ago(800) and "无偿收回" in idle["detail"]
    only = client.get("/api/v1/warnings", params={"kind": "idle_land"}, headers=h).json()["items"]
    assert [w["code"] for w in only] == [b]
    assert client.get("/api/v1/warnings", params={"kind": "bogus"}, headers=h).status_code == 422
    by_div = client.get("/api/v1/warnings", params={"division": "430703"}, headers=h).json()["items"]
    assert {w["code"] for w in by_div} == {b}
    xlsx = client.get("/api/v1/warnings.xlsx", headers=h)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"

    stats = client.get("/api/v1/stats", params={"group_by": "division"}, headers=h).json()
    wuling = next(i for i in stats["items"] if i["key"] == "430702")
    assert wuling["label"] == "武陵区" and wuling["count"] == 4 and stats["total"]["count"] == 5
    assert next(i for i in stats["items"] if i["key"] == "430703")["area_m2"] == 5000.0
    stages = client.get("/api/v1/stats", params={"group_by": "stage"}, headers=h).json()["items"]
    assert [i["key"] for i in stages] == ["intake", "land_approval", "supply", "verification"]
    assert client.get("/api/v1/stats", params={"group_by": "colour"}, headers=h).status_code == 422


def test_spatial_warnings_follow_every_change_that_moves_them(client, registrar_headers) -> None:
    """Spatial conflicts are reused across stage changes; voids, new parcels and district changes refresh them."""
    h = registrar_headers

    def spatial() -> set[str]:
        items = client.get("/api/v1/warnings", params={"kind": "spatial_conflict"}, headers=h).json()["items"]
        return {w["code"] for w in items}

    a = register(client, h, name="重叠甲")["code"]
    b = register(client, h, name="重叠乙")["code"]
    for code, dx in ((a, 0.0), (b, 0.001)):
        feature = square((WULING[0] + dx, WULING[1]))
        assert client.post(f"/api/v1/projects/{code}/parcels", json=feature, headers=h).status_code == 201
    assert spatial() >= {a} and spatial() <= {a, b}
    put_stage(client, h, a, "land_approval", finished_at=ago(800))  # not spatial: conflicts kept, 批而未供 added
    assert spatial() >= {a}
    kinds = {w["kind"] for w in client.get("/api/v1/warnings", headers=h).json()["items"] if w["code"] == a}
    assert kinds == {"approved_not_supplied", "compensation_missing", "spatial_conflict"}
    assert client.post(f"/api/v1/projects/{b}/void", json={"reason": "重复立项"}, headers=h).status_code == 200
    assert spatial() == set()  # the overlap is gone with the voided project
    c = register(client, h, name="跨区项目", division="430703")["code"]  # 鼎城区 code, parcel in 武陵区
    assert client.post(f"/api/v1/projects/{c}/parcels", json=square((WULING[0], WULING[1] + 0.01)),
                       headers=h).status_code == 201
    assert spatial() == {c}
    assert client.patch(f"/api/v1/projects/{c}", json={"division": "430702"}, headers=h).status_code == 200
    assert spatial() == set()  # moved to the district its parcel lies in


def test_a_reader_limited_to_a_district_sees_its_warnings_and_figures_only(client, ymt, registrar_headers) -> None:
    """District scope (a token or user limited to divisions) holds for warnings and statistics as for projects:
    a 鼎城区 reader does not learn 武陵区's project codes, names and areas from the warnings, their xlsx, the
    statistics, the OGC warnings layer or the web pages."""
    import io

    import openpyxl

    from yimatong.accounts import tokens

    h = registrar_headers
    wuling = register(client, h, name="武陵区批而未供项目", division="430702")["code"]
    put_stage(client, h, wuling, "land_approval", finished_at=ago(800))
    dingcheng = register(client, h, name="鼎城区批而未供项目", division="430703", area_m2=5000.0)["code"]
    put_stage(client, h, dingcheng, "land_approval", finished_at=ago(800))
    with ymt.db.write() as s:
        scoped = {"Authorization": f"Bearer {tokens.create(s, '鼎城区只读', 'viewer', divisions=['430703'])}"}
    everyone = {w["code"] for w in client.get("/api/v1/warnings", headers=h).json()["items"]}
    assert {wuling, dingcheng} <= everyone
    seen = client.get("/api/v1/warnings", headers=scoped).json()["items"]
    assert seen and {w["code"] for w in seen} == {dingcheng}
    asked = client.get("/api/v1/warnings", params={"division": "430702"}, headers=scoped).json()["items"]
    assert asked == []  # asking for another district is no way around the scope
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/api/v1/warnings.xlsx", headers=scoped).content)).active
    cells = {str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None}
    assert dingcheng in cells and wuling not in cells and "武陵区批而未供项目" not in cells
    stats = client.get("/api/v1/stats", params={"group_by": "division"}, headers=scoped).json()
    assert [i["key"] for i in stats["items"]] == ["430703"] and stats["total"]["count"] == 1
    stock = client.get("/api/v1/stats", params={"group_by": "approved_not_supplied"}, headers=scoped).json()
    assert stock["total"]["count"] == 1 and stock["total"]["area_m2"] == 5000.0
    layer = client.get("/ogc/collections/warnings/items", headers=scoped).json()["features"]
    assert {f["properties"]["code"] for f in layer} <= {dingcheng}
