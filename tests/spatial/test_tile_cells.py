"""The map's dot cells and parcel marks (parcels/cells.py): tiles drawn from what is kept from the ledger must be
the tiles drawn from the parcels themselves — for every reader (roles, districts, the public), at every zoom, in
both tile matrix sets — and an update from new events must leave the store as a build from scratch
would. The reference is `parcel_tile(stored=False)`: the tile query over the parcels with the full visibility
rules, itself checked against the world's own oracle in test_tiles.py."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from sqlalchemy import delete, func, insert, select

from api.helpers import add_result, put_stage, register
from spatial.spatial_helpers import DINGCHENG, WULING, square
from spatial.test_tiles import world  # noqa: F401 - the fixture: seven parcels, two districts, one restricted
from yimatong.core.context import Actor
from yimatong.core.visibility import View
from yimatong.domain import tilegrid
from yimatong.parcels import cells, tiles
from yimatong.storage.models import Parcel, Project, ProjectParcel, TileCell, TileCellState, TileMark
from yimatong.uow import run as uow_run

POLYGON_ZOOM = 13
# every kind of tile: world and city dots (one tile holds every parcel), district dots (the parcels in several
# tiles), the last dot zoom, polygons through the marks, polygons by the full rules
ZOOMS = (0, 5, 8, 10, 12, 13, 14, 16)
READERS = [None, Actor("t", "viewer"), Actor("t", "viewer", divisions=frozenset({"430702"})),
           Actor("t", "viewer", divisions=frozenset({"430703"})), Actor("t", "approval_system"),
           Actor("t", "registrar"), Actor("t", "admin")]


def _tile_of(lon: float, lat: float, z: int, tms: str) -> tuple[int, int]:
    if tms == tilegrid.GEOGRAPHIC:
        size = 180 / 2**z
        return int((lon + 180) // size), int((90 - lat) // size)
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _decoded(body: bytes) -> list[tuple[object, ...]]:
    if not body:
        return []
    feats = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})["parcels"]["features"]
    return sorted((tuple(f["geometry"]["coordinates"]), f["id"], tuple(sorted(f["properties"].items())))
                  for f in feats)


def _centres(ymt) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    with ymt.db.read() as session:
        rows = session.execute(select(Parcel.minx, Parcel.miny, Parcel.maxx, Parcel.maxy)).all()
    return [((a + c) / 2, (b + d) / 2) for a, b, c, d in rows]


def _compare_every_tile(ymt) -> int:  # type: ignore[no-untyped-def]
    """Stored against computed, every reader, both matrix sets, zooms from the world to the street (dots from the cells up to
    12, polygons through the marks at 13-14, by the full rules beyond); the number of parcels seen."""
    tiles.prepare(ymt, 5, POLYGON_ZOOM)
    seen = 0
    with ymt.db.read() as session:
        assert cells.is_current(session)
        assert session.execute(select(func.count()).select_from(TileCell)).scalar()
        for actor in READERS:
            view = View(ymt.profile.policy, actor)
            for tms in (tilegrid.MERCATOR, tilegrid.GEOGRAPHIC):
                for z in ZOOMS:
                    for x, y in sorted({_tile_of(lon, lat, z, tms) for lon, lat in _centres(ymt)}):
                        got = _decoded(tiles.parcel_tile(session, view, z, x, y, POLYGON_ZOOM, tms))
                        want = _decoded(tiles.parcel_tile(session, view, z, x, y, POLYGON_ZOOM, tms, stored=False))
                        assert got == want, (actor, tms, z, x, y)
                        seen += sum(dict(p).get("n", 1) for *_, p in got)
    return seen


def _store(ymt) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    with ymt.db.read() as session:
        marks = [tuple(r) for r in session.execute(select(TileMark.__table__).order_by(TileMark.parcel_id))]
        kept = [tuple(r) for r in session.execute(select(TileCell.__table__).order_by(*TileCell.__table__.primary_key))]
    return marks, kept


def _rebuild(ymt) -> None:  # type: ignore[no-untyped-def]
    with ymt.db.write() as session:
        session.execute(delete(TileCellState))
    uow_run(ymt, cells.SYSTEM, cells.update)


def test_stored_dots_are_the_computed_dots_for_every_reader(ymt, world) -> None:  # noqa: F811
    assert _compare_every_tile(ymt) > 0


def test_parcels_of_several_districts_or_confidentialities_are_read_beside_the_cells(ymt, world) -> None:  # noqa: F811
    """A parcel linked to projects of two districts, or by a restricted and an open result, is not counted in
    the cells (a reader may see one link and not the other, and the dot's stage depends on which); it is read
    with the full rules and added to the same dots."""
    parcels = world["parcels"]
    restricted = next(pid for pid, p in parcels.items() if p["restricted"])
    in_702 = next(pid for pid, p in parcels.items() if p["division"] == "430702" and not p["restricted"])
    with ymt.db.write() as session:
        link = session.execute(select(ProjectParcel).where(ProjectParcel.parcel_id == in_702)).scalar_one()
        other = session.execute(select(Project.id).where(Project.division == "430703")
                                .where(Project.id.in_(select(ProjectParcel.project_id)))).scalars().first()
        secret = session.execute(select(ProjectParcel).where(ProjectParcel.parcel_id == restricted)).scalar_one()
        rows = [{"project_id": other, "parcel_id": in_702, "result_id": None, "attached_at": link.attached_at,
                 "attached_by": "test"},
                {"project_id": link.project_id, "parcel_id": restricted, "result_id": None,
                 "attached_at": secret.attached_at, "attached_by": "test"}]
        assert other is not None and link.project_id != secret.project_id
        session.execute(insert(ProjectParcel), rows)
    _rebuild(ymt)
    with ymt.db.read() as session:
        mixed = set(session.execute(cells.mixed_parcels()).scalars())
    assert {restricted, in_702} <= mixed
    assert _compare_every_tile(ymt) > 0


def test_an_update_from_new_events_leaves_what_a_build_from_scratch_would(client, ymt, world) -> None:  # noqa: F811
    h = world["h"]
    tiles.prepare(ymt, 5, POLYGON_ZOOM)  # built once from the data
    built = _store(ymt)
    code = register(client, h["registrar"], name="新瓦片项目", division="430703")["code"]
    r = client.post(f"/api/v1/projects/{code}/parcels", json=square((DINGCHENG[0] + 0.03, DINGCHENG[1])),
                    headers=h["registrar"])
    assert r.status_code in (200, 201), r.text
    assert put_stage(client, h["registrar"], code, "land_approval").status_code == 200  # the dot's stage moves
    secret = register(client, h["registrar"], name="受限新项目", division="430702")["code"]
    r = add_result(client, h["approval_system"], secret, {"stage": "pre_review", "kind": "踏勘记录",
                                                          "confidentiality": "restricted",
                                                          "parcels": [square((WULING[0] - 0.02, WULING[1]))]})
    assert r.status_code == 201, r.text
    codes = [c for c in (register(client, h["registrar"], name=f"合并{i}", division="430702")["code"] for i in range(2))]
    r = client.post(f"/api/v1/projects/{codes[0]}/parcels", json=square((WULING[0], WULING[1] - 0.02)),
                    headers=h["registrar"])
    assert r.status_code in (200, 201), r.text
    r = client.post(f"/api/v1/projects/{codes[0]}/merge", json={"into": codes[1], "reason": "重复"},
                    headers=h["registrar"])
    assert r.status_code == 200, r.text
    seen = _compare_every_tile(ymt)  # brought up to date from the events
    updated = _store(ymt)
    assert updated != built
    _rebuild(ymt)
    assert _store(ymt) == updated
    assert _compare_every_tile(ymt) == seen


@pytest.mark.parametrize("tms", [tilegrid.MERCATOR, tilegrid.GEOGRAPHIC])
def test_tiles_over_http_come_from_the_cells_and_follow_a_change(client, ymt, world, tms) -> None:  # noqa: F811
    """The route brings the cells up to date before reading: a new parcel is in the next city tile."""
    h = world["h"]["viewer"]
    base = "/ogc/collections/parcels/tiles"
    x, y = _tile_of(*WULING, 8, tms)
    first = client.get(f"{base}/{tms}/8/{y}/{x}", headers=h)
    assert first.status_code == 200
    with ymt.db.read() as session:
        assert cells.is_current(session)
    before = sum(dict(p)["n"] for *_, p in _decoded(first.content))
    code = register(client, world["h"]["registrar"], name="城区新项目", division="430702")["code"]
    r = client.post(f"/api/v1/projects/{code}/parcels", json=square((WULING[0] + 0.05, WULING[1] + 0.01)),
                    headers=world["h"]["registrar"])
    assert r.status_code in (200, 201), r.text
    again = client.get(f"{base}/{tms}/8/{y}/{x}", headers={**h, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 200 and again.headers["etag"] != first.headers["etag"]
    assert sum(dict(p)["n"] for *_, p in _decoded(again.content)) == before + 1
    with ymt.db.read() as session:
        assert cells.is_current(session)
