"""Vector tiles served from statements built once per reader's visibility and tile shape (parcels/tiles.py), and
the geographic CGCS2000Quad tile matrix set (EPSG:4490, WorldCRS84Quad's layout).

The oracle is the world as built here (which project — so which district and which result — each parcel belongs
to), not the OGC features: a tile is decoded and compared with the parcels it must hold and must not hold.
"""

from __future__ import annotations

import json
import math
import uuid

import mapbox_vector_tile
import pytest
from shapely.geometry import Point, box, shape
from sqlalchemy import select

from api.helpers import add_result, register
from spatial.spatial_helpers import DINGCHENG, WULING, square
from yimatong.accounts import tokens
from yimatong.storage.dialect import TileSpec
from yimatong.storage.models import Event

SECRET = (111.6925, 29.0405)  # beside the first 武陵区 parcel: in its street and district tiles
GEO = "CGCS2000Quad"
MERC = "WebMercatorQuad"


def _token(ymt, role: str, divisions: tuple[str, ...] = ()) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with ymt.db.write() as session:
        secret = tokens.create(session, f"{role}-{uuid.uuid4().hex[:6]}", role, divisions=divisions)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def world(client, ymt):  # type: ignore[no-untyped-def]
    """Three parcels in 武陵区 (430702), three in 鼎城区 (430703), one restricted in 武陵区; parcel id → what it is."""
    h = {"registrar": _token(ymt, "registrar"), "approval_system": _token(ymt, "approval_system"),
         "viewer": _token(ymt, "viewer"), "viewer_702": _token(ymt, "viewer", ("430702",)),
         "viewer_703": _token(ymt, "viewer", ("430703",))}
    placed: dict[str, tuple[str, tuple[float, float]]] = {}
    for i in range(6):
        division, (x, y) = ("430702", WULING) if i % 2 == 0 else ("430703", DINGCHENG)
        code = register(client, h["registrar"], name=f"瓦片项目{i}", division=division)["code"]
        centre = (x + i * 0.004, y)
        r = client.post(f"/api/v1/projects/{code}/parcels", json=square(centre), headers=h["registrar"])
        assert r.status_code in (200, 201), r.text
        placed[code] = (division, centre)
    secret = register(client, h["registrar"], name="受限瓦片项目", division="430702")["code"]
    r = add_result(client, h["approval_system"], secret, {"stage": "pre_review", "kind": "踏勘记录",
                                                          "confidentiality": "restricted",
                                                          "parcels": [square(SECRET, name="秘密地块")]})
    assert r.status_code == 201, r.text
    placed[secret] = ("430702", SECRET)
    parcels = {}
    with ymt.db.read() as session:
        for code, data in session.execute(select(Event.code, Event.data).where(Event.type == "parcel.attached")):
            division, centre = placed[code]
            parcels[json.loads(data)["parcel_id"]] = {"division": division, "centre": centre,
                                                      "restricted": code == secret}
    assert len(parcels) == 7
    return {"h": h, "parcels": parcels}


def _expected(world, who: str, tile_box, points: bool = False) -> set[int]:  # type: ignore[no-untyped-def]
    """The parcels `who` must find in a tile (`tile_box`: the tile with its buffer): polygons whose square meets
    it, or at point zoom whose centre is in it; in the caller's districts; not restricted unless they are the
    approval system that submitted it or a privileged role (registrar)."""
    divisions = {"viewer_702": {"430702"}, "viewer_703": {"430703"}}.get(who)
    out = set()
    for pid, p in world["parcels"].items():
        x, y = p["centre"]
        meets = tile_box.contains(Point(x, y)) if points else box(x - 0.001, y - 0.001, x + 0.001, y + 0.001).intersects(tile_box)
        if not meets:
            continue
        if divisions is not None and p["division"] not in divisions:
            continue
        if p["restricted"] and who not in ("approval_system", "registrar"):
            continue
        out.add(pid)
    return out


def _merc_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


BUFFER = 64 / 4096  # the tiles' buffer (TileSpec.buffer / extent)
CELL = TileSpec(0, 0, 0, "parcels").cell / 4096  # a point tile's grid cell, as a share of the tile


