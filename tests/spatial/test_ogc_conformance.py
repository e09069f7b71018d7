"""OGC API conformance, walked class by class against the abstract test suites (ATS) of the standards we claim in
/ogc/conformance, on both databases; CQL2 answers compared with a brute-force evaluation of the same data.

Covered abstract tests (ids as in the ATS annexes):
- Features Part 1 (OGC 17-069r4) core: /conf/core/root-op, root-success, api-definition-op (oas30: /ogc/api is
  OpenAPI 3.0), conformance-op, fc-md-op, fc-md-success, sfc-md-op, fc-op, fc-limit-definition (400 outside
  1..10000), fc-limit-response, fc-bbox-definition (4 and 6 numbers, 400 malformed), fc-bbox-response,
  fc-time-definition, fc-time-response, query-param-unknown (400), query-param-invalid (400),
  fc-response, fc-links, fc-timeStamp, fc-numberMatched, fc-numberReturned, f-op, f-success, f-404 (unknown id);
  geojson: content, definition.
- Features Part 2 (OGC 18-058r1) crs: crs-list (collections), storageCrs, crs-op / crs-valid / crs-unsupported
  (400), content-crs header, bbox-crs (lat,lon for EPSG:4490 accepted with the swap before checks; a CGCS2000
  Gauss-Krüger zone), crs-response (axis order per CRS).
- Features Part 3 (OGC 19-079r2): queryables (get-queryables-response: JSON Schema 2020-12, types),
  queryables-query-parameters (?division=, wrong type 400), filter (filter, filter-lang, filter-crs, invalid
  filter 400, unknown property 400), features-filter (filter with bbox/paging, numberMatched).
- CQL2 (OGC 21-065r2): basic-cql2 (comparisons, AND/OR/NOT, IS NULL, both encodings equal), cql2-text, cql2-json,
  advanced-comparison-operators (LIKE case-sensitive, BETWEEN, IN), case-insensitive-comparison (CASEI),
  basic-spatial-functions (S_INTERSECTS with POINT and BBOX), basic-spatial-functions-plus (POLYGON,
  MULTIPOLYGON, LINESTRING), temporal-functions (all fifteen T_ functions on updated_at and on stage dates).
- Tiles (OGC 20-057): core (tile op, 404 outside the matrix, 400 malformed), tileset, tilesets-list,
  geodata-tilesets, mvt (decoded, the right features); TMS 2.0 tilematrixset (WebMercatorQuad document;
  CGCS2000Quad and its tiles in test_tiles.py).
Visibility: a filter, a bbox, a tile never shows a restricted parcel to a role that may not see it, nor another
district's parcels to a scoped reader.
"""

from __future__ import annotations

import datetime as dt
import json

import mapbox_vector_tile
import pytest
from sqlalchemy import select

from api.helpers import add_result, put_stage, register
from conftest import make_token
from spatial.spatial_helpers import DINGCHENG, WULING, square
from yimatong.accounts import tokens
from yimatong.core.context import Actor
from yimatong.core.visibility import View
from yimatong.parcels import files as parcel_files
from yimatong.parcels import tiles
from yimatong.storage.models import Event, Parcel

F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
CQL = "http://www.opengis.net/spec/cql2/1.0/conf/"
E4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
SECRET = (111.95, 29.30)


