"""The dialect layer's contract, run against whichever database the suite runs on (SQLite and PostgreSQL in
the test command): both implementations must give the same answers."""

from __future__ import annotations

import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import wkb
from shapely.geometry import Polygon, box
from sqlalchemy import delete, insert, select

from yimatong.core.context import App, now
from yimatong.storage.dialect import dialect_for
from yimatong.storage.models import ControlLayerFeature, Counter, Parcel


def _parcel(session, geom) -> int:  # type: ignore[no-untyped-def]
    minx, miny, maxx, maxy = geom.bounds
    pid = session.execute(insert(Parcel).returning(Parcel.id), [{
        "geom_wkb": wkb.dumps(geom), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "area_m2": 1.0,
        "properties": {}, "created_by": "t", "created_at": now()}]).scalar_one()
    dialect_for(session.get_bind().dialect.name).index_geometry(session, "parcels", pid, wkb.dumps(geom),
                                                                geom.bounds)
    return int(pid)


# An L-shaped parcel: its bounding box covers the corner, the geometry does not (only an exact test knows).
L_SHAPE = Polygon([(111.0, 29.0), (111.02, 29.0), (111.02, 29.005), (111.005, 29.005), (111.005, 29.02),
                   (111.0, 29.02)])
CORNER = (111.012, 29.012, 111.018, 29.018)


def test_exact_bbox_answers_and_candidates(ymt: App) -> None:
    d = ymt.db.sql
    with ymt.db.write() as s:
        lid = _parcel(s, L_SHAPE)
        far = _parcel(s, box(112.0, 29.5, 112.01, 29.51))
    with ymt.db.read() as s:
        assert d.parcel_ids_in_bbox(s, CORNER) == []              # the box covers it, the shape does not
        assert d.parcel_ids_in_bbox(s, (110.99, 28.99, 111.001, 29.001)) == [lid]
        candidates = {r[0] for r in s.execute(d.parcel_candidates(CORNER))}
        assert far not in candidates and candidates <= {lid}       # an index answer, maybe inexact
        in_box = d.parcels_in_bbox(s, CORNER)
        assert s.execute(select(Parcel.id).where(Parcel.id.in_(in_box))).all() == []


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.floats(111.0, 111.1), st.floats(29.0, 29.1), st.floats(0.0005, 0.01),
                          st.floats(0.0005, 0.01)), min_size=1, max_size=8),
       st.tuples(st.floats(111.0, 111.1), st.floats(29.0, 29.1), st.floats(0.001, 0.05), st.floats(0.001, 0.05)))
def test_bbox_query_matches_shapely(ymt: App, rects, query) -> None:  # type: ignore[no-untyped-def]
    with ymt.db.write() as s:
        ymt.db.sql.unindex(s, "parcels", select(Parcel.id))
        s.execute(delete(Parcel))
        ids = {_parcel(s, box(x, y, x + w, y + h)): box(x, y, x + w, y + h) for x, y, w, h in rects}
    x, y, w, h = query
    q = (x, y, x + w, y + h)
    with ymt.db.read() as s:
        got = set(ymt.db.sql.parcel_ids_in_bbox(s, q))
    assert got == {pid for pid, g in ids.items() if g.intersects(box(*q))}


def test_control_features_filter_and_unindex(ymt: App) -> None:
    d = ymt.db.sql
    with ymt.db.write() as s:
        fid = s.execute(insert(ControlLayerFeature).returning(ControlLayerFeature.id), [{
            "kind": "basic_farmland", "name": "农田", "geom_wkb": wkb.dumps(L_SHAPE), "minx": 111.0, "miny": 29.0,
            "maxx": 111.02, "maxy": 29.02, "properties": {}, "imported_at": now()}]).scalar_one()
        d.index_geometry(s, "control_features", fid, wkb.dumps(L_SHAPE), L_SHAPE.bounds)
    with ymt.db.read() as s:
        near = s.execute(select(ControlLayerFeature.id).where(d.control_feature_filter((111.001, 29.001, 111.002,
                                                                                         29.002)))).scalars().all()
        assert near == [fid]
        away = s.execute(select(ControlLayerFeature.id).where(d.control_feature_filter((113.0, 30.0, 113.1, 30.1)))
                         ).scalars().all()
        assert away == []
    with ymt.db.write() as s:
        d.unindex(s, "control_features", select(ControlLayerFeature.id))
        s.execute(delete(ControlLayerFeature))
    with ymt.db.read() as s:
        assert s.execute(select(ControlLayerFeature.id).where(d.control_feature_filter(L_SHAPE.bounds))).all() == []


def test_claims_never_hand_the_same_row_to_two_workers(ymt: App) -> None:
    """On PostgreSQL two concurrent claims skip each other's rows; on SQLite the single writer makes them one
    after the other. Either way no counter row is claimed twice."""
    with ymt.db.write() as s:
        s.execute(insert(Counter), [{"scope": f"claim-{i}", "value": 0} for i in range(40)])
    claimed: list[list[str]] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        with ymt.db.write(exclusive=False) as s:
            stmt = select(Counter).where(Counter.scope.like("claim-%"), Counter.value == 0).order_by(Counter.scope)
            rows = list(s.execute(ymt.db.sql.for_claim(stmt.limit(25), of=Counter)).scalars())
            for r in rows:
                r.value = 1
            claimed.append([r.scope for r in rows])
            barrier.wait(timeout=10) if ymt.db.dialect == "postgresql" else None

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [c for batch in claimed for c in batch]
    assert len(flat) == len(set(flat)) == 40


def test_a_second_writer_waits_for_the_first(ymt: App) -> None:
    """The writers' lock is released at commit; a second writer waits for it."""
    order: list[str] = []
    with ymt.db.write() as s:
        ymt.db.sql.lock_for_writers(s, 4242, 5000)
        s.execute(insert(Counter), [{"scope": "lock-test", "value": 1}])  # SQLite: the write lock is taken here
        t = threading.Thread(target=lambda: _locked(ymt, order))
        t.start()
        t.join(0.5)  # the second writer is waiting, not done
        order.append("first")
    t.join()
    assert order == ["first", "second"]


def _locked(ymt: App, order: list[str]) -> None:
    with ymt.db.write() as s:
        ymt.db.sql.lock_for_writers(s, 4242, 5000)
        s.execute(insert(Counter), [{"scope": "lock-test-2", "value": 1}])
        order.append("second")