def _merc_box(z: int, x: int, y: int, pad: float = BUFFER):  # type: ignore[no-untyped-def]
    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / 2**z))))
    return box((x - pad) / 2**z * 360 - 180, lat(y + 1 + pad), (x + 1 + pad) / 2**z * 360 - 180, lat(y - pad))


def _geo_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    size = 180 / 2**z
    return int((lon + 180) // size), int((90 - lat) // size)


def _geo_box(z: int, x: int, y: int, pad: float = BUFFER):  # type: ignore[no-untyped-def]
    size = 180 / 2**z
    return box(-180 + (x - pad) * size, 90 - (y + 1 + pad) * size, -180 + (x + 1 + pad) * size, 90 - (y - pad) * size)


def _features(r) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    assert r.status_code in (200, 204), r.text
    if r.status_code == 204:
        return []
    decoded = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})
    return decoded.get("parcels", {}).get("features", [])


def _tile(client, h, tms: str, z: int, x: int, y: int):  # type: ignore[no-untyped-def]
    return client.get(f"/ogc/collections/parcels/tiles/{tms}/{z}/{y}/{x}", headers=h)


CALLERS = ["viewer_702", "viewer_703", "viewer", "approval_system", "viewer_702", "registrar", "viewer_703"]


@pytest.mark.parametrize("tms", [MERC, GEO])
def test_cached_statements_never_serve_one_callers_scope_to_another(client, world, tms) -> None:
    """Tokens of different districts and roles asking in turn for the same tiles (their statements built once
    and reused) each get exactly their own parcels, at polygon and at point zoom."""
    tile_of, box_of = (_merc_tile, _merc_box) if tms == MERC else (_geo_tile, _geo_box)
    h = world["h"]
    for z in (16, 13, 10, 9):
        tiles_to_ask = {tile_of(*p["centre"], z) for p in world["parcels"].values()}
        for _ in range(2):  # a second round: every statement now comes from the cache
            for who in CALLERS:
                for x, y in sorted(tiles_to_ask):
                    feats = _features(_tile(client, h[who], tms, z, x, y))
                    if z >= 13:
                        want = _expected(world, who, box_of(z, x, y))  # polygons: one feature per parcel, the parcel's id
                        assert {f["id"] for f in feats} == want, (who, z, x, y)
                    else:  # points per grid cell: every visible parcel counted once, nothing else
                        want = _expected(world, who, box_of(z, x, y, CELL), points=True)
                        assert sum(f["properties"]["n"] for f in feats) == len(want), (who, z, x, y)
                        assert {f["id"] for f in feats} <= want, (who, z, x, y)


def test_a_scoped_callers_etag_moves_only_with_what_they_may_see(client, world) -> None:
    """The ETag state is recomputed only when the ledger head moves: a change in another district moves the
    head but not a district user's tile, nor their ETag; a change in their own district moves both."""
    h = world["h"]
    x, y = _merc_tile(*DINGCHENG, 12)
    first = _tile(client, h["viewer_703"], MERC, 12, x, y)
    etag = first.headers["etag"]
    assert _tile(client, h["viewer_703"], MERC, 12, x, y).headers["etag"] == etag
    elsewhere = register(client, h["registrar"], name="武陵新项目", division="430702")["code"]
    r = client.post(f"/api/v1/projects/{elsewhere}/parcels", json=square((WULING[0], WULING[1] + 0.01)),
                    headers=h["registrar"])
    assert r.status_code in (200, 201), r.text
    again = _tile(client, h["viewer_703"], MERC, 12, x, y)
    assert again.headers["etag"] == etag and again.content == first.content
    own = register(client, h["registrar"], name="鼎城新项目", division="430703")["code"]
    r = client.post(f"/api/v1/projects/{own}/parcels", json=square((DINGCHENG[0] + 0.002, DINGCHENG[1] + 0.003)),
                    headers=h["registrar"])
    assert r.status_code in (200, 201), r.text
    moved = _tile(client, h["viewer_703"], MERC, 12, x, y)
    assert moved.headers["etag"] != etag
    assert sum(f["properties"]["n"] for f in _features(moved)) == sum(f["properties"]["n"] for f in _features(first)) + 1


