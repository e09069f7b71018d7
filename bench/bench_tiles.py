"""Vector tiles: our tile (built through the View, as a reader gets it) against a bare tile query on the same
database for the same tile — PostGIS: `ST_AsMVT(ST_AsMVTGeom(...))` over the parcels in the tile, no visibility, no
attributes; SQLite: the same rows from the R*Tree encoded with mapbox-vector-tile — at a city-wide, a district and a
street zoom. Aim: ≥ 0.5 of bare throughput, p99 < 100 ms at street zoom on PostGIS.

    .venv/bin/python bench/bench_tiles.py [--quick] [--pg URL] [--n N] [--keep NAME]

`--keep NAME` keeps the loaded databases (SQLite /var/tmp/NAME.sqlite3, PostgreSQL database NAME on --pg's server)
and reuses them on the next run when they hold N parcels: loading a million parcels takes minutes.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, literal_column, select, text

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
    if _BARE.get(d.name) is None:  # one fixed statement, as the bare SQL on PostGIS is one fixed text
        _BARE[d.name] = d.tile_statement(select(literal_column("parcels.id").label("id")).select_from(text("parcels")),
                                         spec)
    return d.mvt(session, _BARE[d.name], spec)


_BARE: dict[str, Any] = {}


def loaded(url: str, n: int) -> bool:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with eng.connect() as c:
            return bool(c.execute(text("SELECT count(*) FROM parcels")).scalar() == n)
    except Exception:  # noqa: BLE001  # no such database or table yet
        return False
    finally:
        eng.dispose()


def kept_pg(admin_url: str, name: str) -> str:
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    eng = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        if not c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            c.execute(text(f"CREATE DATABASE {name}"))
    eng.dispose()
    return url


def run(url: str, n: int, reps: int, label: str, load_only: bool = False) -> list[str]:
    reuse = loaded(url, n)
    app = fresh_app(url, Path(tempfile.mkdtemp()))
    if not reuse:
        load(app, make_parcels(n))
    if load_only:
        app.close()
        return []
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
    ap.add_argument("--keep", help="keep and reuse the loaded databases under this name")
    ap.add_argument("--only", choices=["sqlite", "pg"])
    ap.add_argument("--load-only", action="store_true", help="load (or check) the kept databases, measure nothing")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 1_000_000)
    reps = 10 if args.quick else 50
    print("| database | parcels | tile | ours p50 / p99 (size) | bare p50 / p99 (size) | throughput ratio |")
    print("|---|---|---|---|---|---|")
    if args.only != "pg":
        path = f"/var/tmp/{args.keep}.sqlite3" if args.keep else f"{tempfile.mkdtemp()}/tiles.sqlite3"
        for line in run(f"sqlite:///{path}", n, reps, "SQLite", args.load_only):
            print(line, flush=True)
    if args.pg and args.only != "sqlite":
        url = kept_pg(args.pg, args.keep) if args.keep else pg_database(args.pg, "ymt_bench_tiles")
        for line in run(url, n, reps, "PostGIS", args.load_only):
            print(line, flush=True)


if __name__ == "__main__":
    main()
