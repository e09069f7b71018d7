"""Project-box lookups (by point) and bbox queries at scale on SQLite (R*Tree + Shapely) and PostGIS (GiST),
as ratios against a bare Shapely STRtree query over the same geometries in memory in the same run.

    .venv/bin/python bench/bench_spatial.py [--quick] [--pg URL]    (full: 1 000 000 parcels)
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

from shapely import STRtree, wkb
from shapely.geometry import Point, box
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_app, pg_database  # noqa: E402

from yimatong.core.context import Actor  # noqa: E402
from yimatong.onecode import box as project_box  # noqa: E402
from yimatong.parcels import store as parcels  # noqa: E402

EXTENT = (110.6, 28.4, 112.2, 30.1)  # Changde


def make_parcels(n: int, seed: int = 7) -> list:  # type: ignore[type-arg]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x, y = rng.uniform(EXTENT[0], EXTENT[2]), rng.uniform(EXTENT[1], EXTENT[3])
        w, h = rng.uniform(0.0005, 0.003), rng.uniform(0.0005, 0.003)
        out.append(box(x, y, x + w, y + h))
    return out


def load(app, geoms: list) -> None:  # type: ignore[no-untyped-def,type-arg]
    now = dt.datetime.now(dt.UTC)
    pg = app.db.dialect == "postgresql"
    with app.db.engine.begin() as c:
        c.execute(text("INSERT INTO projects (id, code, name, name_norm, status, division, year, approval_type, "
                       "project_type, supply_type, land_use, current_stage, code_outdated, extra, created_at, "
                       "updated_at, created_by, updated_by) VALUES (1, 'CD43070220260102230701000001', '基准', '基准', "
                       "'active', '430702', 2026, '01', '02', '23', '0701', 'intake', false, '{}', :t, :t, 'b', 'b')"),
                  {"t": now})
        for start in range(0, len(geoms), 20_000):
            chunk = geoms[start:start + 20_000]
            rows = [{"id": start + i + 1, "w": wkb.dumps(g), "a": g.bounds[0], "b": g.bounds[1], "c": g.bounds[2],
                     "d": g.bounds[3], "t": now} for i, g in enumerate(chunk)]
            c.execute(text("INSERT INTO parcels (id, geom_wkb, minx, miny, maxx, maxy, area_m2, properties, created_by, "
                           "created_at) VALUES (:id, :w, :a, :b, :c, :d, 1000, '{}', 'b', :t)"), rows)
            c.execute(text("INSERT INTO project_parcels (project_id, parcel_id, attached_at, attached_by) "
                           "VALUES (1, :id, :t, 'b')"), rows)
            if pg:
                c.execute(text("UPDATE parcels SET geom = ST_GeomFromWKB(geom_wkb, 4490) WHERE id > :lo AND id <= :hi"),
                          {"lo": start, "hi": start + len(chunk)})
            else:
                c.execute(text("INSERT INTO parcels_rtree (id, minx, maxx, miny, maxy) VALUES (:id, :a, :c, :b, :d)"), rows)
    if pg:  # as autovacuum would have: visibility map for index-only scans, fresh statistics
        with app.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE parcels"))
            c.execute(text("VACUUM ANALYZE project_parcels"))


def timed(fn, items) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for it in items:
        fn(it)
    return (time.perf_counter() - start) / len(items) * 1e6  # µs per query


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default=None)
    args = ap.parse_args()
    n = 100_000 if args.quick else 1_000_000
    q = 300 if args.quick else 1000
    geoms = make_parcels(n)
    rng = random.Random(3)
    # points on parcels (box hits) and small map-view bboxes (~1 km)
    points = [(g.centroid.x, g.centroid.y) for g in rng.sample(geoms, q)]
    views = []
    for _ in range(q):
        x, y = rng.uniform(EXTENT[0], EXTENT[2]), rng.uniform(EXTENT[1], EXTENT[3])
        views.append((x, y, x + 0.01, y + 0.01))
    t0 = time.perf_counter()
    tree = STRtree(geoms)
    build = time.perf_counter() - t0
    base_point = timed(lambda p: tree.query(Point(p), predicate="intersects"), points)
    base_bbox = timed(lambda b: tree.query(box(*b), predicate="intersects"), views)
    print(f"{n} parcels; STRtree built in {build:.1f}s; {q} queries each")
    print(f"{'backend':<22}{'point µs':>10}{'ratio':>8}{'bbox µs':>10}{'ratio':>8}{'box µs':>10}")
    print(f"{'Shapely STRtree (mem)':<22}{base_point:>10.0f}{1:>8.1f}{base_bbox:>10.0f}{1:>8.1f}{'—':>10}")
    targets = [("SQLite R*Tree", None)] + ([("PostGIS GiST", args.pg)] if args.pg else [])
    actor = Actor("bench", "viewer")
    with tempfile.TemporaryDirectory() as tmp:
        for label, pg in targets:
            url = pg_database(pg, "ymt_bench_spatial") if pg else f"sqlite:///{tmp}/spatial.sqlite3"
            app = fresh_app(url, Path(tmp) / label.split()[0])
            t0 = time.perf_counter()
            load(app, geoms)
            loaded = time.perf_counter() - t0
            with app.db.read() as s:
                pt = timed(lambda p, s=s: parcels.parcels_at_point(s, *p), points)
                bb = timed(lambda b, s=s: parcels.parcel_ids_in_bbox(s, b), views)
                bx = timed(lambda p, s=s: project_box.box_at_point(s, app, actor, *p), points[:50])
            print(f"{label:<22}{pt:>10.0f}{pt / base_point:>8.1f}{bb:>10.0f}{bb / base_bbox:>8.1f}{bx:>10.0f}"
                  f"   (loaded in {loaded:.0f}s)")
            app.close()


if __name__ == "__main__":
    main()
