"""OGC API - Features: the documents, paging with next links, CRS, and GDAL's OAPIF driver on a live server."""

from __future__ import annotations

import os
import subprocess

import httpx

from api.helpers import register
from conftest import project_body
from spatial.spatial_helpers import WULING, square


def _seed(client, headers, n: int = 5) -> list[str]:  # type: ignore[no-untyped-def]
    codes = []
    for i in range(n):
        code = register(client, headers, name=f"图层项目{i}")["code"]
        client.post(f"/api/v1/projects/{code}/parcels", json=square((WULING[0] + i * 0.003, WULING[1])),
                    headers=headers)
        codes.append(code)
    return codes


def test_landing_conformance_collections(client, registrar_headers) -> None:
    landing = client.get("/ogc", headers=registrar_headers).json()
    assert {link["rel"] for link in landing["links"]} >= {"self", "conformance", "data", "service-desc"}
    conf = client.get("/ogc/conformance", headers=registrar_headers).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    cols = client.get("/ogc/collections", headers=registrar_headers).json()["collections"]
    assert [c["id"] for c in cols] == ["parcels", "projects", "control_layers", "warnings"]
    assert client.get("/ogc/collections/roads", headers=registrar_headers).status_code == 404
    assert client.get("/ogc").status_code == 401


def test_items_paging_walks_every_feature_once(client, registrar_headers) -> None:
    codes = _seed(client, registrar_headers)
    url, seen = "/ogc/collections/parcels/items?limit=2", []
    while url:
        page = client.get(url, headers=registrar_headers)
        assert page.headers["content-type"].startswith("application/geo+json")
        body = page.json()
        assert body["numberMatched"] == 5 and body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    assert len(seen) == len(set(seen)) == 5
    box = client.get("/ogc/collections/parcels/items", params={"bbox": f"{WULING[0] - 0.002},29.0,"
                                                                       f"{WULING[0] + 0.0015},29.1"},
                     headers=registrar_headers).json()
    assert box["numberMatched"] == 1
    projects = client.get("/ogc/collections/projects/items", headers=registrar_headers).json()
    assert {f["id"] for f in projects["features"]} == set(codes)
    one = client.get(f"/ogc/collections/projects/items/{codes[0]}", headers=registrar_headers).json()
    assert one["properties"]["name"] == "图层项目0" and one["geometry"]["type"] == "Polygon"


def test_crs_4490_swaps_axis_order(client, registrar_headers) -> None:
    _seed(client, registrar_headers, 1)
    default = client.get("/ogc/collections/parcels/items", headers=registrar_headers).json()
    r = client.get("/ogc/collections/parcels/items", params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4490"},
                   headers=registrar_headers)
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    lon, lat = default["features"][0]["geometry"]["coordinates"][0][0]
    assert r.json()["features"][0]["geometry"]["coordinates"][0][0] == [lat, lon]
    assert client.get("/ogc/collections/parcels/items", params={"crs": "EPSG:3857"},
                      headers=registrar_headers).status_code == 400  # OGC API: an invalid value is a 400


def test_gdal_reads_the_layers(live_server) -> None:
    token = live_server.token("base_platform")
    admin = {"Authorization": f"Bearer {live_server.token('registrar')}"}
    for i in range(3):
        code = httpx.post(live_server.url + "/api/v1/projects", json=project_body(name=f"GDAL项目{i}"),
                          headers=admin).json()["code"]
        httpx.post(f"{live_server.url}/api/v1/projects/{code}/parcels",
                   json=square((WULING[0] + i * 0.003, WULING[1])), headers=admin)
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}"}
    out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{live_server.url}/ogc", "parcels"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Feature Count: 3" in out.stdout and "codes" in out.stdout
    full = subprocess.run(["ogrinfo", "-ro", "-al", f"OAPIF:{live_server.url}/ogc", "projects"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert full.returncode == 0, full.stderr
    assert "GDAL项目2" in full.stdout and "POLYGON" in full.stdout


def test_odd_feature_ids_are_404(client, registrar_headers) -> None:
    for fid in ("²", "１２", "-1", "99999999999999999999", "abc"):
        r = client.get(f"/ogc/collections/parcels/items/{fid}", headers=registrar_headers)
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json"), fid


def test_owslib_and_gdal_filter_on_the_server(live_server) -> None:
    """The issue's measurements: OWSLib's division= was ignored (a wrong answer), GDAL filtered on the client."""
    from owslib.ogcapi.features import Features

    token = live_server.token("registrar")
    h = {"Authorization": f"Bearer {token}"}
    for i, (division, x, y) in enumerate((("430702", 111.69, 29.04), ("430703", 111.68, 28.96))):
        code = httpx.post(live_server.url + "/api/v1/projects", json=project_body(name=f"筛选项目{i}", division=division),
                          headers=h).json()["code"]
        httpx.post(f"{live_server.url}/api/v1/projects/{code}/parcels", json=square((x, y)), headers=h)
    api = Features(live_server.url + "/ogc", headers=h)
    got = api.collection_items("projects", division="430702")
    assert [f["properties"]["division"] for f in got["features"]] == ["430702"]
    assert "division" in api.collection_queryables("projects")["properties"]
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}"}
    where = subprocess.run(["ogrinfo", "-ro", "-al", "-q", "-where", "division = '430703'",
                            f"OAPIF:{live_server.url}/ogc", "projects"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert where.returncode == 0, where.stderr
    assert "筛选项目1" in where.stdout and "筛选项目0" not in where.stdout
    spat = subprocess.run(["ogrinfo", "-ro", "-al", "-q", "-spat", "111.67", "28.95", "111.69", "28.97",
                           f"OAPIF:{live_server.url}/ogc", "projects"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert spat.returncode == 0, spat.stderr
    assert "筛选项目1" in spat.stdout and "筛选项目0" not in spat.stdout
