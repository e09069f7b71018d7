"""The contract additions of 2026-12 in the API: code tables with editions and aliases, zones, cross-references
validated at every entry point, and times read with any offset."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import openpyxl

from api.helpers import add_result, put_stage, register
from conftest import project_body

UNIT = "430702001001GB00012W00000000"


def post(client, h, **over):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/projects", json=project_body(**over), headers=h)


def test_code_tables_carry_editions_aliases_zones_and_internal_divisions(client, registrar_headers) -> None:
    t = client.get("/api/v1/code-tables", headers=registrar_headers).json()
    lu = [e for e in t["land_use"] if e["value"] == "1311"]
    assert any(e.items() >= {"label": "水工设施用地", "edition": "2023", "level": 2}.items() and "retired" not in e
               for e in lu)
    assert any(e.items() >= {"label": "干渠", "edition": "2020", "retired": True, "replaced_by": "1705"}.items()
               for e in lu)
    assert {"01", "17", "23"} <= {e["value"] for e in t["land_use"] if e.get("level") == 1}
    xdt = next(e for e in t["division"] if e["value"] == "430771")
    assert xdt["internal"] is True and xdt["label"] == "西洞庭管理区"
    assert "武陵" in next(e for e in t["division"] if e["value"] == "430702")["aliases"]
    assert {"value": "jingkai", "label": "常德经济技术开发区", "division": "430702",
            "aliases": ["常德经开区", "经开区", "德山经开区", "德山"]} in t["zones"]
    supply = {e["value"]: e for e in t["supply_type"]}
    assert supply["20"]["label"] == "出让（方式待定）" and supply["40"]["right_type_code"] == "103"
    assert "作价入股" in supply["40"]["aliases"]


def test_a_retired_value_is_refused_naming_its_replacement(client, registrar_headers) -> None:
    r = post(client, registrar_headers, land_use="0604")
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["field"] == "land_use" and "0602" in err["message"] and "已停用" in err["message"]
    code = register(client, registrar_headers)["code"]
    r = client.patch(f"/api/v1/projects/{code}", json={"land_use": "1313"}, headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "land_use" and "1312" in r.text
    r = post(client, registrar_headers, land_use="070102")
    assert r.status_code == 422 and "0701" in r.json()["errors"][0]["message"]


def test_new_codes_are_issued_and_read_in_the_current_edition(client, registrar_headers) -> None:
    p = register(client, registrar_headers, land_use="1311")
    assert p["edition"] == "2023"
    seg = next(s for s in client.get(f"/api/v1/codes/{p['code']}", headers=registrar_headers).json()["segments"]
               if s["name"] == "land_use")
    assert seg == {"name": "land_use", "value": "1311", "label": "水工设施用地", "edition": "2023"}
    never = "CD4307022026010121060400000" + "9"  # a retired value in a code nobody registered: still parses
    body = client.get(f"/api/v1/codes/{never}", headers=registrar_headers).json()
    seg = next(s for s in body["segments"] if s["name"] == "land_use")
    assert seg["label"] == "水产养殖设施建设用地" and seg["edition"] == "2020" and seg["retired"] is True


def test_investment_codes_are_checked_to_gbt_40058(client, registrar_headers) -> None:
    h = registrar_headers
    for bad, words in (("2013-430702-70-01-123456", "时间码"), ("2611-990702-70-01-123456", "地区码"),
                       ("2611430702-70-01-123456", "格式"), ("2701-430702-70-01-123456", "时间码")):
        r = post(client, h, investment_code=bad)
        assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("investment_code"), bad
        assert words in r.json()["errors"][0]["message"], bad
    r = post(client, h, investment_code="2611-440305-70-01-123456")  # Shenzhen: registered, with a warning
    assert r.status_code == 201 and r.json()["warnings"][0]["field"] == "investment_code"
    ok = post(client, h, name="本市项目", investment_code="2019-430702-70-01-123456")
    assert ok.status_code == 201 and ok.json()["warnings"] == []
    r = client.patch(f"/api/v1/projects/{ok.json()['code']}", json={"investment_code": "2611-430702-70-01-12345"},
                     headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "investment_code"


def test_refs_are_checked_normalised_and_searchable(client, registrar_headers) -> None:
    h = registrar_headers
    r = post(client, h, refs=[{"kind": "case_no", "value": "A-1"}, {"kind": "unit_no", "value": UNIT[:-1] + "1"}])
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["field"] == "refs.1.value" and "00000000" in err["message"]
    r = post(client, h, refs=[{"kind": "supply_supervision_no", "value": "4307022026000123456"}])
    assert r.status_code == 422 and "报批监管号" in r.json()["errors"][0]["message"]
    p = register(client, h, refs=[{"kind": "supervision_no", "value": "4307022026b00012"},
                                  {"kind": "unit_no", "value": UNIT}])
    assert p["refs"] == [{"kind": "supply_supervision_no", "value": "4307022026B00012"},
                         {"kind": "unit_no", "value": UNIT}, {"kind": "parcel_code", "value": UNIT[:19]}]
    found = client.get("/api/v1/projects", params={"q": UNIT[:19]}, headers=h).json()["items"]
    assert [x["code"] for x in found] == [p["code"]]
    r = client.patch(f"/api/v1/projects/{p['code']}", json={"refs": [{"kind": "approval_supervision_no",
                                                                      "value": "43070220260001"}]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "refs.0.value"


def test_result_data_refs_are_checked_before_anything_is_written(client, registrar_headers) -> None:
    h = registrar_headers
    code = register(client, h)["code"]
    put_stage(client, h, code, "land_approval")
    r = add_result(client, h, code, {"stage": "supply", "kind": "出让合同", "data": {"supervision_no": "4301022026B00012"}},
                   files=[("合同.pdf", b"%PDF-1.4 x")])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "meta.data.supervision_no"
    assert "区县" in r.json()["errors"][0]["message"]
    assert client.get(f"/api/v1/projects/{code}/results", headers=h).json()["items"] == []
    r = add_result(client, h, code, {"stage": "registration", "kind": "不动产权证书", "data": {"unit_no": UNIT}})
    assert r.status_code == 201
    refs = client.get(f"/api/v1/projects/{code}", headers=h).json()["refs"]
    assert {"kind": "parcel_code", "value": UNIT[:19]} in refs
    r = add_result(client, h, code, {"stage": "land_approval", "kind": "批复", "data": {
        "supervision_no": "4307022026000123456"}})  # in a 批 stage: the approval batch's 19-character number
    assert r.status_code == 201
    assert {"kind": "approval_supervision_no", "value": "4307022026000123456"} in \
        client.get(f"/api/v1/projects/{code}", headers=h).json()["refs"]


def test_zones_on_projects_filters_and_exports(client, registrar_headers) -> None:
    h = registrar_headers
    a = register(client, h, name="经开区项目", zone="jingkai")
    assert a["zone"] == "jingkai" and a["division"] == "430702"
    r = post(client, h, name="错区项目", division="430703", zone="jingkai")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "zone"
    assert post(client, h, name="未知功能区", zone="moon").status_code == 422
    b = register(client, h, name="西洞庭项目", division="430771", zone="xidongting")
    register(client, h, name="普通项目")
    listed = client.get("/api/v1/projects", params={"zone": "jingkai"}, headers=h).json()["items"]
    assert [p["code"] for p in listed] == [a["code"]]
    r = client.patch(f"/api/v1/projects/{b['code']}", json={"zone": None}, headers=h)
    assert r.status_code == 200 and r.json()["zone"] is None
    stats = client.get("/api/v1/stats", params={"group_by": "zone"}, headers=h).json()["items"]
    assert {"key": "jingkai", "label": "常德经济技术开发区", "count": 1, "area_m2": 12000.0} in stats


def test_split_children_keep_the_investment_code(client, registrar_headers) -> None:
    h = registrar_headers
    parent = register(client, h, investment_code="2611-430702-70-01-000321", zone="jingkai")
    r = client.post(f"/api/v1/projects/{parent['code']}/split", headers=h,
                    json={"parts": [{"name": "一期"}, {"name": "二期"}], "reason": "分期供地"})
    assert r.status_code == 201, r.text
    assert [c["investment_code"] for c in r.json()] == ["2611-430702-70-01-000321"] * 2
    assert [c["zone"] for c in r.json()] == ["jingkai"] * 2
    dup = post(client, h, name="另一个", investment_code="2611-430702-70-01-000321")
    assert dup.status_code == 409 and dup.json()["existing_code"] == parent["code"]


def test_updated_since_reads_any_offset(client, registrar_headers) -> None:
    h = registrar_headers
    p = register(client, h)
    updated = dt.datetime.fromisoformat(p["updated_at"].replace("Z", "+00:00"))
    just_before = updated - dt.timedelta(minutes=1)
    for text in (just_before.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
                 just_before.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat(),
                 just_before.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()):
        got = client.get("/api/v1/projects", params={"updated_since": text}, headers=h).json()["items"]
        assert [x["code"] for x in got] == [p["code"]], text
    later = (updated + dt.timedelta(minutes=1)).astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
    assert client.get("/api/v1/projects", params={"updated_since": later}, headers=h).json()["items"] == []


def test_people_read_local_times_in_exports_and_packages(client, registrar_headers, ymt) -> None:
    h = registrar_headers
    p = register(client, h)
    tz = ymt.profile.tz
    local = dt.datetime.fromisoformat(p["updated_at"].replace("Z", "+00:00")).astimezone(tz)
    from yimatong.core.context import SYSTEM
    from yimatong.core.visibility import View
    from yimatong.projects import export

    path = ymt.settings.data_dir / "p.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    export.export_projects(ymt, View.of(ymt, SYSTEM), path)
    sheet = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    # a local Excel time (row 0 is the title, row 1 the header), not the UTC text
    assert sheet[2][-1] == local.replace(tzinfo=None, microsecond=0)
    z = client.get(f"/api/v1/projects/{p['code']}/package", params={"purpose": "archive"}, headers=h)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(z.content)).read("manifest.json"))
    generated = dt.datetime.fromisoformat(manifest["generated_at_local"])
    assert generated.utcoffset() == dt.timedelta(hours=8) and manifest["time_zone"] == "Asia/Shanghai"
    assert abs(generated - dt.datetime.fromisoformat(manifest["generated_at"].replace("Z", "+00:00"))) < \
        dt.timedelta(seconds=1)


def test_the_intake_date_is_the_local_date(ymt) -> None:
    """A project registered at 23:30 UTC was taken in on the next day in Changde (07:30)."""
    from sqlalchemy import insert, select

    from yimatong.core.context import SYSTEM
    from yimatong.projects import registry
    from yimatong.storage.models import Project, Stage

    late = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
    attrs = {"division": "430702", "year": "2026", "approval_type": "01", "project_type": "01", "supply_type": "23",
             "land_use": "0701"}
    data = {"name": "夜间登记项目", **attrs}
    with ymt.db.write() as s:
        row = registry._project_row(ymt, SYSTEM.name, data, attrs, "CD43070220260101230701999999", late)
        pid = s.execute(insert(Project.__table__).returning(Project.__table__.c.id), [row]).scalar_one()
        registry._insert_new_rows(s, ymt, SYSTEM.name, [(pid, data)], late)
        day = s.execute(select(Stage.finished_at).where(Stage.project_id == pid)).scalar_one()
    assert day == "2026-12-01"  # the UTC date would be 2026-11-30


def test_an_internal_division_is_checked_against_its_parent(client, registrar_headers) -> None:
    from spatial.spatial_helpers import WULING, square

    h = registrar_headers
    code = register(client, h, name="西洞庭管理区项目", division="430771", zone="xidongting")["code"]
    assert client.post(f"/api/v1/projects/{code}/parcels", json=square(WULING), headers=h).status_code == 201
    assert client.get("/api/v1/checks/spatial", params={"code": code}, headers=h).json()["issues"] == []
    far = square((113.0, 28.2))  # 长沙: outside 常德市, the parent of 430771
    assert client.post(f"/api/v1/projects/{code}/parcels", json=far, headers=h).status_code == 201
    kinds = [i["kind"] for i in client.get("/api/v1/checks/spatial", params={"code": code}, headers=h).json()["issues"]]
    assert kinds == ["outside_division"]
