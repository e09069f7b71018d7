"""The project box of a parcel: every project on it, stages in catalogue order, confidentiality honoured."""

from __future__ import annotations

from api.helpers import add_result, put_stage, register
from conftest import make_token
from spatial.spatial_helpers import WULING, square


def test_box_by_point_and_by_parcel(client, ymt, registrar_headers) -> None:
    reserve = register(client, registrar_headers, name="储备地块", project_type="05", supply_type="00")["code"]
    pid = client.post(f"/api/v1/projects/{reserve}/parcels", json=square(WULING),
                      headers=registrar_headers).json()["features"][0]["id"]
    put_stage(client, registrar_headers, reserve, "reserve", finished_at="2025-05-01")
    supply = register(client, registrar_headers, name="出让项目")["code"]
    client.post(f"/api/v1/projects/{supply}/parcels", json=square(WULING, half=0.0008), headers=registrar_headers)
    put_stage(client, registrar_headers, supply, "land_approval", "not_applicable")
    put_stage(client, registrar_headers, supply, "supply", finished_at="2026-02-01")
    add_result(client, registrar_headers, supply, {"stage": "supply", "kind": "出让合同", "data": {}})
    approval = {"Authorization": f"Bearer {make_token(ymt, 'approval_system')}"}
    add_result(client, approval, supply, {"stage": "supply", "kind": "价格评估（受限）", "confidentiality": "restricted"})
    elsewhere = register(client, registrar_headers, name="别处项目")["code"]
    client.post(f"/api/v1/projects/{elsewhere}/parcels", json=square((WULING[0] + 0.01, WULING[1])),
                headers=registrar_headers)

    box = client.get("/api/v1/project-box", params={"lon": WULING[0], "lat": WULING[1]},
                     headers=registrar_headers).json()
    assert [p["code"] for p in box["projects"]] == [reserve, supply]
    supply_box = box["projects"][1]
    keys = [s["key"] for s in supply_box["stages"]]
    assert keys == ["intake", "land_approval", "supply"]
    assert {r["kind"] for r in supply_box["stages"][2]["results"]} == {"出让合同", "价格评估（受限）"}
    viewer = {"Authorization": f"Bearer {make_token(ymt, 'base_platform')}"}
    by_id = client.get(f"/api/v1/parcels/{pid}/box", headers=viewer).json()
    assert [p["code"] for p in by_id["projects"]] == [reserve, supply]
    assert {r["kind"] for r in by_id["projects"][1]["stages"][2]["results"]} == {"出让合同"}
    assert by_id["parcel"]["properties"]["id"] == pid
    assert client.get("/api/v1/project-box", params={"lon": 112.9, "lat": 29.9},
                      headers=registrar_headers).status_code == 404
    assert client.get("/api/v1/project-box", params={"lon": 500, "lat": 29.9},
                      headers=registrar_headers).status_code == 422
