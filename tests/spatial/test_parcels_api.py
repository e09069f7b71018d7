"""Parcels through the REST API: attach, areas in the right zone, listing by bbox/code, TXT upload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyproj import Geod
from shapely.geometry import shape

from api.helpers import register
from spatial.spatial_helpers import DINGCHENG, SHIMEN, WULING, square

DATA = Path(__file__).resolve().parent.parent / "data"


def test_attach_geojson_and_list_by_bbox_and_code(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    r = client.post(f"/api/v1/projects/{code}/parcels", json=square(WULING, 地块编号="DK-1"), headers=registrar_headers)
    assert r.status_code == 201, r.text
    f = r.json()["features"][0]
    geodesic = abs(Geod(ellps="GRS80").geometry_area_perimeter(shape(f["geometry"]))[0])
    assert f["properties"]["area_m2"] == pytest.approx(geodesic, rel=0.01)
    assert f["properties"]["area_mu"] == pytest.approx(f["properties"]["area_m2"] / 666.667, rel=1e-3)
    assert f["warnings"] == []
    near = client.get("/api/v1/parcels", params={"bbox": "111.68,29.03,111.70,29.05"}, headers=registrar_headers)
    assert near.headers["content-type"].startswith("application/geo+json")
    assert [x["properties"]["codes"] for x in near.json()["features"]] == [[code]]
    far = client.get("/api/v1/parcels", params={"bbox": "112.0,29.5,112.1,29.6"}, headers=registrar_headers).json()
    assert far["features"] == []
    by_code = client.get("/api/v1/parcels", params={"code": code}, headers=registrar_headers).json()
    assert len(by_code["features"]) == 1
    projects = client.get("/api/v1/projects", params={"bbox": "111.68,29.03,111.70,29.05"},
                          headers=registrar_headers).json()
    assert [p["code"] for p in projects["items"]] == [code]


def test_bad_geometry_and_wrong_crs_are_422(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    bow = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
        [111.70, 29.00], [111.71, 29.01], [111.71, 29.00], [111.70, 29.01], [111.70, 29.00]]]}}
    r = client.post(f"/api/v1/projects/{code}/parcels", json=bow, headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "features.0.geometry"
    swapped = square((29.04, 111.69))
    r = client.post(f"/api/v1/projects/{code}/parcels", json=swapped, headers=registrar_headers)
    assert r.status_code == 422 and "经纬度" in r.json()["detail"]
    r = client.post(f"/api/v1/projects/{code}/parcels", json=square(WULING), params={"crs": 3857},
                    headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "crs"
    r = client.post(f"/api/v1/projects/{code}/parcels", content=b"{", headers=registrar_headers | {
        "content-type": "application/json"})
    assert r.status_code == 400
    assert client.get("/api/v1/parcels", params={"code": code}, headers=registrar_headers).json()["features"] == []


def test_coordinate_txt_upload_with_zone_prefix(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    txt = (DATA / "boundary-coordinates.txt").read_bytes()
    r = client.post(f"/api/v1/projects/{code}/parcels", files={"file": ("坐标.txt", txt, "text/plain")},
                    headers=registrar_headers)
    assert r.status_code == 201, r.text
    taken = r.json()["taken"]
    assert len(taken) == 2 and all(t["area_ha"] == pytest.approx(1.08, rel=0.01) for t in taken)
    feats = client.get("/api/v1/parcels", params={"code": code}, headers=registrar_headers).json()["features"]
    assert {f["properties"]["parcel_no"] for f in feats} == {"DK-2026-001", "DK-2026-002"}
    lon, lat = shape(feats[0]["geometry"]).centroid.coords[0]
    assert 111.6 < lon < 111.8 and 29.0 < lat < 29.1


def test_spatial_checks_outside_division_and_overlap(client, registrar_headers) -> None:
    wuling = register(client, registrar_headers)["code"]
    r = client.post(f"/api/v1/projects/{wuling}/parcels", json=square(SHIMEN), headers=registrar_headers)
    assert r.json()["features"][0]["warnings"][0]["kind"] == "outside_division"
    other = register(client, registrar_headers, name="鼎城项目", division="430703")["code"]
    client.post(f"/api/v1/projects/{other}/parcels", json=square(DINGCHENG), headers=registrar_headers)
    third = register(client, registrar_headers, name="鼎城另一项目", division="430703")["code"]
    client.post(f"/api/v1/projects/{third}/parcels", json=square((DINGCHENG[0] + 0.001, DINGCHENG[1])),
                headers=registrar_headers)
    issues = client.get("/api/v1/checks/spatial", params={"code": third}, headers=registrar_headers).json()["issues"]
    overlap = [i for i in issues if i["kind"] == "overlap"]
    assert len(overlap) == 1 and overlap[0]["other_code"] == other
    assert overlap[0]["area_m2"] == pytest.approx(0.001 * 0.002 * 97400 * 110900, rel=0.02)  # half of each square
    wuling_issues = client.get("/api/v1/checks/spatial", params={"code": wuling}, headers=registrar_headers).json()
    assert [i["kind"] for i in wuling_issues["issues"]] == ["outside_division"]
    client.post(f"/api/v1/projects/{other}/void", json={"reason": "作废"}, headers=registrar_headers)
    issues = client.get("/api/v1/checks/spatial", params={"code": third}, headers=registrar_headers).json()["issues"]
    assert [i for i in issues if i["kind"] == "overlap"] == []


def test_parcel_file_with_one_broken_feature(client, registrar_headers) -> None:
    """All or nothing by default, naming the bad feature; partial=true takes the good ones."""
    code = register(client, registrar_headers)["code"]
    good = [square(WULING), square((WULING[0] + 0.02, WULING[1]))]
    bow = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
        [111.70, 29.00], [111.71, 29.01], [111.71, 29.00], [111.70, 29.01], [111.70, 29.00]]]}}
    features = [good[0], bow, good[1]]
    for f in features:
        f["properties"] = {"项目码": code}
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    files = {"file": ("地块.geojson", body, "application/geo+json")}
    whole = client.post("/api/v1/imports/parcels", files=files, headers=registrar_headers)
    assert whole.status_code == 422
    assert [e["field"] for e in whole.json()["errors"]] == ["rows.2.features.1.geometry"]
    assert "第 2 个要素" in whole.json()["report"]["refused"][0]["reason"]
    assert client.get("/api/v1/parcels", params={"code": code}, headers=registrar_headers).json()["features"] == []
    direct = client.post(f"/api/v1/projects/{code}/parcels", files=files, headers=registrar_headers)
    assert direct.status_code == 422 and direct.json()["errors"][0]["field"] == "features.1.geometry"
    part = client.post("/api/v1/imports/parcels", params={"partial": "true"}, files=files, headers=registrar_headers)
    assert part.status_code == 200, part.text
    assert part.json()["counts"] == {"rows": 3, "taken": 2, "refused": 1, "unchanged": 0} and part.json()["written"]
    assert len(client.get("/api/v1/parcels", params={"code": code}, headers=registrar_headers).json()["features"]) == 2


def test_long_parcel_number_is_taken(client, registrar_headers) -> None:
    """A parcel number longer than its column (was a 500 on PostgreSQL) is cut to the column in listings."""
    code = register(client, registrar_headers)["code"]
    feature = square(WULING)
    feature["properties"] = {"parcel_no": "DK" + "9" * 300, "地块名称": "名" * 300}
    r = client.post(f"/api/v1/projects/{code}/parcels", json=feature, headers=registrar_headers)
    assert r.status_code == 201, r.text
    got = client.get("/api/v1/parcels", params={"code": code}, headers=registrar_headers).json()["features"][0]
    assert got["properties"]["parcel_no"] == ("DK" + "9" * 300)[:100] and got["properties"]["name"] == "名" * 200