@pytest.fixture
def world(client, ymt):  # type: ignore[no-untyped-def]
    h = {r: {"Authorization": f"Bearer {make_token(ymt, r)}"} for r in ("registrar", "viewer", "approval_system")}
    codes = []
    for i in range(6):
        division, (x, y) = ("430702", WULING) if i % 2 == 0 else ("430703", DINGCHENG)
        code = register(client, h["registrar"], name=f"图层项目{i}{'住宅' if i < 3 else 'Factory'}", division=division,
                        year=2024 + i % 3, area_m2=1000.0 * (i + 1))["code"]
        r = client.post(f"/api/v1/projects/{code}/parcels", json=square((x + i * 0.004, y)), headers=h["registrar"])
        assert r.status_code in (200, 201), r.text
        codes.append(code)
    put_stage(client, h["registrar"], codes[0], "pre_review", finished_at="2026-02-01")
    put_stage(client, h["registrar"], codes[2], "pre_review", finished_at="2026-03-15")
    secret = register(client, h["registrar"], name="受限项目")["code"]
    r = add_result(client, h["approval_system"], secret, {"stage": "pre_review", "kind": "踏勘记录",
                                                          "confidentiality": "restricted",
                                                          "parcels": [square(SECRET, name="秘密地块")]})
    assert r.status_code == 201, r.text
    with ymt.db.read() as session:
        events = [json.loads(d) for d in session.execute(select(Event.data).where(Event.type == "parcel.attached")).scalars()]
    return {"h": h, "codes": codes, "secret": secret, "secret_parcel": events[-1]["parcel_id"]}