def test_cgcs2000_quad_is_listed_and_described_in_lat_lon_order(client, world) -> None:
    h = world["h"]["viewer"]
    listed = client.get("/ogc/tileMatrixSets", headers=h).json()["tileMatrixSets"]
    assert {t["id"] for t in listed} == {MERC, GEO}
    tms = client.get(f"/ogc/tileMatrixSets/{GEO}", headers=h).json()
    assert tms["crs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
    assert tms["orderedAxes"] == ["Lat", "Lon"]  # EPSG:4490's axis order (TMS 2.0 /req/tilematrixset/orderedAxes)
    level0, level3 = tms["tileMatrices"][0], tms["tileMatrices"][3]
    assert level0["pointOfOrigin"] == [90.0, -180.0] and level0["cornerOfOrigin"] == "topLeft"
    assert (level0["matrixWidth"], level0["matrixHeight"]) == (2, 1)  # as WorldCRS84Quad (17-083r4 Annex D.2)
    assert (level3["matrixWidth"], level3["matrixHeight"]) == (16, 8)
    assert level0["cellSize"] * level0["tileWidth"] == 180
    sets = client.get("/ogc/collections/parcels/tiles", headers=h).json()["tilesets"]
    geo = next(s for s in sets if s["crs"].endswith("/4490"))
    item = next(link["href"] for link in geo["links"] if link["rel"] == "item")
    assert item.endswith(f"/collections/parcels/tiles/{GEO}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}")
    assert client.get(f"/ogc/collections/parcels/tiles/{GEO}", headers=h).json()["layers"][0]["id"] == "parcels"
    api = client.get("/ogc/api", headers=h).json()["paths"]
    assert f"/collections/parcels/tiles/{GEO}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}" in api
    # level 0: Changde is in the eastern tile (column 1); the western one is empty; column 2 is outside
    level0_tile = _features(_tile(client, h, GEO, 0, 1, 0))
    assert sum(f["properties"]["n"] for f in level0_tile) == len(_expected(world, "viewer", _geo_box(0, 1, 0), True))
    assert _tile(client, h, GEO, 0, 0, 0).status_code == 204
    assert _tile(client, h, GEO, 0, 2, 0).status_code == 404
    assert _tile(client, h, GEO, 3, 15, 7).status_code in (200, 204)  # 16 columns at level 3
    assert _tile(client, h, MERC, 3, 15, 7).status_code == 404  # 8 in WebMercatorQuad


@pytest.mark.parametrize("who", ["viewer", "approval_system", "viewer_703"])
def test_cgcs2000_tiles_place_each_parcel_where_it_is(client, world, who) -> None:
    """Decoded CGCS2000Quad polygons, brought back from tile units to longitude/latitude, are the parcels' own
    squares (to the tile grid's precision), and only the parcels the caller may see."""
    z = 15
    seen = 0
    for x, y in sorted({_geo_tile(*p["centre"], z) for p in world["parcels"].values()}):
        tile_box = _geo_box(z, x, y)
        feats = _features(_tile(client, world["h"][who], GEO, z, x, y))
        assert {f["id"] for f in feats} == _expected(world, who, tile_box)
        minx, _, maxx, maxy = _geo_box(z, x, y, 0).bounds
        unit = (maxx - minx) / 4096
        for f in feats:
            ring = [(minx + px * unit, maxy - py * unit) for px, py in f["geometry"]["coordinates"][0]]
            cx, cy = world["parcels"][f["id"]]["centre"]
            exact = box(cx - 0.001, cy - 0.001, cx + 0.001, cy + 0.001).intersection(tile_box)
            got = shape({"type": "Polygon", "coordinates": [ring]})
            assert got.symmetric_difference(exact).area < exact.length * unit * 2, f["id"]
            seen += 1
    assert seen >= 3
