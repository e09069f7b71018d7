"""Vector tiles: our tile (built through the View, as a reader gets it) against a bare tile query on the same
database for the same tile — PostGIS: `ST_AsMVT(ST_AsMVTGeom(...))` over the parcels in the tile, no visibility, no
attributes; SQLite: the same rows from the R*Tree encoded with mapbox-vector-tile — at a city-wide, a district and a
street zoom. Aim: ≥ 0.5 of bare throughput, p99 < 100 ms at street zoom on PostGIS. "served": the same tile over
real HTTP (uvicorn on loopback, a viewer's bearer token, the route's ETag state and headers), for what a client
sees beyond the tile query. The three run in alternating turns of 5 calls.

    .venv/bin/python bench/bench_tiles.py [--quick] [--pg URL] [--n N] [--keep NAME]

`--keep NAME` keeps the loaded databases (SQLite /var/tmp/NAME.sqlite3, PostgreSQL database NAME on --pg's server)
and reuses them on the next run when they hold N parcels: loading a million parcels takes minutes.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, literal_column, select, text

sys.path.insert(0, str(Path(__file__).parent))
from bench_spatial import load, make_parcels  # noqa: E402
from common import ServerThread, fresh_app, pg_database  # noqa: E402

from yimatong.accounts import tokens  # noqa: E402
from yimatong.api.app import create_app  # noqa: E402
from yimatong.core.context import Actor  # noqa: E402
from yimatong.core.visibility import View  # noqa: E402
from yimatong.parcels import cells, tiles  # noqa: E402
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


def run(url: str, n: int, reps: int, label: str, load_only: bool = False, city_calls: int = 10) -> list[str]:
    reuse = loaded(url, n)
    app = fresh_app(url, Path(tempfile.mkdtemp()))
    if not reuse:
        load(app, make_parcels(n))
    if load_only:
        app.close()
        return []
    t = time.perf_counter()
    if not cells.refresh(app):  # the map's dot cells: built once from the data (then kept from the events)
        raise SystemExit("tile cells: update failed")
    lines = [f"<!-- {label}: dot cells brought up to date in {time.perf_counter() - t:.1f} s -->"]
    view = View.of(app, Actor("bench", "viewer"))
    with app.db.write() as session:
        token = tokens.create(session, f"bench-{uuid.uuid4().hex[:6]}", "viewer")
    with ServerThread(create_app(app.settings, app)) as base_url, httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        for name, z in ZOOMS.items():
            x, y = tile_of(*CENTRE, z)
            k = reps if z >= 12 else city_calls  # a city tile reads a third of the city: fewer rounds
            with app.db.read() as session:
                def ours() -> bytes:
                    return tiles.parcel_tile(session, view, z, x, y, app.settings.tile_polygon_zoom)  # noqa: B023

                def base() -> bytes:
                    return bare(session, z, x, y)  # noqa: B023

                def served() -> bytes:
                    r = http.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}")  # noqa: B023
                    r.raise_for_status()
                    return r.content

                sizes = [len(ours()), len(base()), len(served())]
                o, b, h = alternating([ours, base, served], k)
            lines.append(f"| {label} | {n:,} | {name} z{z} | {o['p50']:.1f} / {o['p99']:.1f} ms ({sizes[0]:,} B) | "
                         f"{b['p50']:.1f} / {b['p99']:.1f} ms ({sizes[1]:,} B) | {o['rps'] / b['rps']:.2f} | "
                         f"{h['p50']:.1f} / {h['p99']:.1f} ms | {h['rps'] / b['rps']:.2f} | {k} |")
    app.close()
    return lines


def alternating(fns: list[Callable[[], Any]], reps: int, block: int = 5) -> list[dict[str, float]]:
    """Latencies of each function, run in turns of `block` calls (a shared, loaded machine drifts: each gets
    the same share of every quiet and busy moment); rps from the summed call times."""
    samples: list[list[float]] = [[] for _ in fns]
    done = 0
    while done < reps:
        step = min(block, reps - done)
        for i, fn in enumerate(fns):
            for _ in range(step):
                t = time.perf_counter()
                fn()
                samples[i].append((time.perf_counter() - t) * 1000)
        done += step
    out = []
    for s in samples:
        s.sort()
        out.append({"p50": statistics.median(s), "p99": s[min(len(s) - 1, int(len(s) * 0.99))],
                    "rps": len(s) / (sum(s) / 1000)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg")
    ap.add_argument("--n", type=int)
    ap.add_argument("--keep", help="keep and reuse the loaded databases under this name")
    ap.add_argument("--only", choices=["sqlite", "pg"])
    ap.add_argument("--city-calls", type=int, default=10, help="calls of each kind for the city tile")
    ap.add_argument("--load-only", action="store_true", help="load (or check) the kept databases, measure nothing")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 1_000_000)
    reps = 10 if args.quick else 50
    print("| database | parcels | tile | ours p50 / p99 (size) | bare p50 / p99 (size) | ours / bare | "
          "served over HTTP p50 / p99 | served / bare | calls |")
    print("|---|---|---|---|---|---|---|---|---|")
    if args.only != "pg":
        path = f"/var/tmp/{args.keep}.sqlite3" if args.keep else f"{tempfile.mkdtemp()}/tiles.sqlite3"
        for line in run(f"sqlite:///{path}", n, reps, "SQLite", args.load_only, args.city_calls):
            print(line, flush=True)
    if args.pg and args.only != "sqlite":
        url = kept_pg(args.pg, args.keep) if args.keep else pg_database(args.pg, "ymt_bench_tiles")
        for line in run(url, n, reps, "PostGIS", args.load_only, args.city_calls):
            print(line, flush=True)


if __name__ == "__main__":
    main()