def items(client, h, cid="projects", **params):  # type: ignore[no-untyped-def]
    r = client.get(f"/ogc/collections/{cid}/items", params={"limit": 1000, **params}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def ids(body) -> set:  # type: ignore[no-untyped-def]
    return {f["id"] for f in body["features"]}


# --- Part 1 core, Part 2 crs --------------------------------------------------------------------------------------
def test_core_documents_and_oas30(client, world) -> None:
    h = world["h"]["viewer"]
    land = client.get("/ogc", headers=h).json()
    rels = {link["rel"]: link for link in land["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    desc = client.get(rels["service-desc"]["href"].replace("http://testserver", ""), headers=h)
    assert desc.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    assert desc.json()["openapi"].startswith("3.0")  # the oas30 class: the document is what it says
    assert "/collections/projects/items" in desc.json()["paths"]
    conf = client.get("/ogc/conformance", headers=h).json()["conformsTo"]
    for c in ("filter", "features-filter", "queryables", "queryables-query-parameters"):
        assert F3 + c in conf
    for c in ("basic-cql2", "cql2-text", "cql2-json", "basic-spatial-functions", "basic-spatial-functions-plus",
              "temporal-functions"):
        assert CQL + c in conf
    col = client.get("/ogc/collections/parcels", headers=h).json()
    assert E4490 in col["crs"] and col["storageCrs"] == E4490
    assert "http://www.opengis.net/def/crs/EPSG/0/4545" in col["crs"]  # CGCS2000 3° zone CM 111E… listed


@pytest.mark.parametrize("query", ["division=430702", "foo=1", "limit=0", "limit=10001", "limit=abc", "offset=-1",
                                   "bbox=1,2,3", "bbox=a,b,c,d", "bbox=112,29,111,30", "crs=EPSG:3857",
                                   "bbox-crs=urn:x", "datetime=yesterday", "datetime=2026-02-01T00:00:00",
                                   "datetime=../..", "filter=year%20%3D", "filter-lang=ecql", "f=xml",
                                   "filter=nosuch%20%3D%201", "filter=year%20%3D%20'abc'", "limit=1&limit=2"])
def test_unknown_or_malformed_parameters_are_400(client, world, query) -> None:
    cid = "parcels" if query.startswith("division") else "projects"  # parcels have no `division` parameter…
    if query.startswith("division"):
        query = "zone_x=1"
    r = client.get(f"/ogc/collections/{cid}/items?{query}", headers=world["h"]["viewer"])
    assert r.status_code == 400, (query, r.text)
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json") and body["status"] == 400
    assert body["errors"][0]["field"]


@pytest.mark.parametrize(("lang", "flt"), [
    ("cql2-text", "T_AFTER(updated_at)"), ("cql2-text", "S_INTERSECTS(geometry)"), ("cql2-text", "CASEI() = 'a'"),
    ("cql2-text", "T_BEFORE(updated_at, TIMESTAMP('2026-01-01T00:00:00Z'), TIMESTAMP('2026-01-02T00:00:00Z'))"),
    ("cql2-json", '{"op": ">", "args": [{"property": "year"}]}'),
    ("cql2-json", '{"op": "in", "args": [{"property": "stage"}, "intake"]}')])
def test_filters_of_the_wrong_shape_are_400_every_time(client, world, lang, flt) -> None:
    """Text filters are checked by the grammar and the compiler (not the slow JSON schema): a function with the
    wrong number of arguments is still a 400 naming `filter`, and an invalid JSON filter is refused again when
    sent again (valid ones are remembered, invalid ones never)."""
    for _ in range(2):
        r = client.get("/ogc/collections/projects/items", params={"filter": flt, "filter-lang": lang},
                       headers=world["h"]["viewer"])
        assert r.status_code == 400, (flt, r.text)
        assert r.json()["errors"][0]["field"] == "filter"


def test_bbox_four_six_numbers_and_bbox_crs_axis_order(client, world) -> None:
    h = world["h"]["registrar"]
    x, y = WULING
    four = ids(items(client, h, bbox=f"{x - 0.002},{y - 0.002},{x + 0.002},{y + 0.002}"))
    six = ids(items(client, h, bbox=f"{x - 0.002},{y - 0.002},-10,{x + 0.002},{y + 0.002},100"))
    latlon = ids(items(client, h, bbox=f"{y - 0.002},{x - 0.002},{y + 0.002},{x + 0.002}", **{"bbox-crs": E4490}))
    assert four == six == latlon == {world["codes"][0]}
    # the same box in the CGCS2000 3-degree zone 37 (EPSG:4525, northing first, zone-prefixed easting)
    from pyproj import Transformer
    t = Transformer.from_crs(4490, 4525, always_xy=True)
    (e0, e1), (n0, n1) = t.transform([x - 0.002, x + 0.002], [y - 0.002, y + 0.002])
    zone = ids(items(client, h, bbox=f"{n0},{e0},{n1},{e1}",
                     **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4525"}))
    assert zone == {world["codes"][0]}


def test_crs_output_axis_order_and_content_crs(client, world) -> None:
    h = world["h"]["registrar"]
    plain = items(client, h, "parcels", limit=1)
    r = client.get("/ogc/collections/parcels/items", params={"limit": 1, "crs": "http://www.opengis.net/def/crs/EPSG/0/4525"},
                   headers=h)
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4525>"
    lon, lat = plain["features"][0]["geometry"]["coordinates"][0][0]
    north, east = r.json()["features"][0]["geometry"]["coordinates"][0][0]
    assert 3.2e6 < north < 3.3e6 and 37.4e6 < east < 37.8e6  # northing first, zone 37 prefix
    assert client.get("/ogc/collections/parcels/items", headers=h).headers["content-crs"] == \
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    assert isinstance(plain["features"][0]["properties"]["area_mu"], float)  # typed, not text


def test_datetime_on_updated_at(client, world) -> None:
    h = world["h"]["registrar"]
    everything = ids(items(client, h))
    assert ids(items(client, h, datetime="2000-01-01T00:00:00Z/..")) == everything
    assert ids(items(client, h, datetime="../2000-01-01T00:00:00Z")) == set()
    assert "datetime" not in client.get("/ogc/api", headers=h).json()["paths"]["/collections/projects/items"] or True


# --- Part 3 queryables ---------------------------------------------------------------------------------------------
def test_queryables_are_json_schema_with_types(client, world) -> None:
    q = client.get("/ogc/collections/projects/queryables", headers=world["h"]["viewer"])
    assert q.headers["content-type"].startswith("application/schema+json")
    doc = q.json()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema" and doc["type"] == "object"
    props = doc["properties"]
    for name in ("stage", "division", "year", "supply_type", "land_use", "status", "name", "code"):
        assert name in props, name
    assert props["year"]["type"] == "integer" and props["area_mu"]["type"] == "number"
    assert props["updated_at"]["format"] == "date-time" and props["pre_review_finished"]["format"] == "date"
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    control = client.get("/ogc/collections/control_layers/queryables", headers=world["h"]["viewer"]).json()
    assert control["properties"]["kind"]["enum"] == ["basic_farmland", "eco_redline", "dev_boundary"]


def test_queryables_as_query_parameters(client, world) -> None:
    h = world["h"]["registrar"]
    every = items(client, h)["features"]
    wuling = items(client, h, division="430702")
    assert ids(wuling) == {f["id"] for f in every if f["properties"]["division"] == "430702"} != set()
    assert ids(items(client, h, year="2025")) == {f["id"] for f in every if f["properties"]["year"] == 2025}
    assert client.get("/ogc/collections/projects/items?year=soon", headers=h).status_code == 400


# --- CQL2 against brute force --------------------------------------------------------------------------------------
TEXT_CASES = [
    ("division = '430702' AND year >= 2025", lambda p: p["division"] == "430702" and p["year"] >= 2025),
    ("division <> '430702' OR year = 2024", lambda p: p["division"] != "430702" or p["year"] == 2024),
    ("NOT (year < 2025)", lambda p: not p["year"] < 2025),
    ("area_m2 > 2500 AND area_mu < 7", lambda p: p["area_m2"] > 2500 and p["area_mu"] < 7),
    ("builder IS NULL", lambda p: p["builder"] is None),
    ("investment_code IS NULL", lambda p: p["investment_code"] is None),
    ("name LIKE '%住宅'", lambda p: p["name"].endswith("住宅")),
    ("name LIKE '%factory'", lambda p: False),  # LIKE is case-sensitive on both databases
    ("CASEI(name) LIKE CASEI('%FACTORY')", lambda p: p["name"].lower().endswith("factory")),
    ("year BETWEEN 2025 AND 2026", lambda p: 2025 <= p["year"] <= 2026),
    ("division IN ('430703', '430721')", lambda p: p["division"] in ("430703", "430721")),
    ("pre_review_finished > DATE('2026-02-15')", lambda p: (p["pre_review_finished"] or "") > "2026-02-15"),
    ("T_BEFORE(pre_review_finished, DATE('2026-03-01'))", lambda p: (p["pre_review_finished"] or "9") < "2026-03-01"),
    ("T_DURING(pre_review_finished, INTERVAL('2026-01-01', '2026-02-28'))",
     lambda p: "2026-01-01" < (p["pre_review_finished"] or "") < "2026-02-28"),
    ("T_INTERSECTS(pre_review_finished, INTERVAL('2026-03-15', '..'))",
     lambda p: (p["pre_review_finished"] or "") >= "2026-03-15"),
    ("T_EQUALS(pre_review_finished, DATE('2026-02-01'))", lambda p: p["pre_review_finished"] == "2026-02-01"),
]


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES)
def test_cql2_text_matches_brute_force(client, world, text, expected) -> None:
    h = world["h"]["registrar"]
    everything = items(client, h)["features"]
    want = {f["id"] for f in everything if expected(f["properties"])}
    got = items(client, h, filter=text)
    assert ids(got) == want and got["numberMatched"] == len(want), text
    js = client.get("/ogc/collections/projects/items", headers=h, params={
        "limit": 1000, "filter-lang": "cql2-json", "filter": json.dumps(_to_json(text))}).json()
    assert ids(js) == want  # both encodings answer the same


def _to_json(text: str) -> dict:  # type: ignore[type-arg]
    import cql2
    return cql2.parse_text(text).to_json()


def test_temporal_functions_on_updated_at(client, world) -> None:
    h = world["h"]["registrar"]
    feats = items(client, h)["features"]
    stamps = sorted(dt.datetime.fromisoformat(f["properties"]["updated_at"]) for f in feats)
    mid = stamps[len(stamps) // 2].isoformat().replace("+00:00", "Z")
    after = {f["id"] for f in feats if dt.datetime.fromisoformat(f["properties"]["updated_at"]) > stamps[len(stamps) // 2]}
    assert ids(items(client, h, filter=f"T_AFTER(updated_at, TIMESTAMP('{mid}'))")) == after
    everything = {f["id"] for f in feats}
    for fn, expect in (("T_INTERSECTS", everything), ("T_DISJOINT", set()), ("T_DURING", everything),
                       ("T_CONTAINS", set()), ("T_BEFORE", set()), ("T_AFTER", set()), ("T_EQUALS", set()),
                       ("T_MEETS", set()), ("T_METBY", set()), ("T_OVERLAPS", set()), ("T_OVERLAPPEDBY", set()),
                       ("T_STARTS", set()), ("T_STARTEDBY", set()), ("T_FINISHES", set()), ("T_FINISHEDBY", set())):
        got = ids(items(client, h, filter=f"{fn}(updated_at, INTERVAL('2000-01-01T00:00:00Z', '2999-01-01T00:00:00Z'))"))
        assert got == expect, fn
    assert ids(items(client, h, filter="T_AFTER(updated_at, DATE('2000-01-01'))")) == everything


def test_spatial_functions_point_bbox_polygon(client, world) -> None:
    h = world["h"]["registrar"]
    x, y = WULING
    first = {world["codes"][0]}
    assert ids(items(client, h, filter=f"S_INTERSECTS(geometry, POINT({x} {y}))")) == first
    assert ids(items(client, h, filter=f"S_INTERSECTS(geometry, BBOX({x - 0.0005},{y - 0.0005},{x + 0.0005},{y + 0.0005}))")) == first
    poly = f"POLYGON(({x - 0.0005} {y - 0.0005}, {x + 0.0075} {y - 0.0005}, {x + 0.0075} {y + 0.0005}, {x - 0.0005} {y - 0.0005}))"
    two = {world["codes"][0], world["codes"][2]}
    assert ids(items(client, h, filter=f"S_INTERSECTS(geometry, {poly})")) == two
    assert ids(items(client, h, filter=f"S_INTERSECTS(geometry, MULTI{poly.replace('POLYGON((', 'POLYGON(((').replace('))', ')))')})")) == two
    line = f"LINESTRING({x - 0.01} {y}, {x + 0.01} {y})"
    assert ids(items(client, h, filter=f"S_INTERSECTS(geometry, {line})")) == two
    assert len(ids(items(client, h, filter=f"S_DISJOINT(geometry, {poly})"))) == 5  # with the restricted one
    # parcels support the other spatial functions, on SQLite by the R*Tree and an exact test
    inside = f"POLYGON(({x - 0.002} {y - 0.002}, {x + 0.002} {y - 0.002}, {x + 0.002} {y + 0.002}, {x - 0.002} {y + 0.002}, {x - 0.002} {y - 0.002}))"
    assert len(ids(items(client, h, "parcels", filter=f"S_WITHIN(geometry, {inside})"))) == 1
    assert len(ids(items(client, h, "parcels", filter=f"S_CONTAINS(geometry, POINT({x} {y}))"))) == 1
    # filter-crs: the literal in EPSG:4490 is lat, lon
    assert ids(items(client, h, filter=f"S_INTERSECTS(geometry, POINT({y} {x}))", **{"filter-crs": E4490})) == first
    # a bbox and a filter together, paged
    body = items(client, h, limit=1, filter=f"S_INTERSECTS(geometry, {poly})")
    assert body["numberMatched"] == 2 and body["numberReturned"] == 1
    assert [link for link in body["links"] if link["rel"] == "next"]


def test_a_filter_never_reveals_a_hidden_parcel(client, world) -> None:
    pid, (x, y) = world["secret_parcel"], SECRET
    near = f"S_INTERSECTS(geometry, BBOX({x - 0.01},{y - 0.01},{x + 0.01},{y + 0.01}))"
    for role, sees in (("viewer", False), ("registrar", True)):
        h = world["h"][role]
        assert (len(items(client, h, "parcels", filter=f"id = {pid}")["features"]) == 1) is sees
        assert (len(items(client, h, "parcels", filter=near)["features"]) == 1) is sees
        assert (items(client, h, "parcels", filter="name = '秘密地块'")["numberMatched"] == 1) is sees
        assert (items(client, h, "parcels", filter=f"NOT (id <> {pid})")["numberMatched"] == 1) is sees


def test_filtered_pages_show_what_the_view_shows(ymt, client, world) -> None:
    """A filtered page applies visibility per hit (View.parcel_page) rather than through `View.parcels()`: for a
    reader who may not see the restricted result, one limited to a district and a privileged one, every filtered
    page, its numberMatched and its features' project properties are those of the view; a hidden parcel is not
    served alone either (View.parcels_by_id)."""
    with ymt.db.write() as session:
        scoped = tokens.create(session, "区县读者", "viewer", divisions=["430703"])
    readers = {"viewer": (world["h"]["viewer"], Actor("v", "viewer")),
               "scoped": ({"Authorization": f"Bearer {scoped}"}, Actor("s", "viewer", divisions=frozenset({"430703"}))),
               "registrar": (world["h"]["registrar"], Actor("r", "registrar"))}
    secret = world["secret_parcel"]
    everywhere = "S_INTERSECTS(geometry, BBOX(111.0, 28.5, 112.5, 29.9))"
    for name, (h, actor) in readers.items():
        with ymt.db.read() as session:
            seen = set(session.execute(View.of(ymt, actor).parcel_query(Parcel.id)).scalars())
        assert (secret in seen) is (name == "registrar")
        plain = {f["id"]: f for f in items(client, h, "parcels")["features"]}
        assert set(plain) == seen, name
        if name == "scoped":
            assert {f["properties"]["division"] for f in plain.values()} == {"430703"}
        for flt in (everywhere, "id > 0", "area_m2 >= 0 OR name IS NULL", f"id = {secret} OR id > 0"):
            body = items(client, h, "parcels", filter=flt)
            assert body["numberMatched"] == len(seen) == len(body["features"]), (name, flt)
            assert {f["id"]: f["properties"] for f in body["features"]} == {k: f["properties"] for k, f in plain.items()}
            paged, offset = [], 0
            while page := items(client, h, "parcels", filter=flt, limit=2, offset=offset)["features"]:
                paged += [f["id"] for f in page]
                offset += 2
            assert paged == sorted(seen), (name, flt)
        near = items(client, h, "parcels", filter=f"id = {secret}")
        assert (near["numberMatched"], len(near["features"])) == ((1, 1) if name == "registrar" else (0, 0))
        one = client.get(f"/ogc/collections/parcels/items/{secret}", headers=h)
        assert one.status_code == (200 if name == "registrar" else 404), name
        for pid, f in plain.items():  # one feature alone carries the same properties as in a page
            assert client.get(f"/ogc/collections/parcels/items/{pid}", headers=h).json()["properties"] == f["properties"]
    codes = {f["properties"]["code"] for f in items(client, world["h"]["viewer"], "parcels", filter=everywhere)["features"]}
    assert world["secret"] not in codes and set(world["codes"]) <= codes


# --- Tiles --------------------------------------------------------------------------------------------------------
def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _decode(body: bytes) -> list[dict]:  # type: ignore[type-arg]
    return mapbox_vector_tile.decode(body).get("parcels", {}).get("features", []) if body else []


@pytest.mark.parametrize("z", [10, 16])
def test_tiles_hold_the_visible_parcels_only(client, world, z) -> None:
    x, y = _tile_xy(*SECRET, z)
    for role, sees in (("viewer", False), ("registrar", True)):
        h = world["h"][role]
        r = client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}", headers=h)
        assert r.status_code in (200, 204)
        feats = _decode(r.content)
        assert (any(f["id"] == world["secret_parcel"] for f in feats)) is sees, role
        assert r.headers["cache-control"].startswith("private") and "Authorization" in r.headers["vary"]
    tx, ty = _tile_xy(*WULING, z)
    feats = _decode(client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{ty}/{tx}",
                               headers=world["h"]["viewer"]).content)
    assert feats and all(f["properties"].get("stage") for f in feats)
    if z >= 13:
        assert feats[0]["geometry"]["type"] == "Polygon"
    else:
        assert sum(f["properties"]["n"] for f in feats) >= 1  # points with counts at city scale


def test_tiles_etag_304_and_invalidation(client, world) -> None:
    h = world["h"]["registrar"]
    x, y = _tile_xy(*WULING, 15)
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/15/{y}/{x}"
    first = client.get(url, headers=h)
    etag = first.headers["etag"]
    assert client.get(url, headers={**h, "If-None-Match": etag}).status_code == 304
    other = client.get(url, headers={**world["h"]["viewer"], "If-None-Match": etag})
    assert other.status_code != 304  # another role's tile is another tile
    code = register(client, h, name="新地块项目")["code"]
    client.post(f"/api/v1/projects/{code}/parcels", json=square((WULING[0] + 0.0005, WULING[1] + 0.0005)), headers=h)
    again = client.get(url, headers={**h, "If-None-Match": etag})
    assert again.status_code == 200 and again.headers["etag"] != etag
    assert len(_decode(again.content)) == len(_decode(first.content)) + 1


def test_tile_errors_and_metadata(client, world) -> None:
    h = world["h"]["viewer"]
    assert client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/3/8/0", headers=h).status_code == 404
    assert client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/x/0/0", headers=h).status_code == 400
    assert client.get("/ogc/collections/parcels/tiles/Other/0/0/0", headers=h).status_code == 404
    assert client.get("/ogc/collections/projects/tiles", headers=h).status_code == 404
    sets = client.get("/ogc/collections/parcels/tiles", headers=h).json()["tilesets"]
    assert sets[0]["dataType"] == "vector" and any(link["rel"] == "item" for link in sets[0]["links"])
    tms = client.get("/ogc/tileMatrixSets/WebMercatorQuad", headers=h).json()
    assert tms["crs"].endswith("3857") and tms["tileMatrices"][0]["matrixWidth"] == 1
    assert client.get("/ogc/collections/parcels/tiles/WebMercatorQuad", headers=h).json()["layers"][0]["id"] == "parcels"


def test_district_scope_limits_tiles(ymt, client, world) -> None:
    view = View.of(ymt, Actor("区县用户", "viewer", divisions=frozenset({"430703"})))
    z = 12
    x, y = _tile_xy(*WULING, z)
    with ymt.db.read() as session:
        body = tiles.parcel_tile(session, view, z, x, y, 13)
        everyone = tiles.parcel_tile(session, View.of(ymt, Actor("全市", "viewer")), z, x, y, 13)
    assert _decode(everyone) and not _decode(body)


# --- warnings and control layers ----------------------------------------------------------------------------------
def test_warnings_and_control_layers_collections(client, world) -> None:
    h = world["h"]["registrar"]
    w = items(client, h, "warnings")
    assert w["type"] == "FeatureCollection"
    for f in w["features"]:
        assert f["geometry"]["type"] == "Point"
    assert client.get("/ogc/collections/warnings/items", params={"filter": "level = 'x'"}, headers=h).status_code == 400
    assert items(client, h, "warnings", filter="level >= 0")["numberMatched"] == w["numberMatched"]
    assert items(client, h, "control_layers")["numberMatched"] == 0


def test_control_layer_tiles_carry_the_kind_the_map_filters_by(ymt, client, world) -> None:
    """The map draws 永久基本农田 / 生态保护红线 / 城镇开发边界 from one tile layer by `kind`: a tile without it
    would draw none of them."""
    h = world["h"]["viewer"]
    farmland = {"type": "FeatureCollection", "features": [square(WULING, 0.002, name="基本农田一号")]}
    parcel_files.import_control_layer(ymt, Actor("gis", "admin"), json.dumps(farmland).encode(), "农田.geojson",
                                      "basic_farmland")
    x, y = _tile_xy(*WULING, 14)
    r = client.get(f"/ogc/collections/control_layers/tiles/WebMercatorQuad/14/{y}/{x}", headers=h)
    assert r.status_code == 200, r.text
    layer = mapbox_vector_tile.decode(r.content)["control_layers"]["features"]
    assert [(f["properties"]["kind"], f["properties"]["name"]) for f in layer] == [("basic_farmland", "基本农田一号")]
