"""Vector tiles: our tile (built through the View, as a reader gets it) against a bare tile query on the same
database for the same tile — PostGIS: `ST_AsMVT(ST_AsMVTGeom(...))` over the parcels in the tile, no visibility, no
attributes; SQLite: the same rows from the R*Tree encoded with mapbox-vector-tile — at a city-wide, a district and a
street zoom. Aim: ≥ 0.5 of bare throughput, p99 < 100 ms at street zoom on PostGIS.

    .venv/bin/python bench/bench_tiles.py [--quick] [--pg URL] [--n N]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from sqlalchemy import literal_column, select, text

sys.path.insert(0, str(Path(__file__).parent))
from bench_spatial import load, make_parcels  # noqa: E402
from common import fresh_app, latencies, pg_database  # noqa: E402

from yimatong.core.context import Actor  # noqa: E402
from yimatong.core.visibility import View  # noqa: E402
from yimatong.parcels import tiles  # noqa: E402
from yimatong.storage.dialect import TileSpec, dialect_of  # noqa: E402

CENTRE = (111.69, 29.04)
ZOOMS = {"city": 9, "district": 12, "street": 16}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def bare(session, z: int, x: int, y: int) -> bytes:  # type: ignore[no-untyped-def]
    d = dialect_of(session)
    spec = TileSpec(z, x, y, "parcels")
    if d.name == "postgresql":
        sql = text("SELECT ST_AsMVT(t, 'parcels', 4096, 'geom', 'id') FROM (SELECT id, ST_AsMVTGeom(ST_Transform("
                   "geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom FROM parcels WHERE geom && "
                   "ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)) t")
        return bytes(session.execute(sql, {"z": z, "x": x, "y": y}).scalar() or b"")
    return d.mvt(session, select(literal_column("parcels.id").label("id")).select_from(text("parcels")), spec)


def run(url: str, n: int, reps: int, label: str) -> list[str]:
    app = fresh_app(url, Path(tempfile.mkdtemp()))
    load(app, make_parcels(n))
    view = View.of(app, Actor("bench", "viewer"))
    lines = []
    for name, z in ZOOMS.items():
        x, y = tile_of(*CENTRE, z)
        with app.db.read() as session:
            ours_bytes = len(tiles.parcel_tile(session, view, z, x, y, app.settings.tile_polygon_zoom))
            bare_bytes = len(bare(session, z, x, y))
            ours = latencies(lambda: tiles.parcel_tile(session, view, z, x, y, app.settings.tile_polygon_zoom), reps)
            base = latencies(lambda: bare(session, z, x, y), reps)
        lines.append(f"| {label} | {n:,} | {name} z{z} | {ours['p50']:.1f} / {ours['p99']:.1f} ms ({ours_bytes:,} B) | "
                     f"{base['p50']:.1f} / {base['p99']:.1f} ms ({bare_bytes:,} B) | {ours['rps'] / base['rps']:.2f} |")
    app.close()
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg")
    ap.add_argument("--n", type=int)
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 1_000_000)
    reps = 10 if args.quick else 50
    print("| database | parcels | tile | ours p50 / p99 (size) | bare p50 / p99 (size) | throughput ratio |")
    print("|---|---|---|---|---|---|")
    for line in run(f"sqlite:///{tempfile.mkdtemp()}/tiles.sqlite3", n, reps, "SQLite"):
        print(line)
    if args.pg:
        for line in run(pg_database(args.pg, "ymt_bench_tiles"), n, reps, "PostGIS"):
            print(line)


if __name__ == "__main__":
    main()
