"""OGC API - Features: an items page of 100 parcels from our service against pygeoapi (installed from PyPI in the
benchmark's own virtualenv, bench/.venvs/pygeoapi) serving the same parcels from the same PostGIS table — the plain
page at random offsets (`--mode plain`) and CQL2 filtered pages (`--mode cql`): an attribute comparison, a
spatial S_INTERSECTS with a POLYGON, one with a BBOX and a combination, in CQL2 text and CQL2 JSON.

pygeoapi's PostgreSQL provider (pygeofilter → SQLAlchemy) reads `filter` as ECQL text on GET and CQL2 JSON from a
POST body; it refuses `filter-lang=cql2-text`, has no S_-prefixed functions, and builds its geometry literals with
SRID 4326 unless the literal says otherwise, which PostGIS refuses against our SRID-4490 column. So pygeoapi gets
the same predicates in its own spelling: `INTERSECTS(geom, SRID=4490;POLYGON(...))`, `BBOX(geom, ..., '4490')` (its SQL writes the CRS string into the EWKT)
and in JSON a GeoJSON literal with a `crs` member. Before anything is timed, both servers' ids for every filter are
compared with a brute-force answer (Shapely over every parcel of the table).

    .venv/bin/python bench/bench_ogc.py [--quick] [--mode plain|cql|both] [--db-prefix P] --pg URL

The table is loaded into a new database `P_<random>` on the server of URL (P: `ymt_bench_ogc` unless
`--db-prefix` says otherwise), dropped at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import shapely
from shapely import wkb
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
from bench_spatial import load, make_parcels  # noqa: E402
from common import free_port, fresh_app, latencies, pg_database  # noqa: E402

from yimatong.accounts import tokens  # noqa: E402

# (name, ours in CQL2 text, pygeoapi in ECQL text, CQL2 JSON, brute-force predicate on (id, area, geometry))
POLY = "POLYGON((111.6 29.0, 111.8 29.0, 111.8 29.1, 111.65 29.15, 111.6 29.0))"
POLY_JSON = {"type": "Polygon", "coordinates": [[[111.6, 29.0], [111.8, 29.0], [111.8, 29.1], [111.65, 29.15],
                                                 [111.6, 29.0]]]}
BOX = (111.0, 28.8, 111.3, 29.0)
FILTERS: list[tuple[str, str, str, dict[str, Any], Callable[[int, float, Any], bool]]] = [
    ("attribute: area_m2 > 80000", "area_m2 > 80000", "area_m2 > 80000",
     {"op": ">", "args": [{"property": "area_m2"}, 80000]}, lambda i, a, g: a > 80000),
    ("S_INTERSECTS polygon", f"S_INTERSECTS(geometry, {POLY})", f"INTERSECTS(geom, SRID=4490;{POLY})",
     {"op": "s_intersects", "args": [{"property": "geometry"}, POLY_JSON]}, lambda i, a, g: g.intersects(POLYGON)),
    ("S_INTERSECTS bbox", f"S_INTERSECTS(geometry, BBOX({', '.join(map(str, BOX))}))",
     f"BBOX(geom, {', '.join(map(str, BOX))}, '4490')",
     {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(BOX)}]},
     lambda i, a, g: g.intersects(shapely.box(*BOX))),
    ("combined: (area > 40000 OR id < 2000) AND S_INTERSECTS polygon",
     f"(area_m2 > 40000 OR id < 2000) AND S_INTERSECTS(geometry, {POLY})",
     f"(area_m2 > 40000 OR id < 2000) AND INTERSECTS(geom, SRID=4490;{POLY})",
     {"op": "and", "args": [{"op": "or", "args": [{"op": ">", "args": [{"property": "area_m2"}, 40000]},
                                                  {"op": "<", "args": [{"property": "id"}, 2000]}]},
                            {"op": "s_intersects", "args": [{"property": "geometry"}, POLY_JSON]}]},
     lambda i, a, g: (a > 40000 or i < 2000) and g.intersects(POLYGON)),
]
POLYGON = shapely.from_wkt(POLY)

VENV = Path(__file__).parent / ".venvs" / "pygeoapi"
CONFIG = """
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  language: en-US
  limits: {{default_items: 100, max_items: 10000}}
  map: {{url: "http://127.0.0.1/none/{{z}}/{{x}}/{{y}}.png", attribution: none}}
logging: {{level: ERROR}}
metadata:
  identification: {{title: bench, description: bench, keywords: [bench], keywords_type: theme, terms_of_service: none, url: "http://127.0.0.1"}}
  license: {{name: none, url: "http://127.0.0.1"}}
  provider: {{name: bench, url: "http://127.0.0.1"}}
  contact: {{name: bench, position: bench, address: bench, city: bench, stateorprovince: bench, postalcode: "0", country: CN, phone: "0", fax: "0", email: "a@b.c", url: "http://127.0.0.1", hours: "0", instructions: none, role: pointOfContact}}
resources:
  parcels:
    type: collection
    title: parcels
    description: parcels
    keywords: [parcels]
    extents: {{spatial: {{bbox: [110, 28, 113, 31], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}}}
    providers:
      - type: feature
        name: PostgreSQL
        data: {{host: {host}, port: {pgport}, dbname: {db}, user: {user}, password: "", search_path: [public]}}
        id_field: id
        table: parcels
        geom_field: geom
"""


PACKAGES = ["pygeoapi", "starlette", "uvicorn", "geoalchemy2", "psycopg2-binary", "sqlalchemy"]


def ensure_venv() -> None:
    """pygeoapi lives in the benchmark's own virtualenv, never in the project's."""
    if (VENV / "bin" / "pygeoapi").exists() and (VENV / "bin" / "uvicorn").exists():
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "starlette"], check=True)
        return
    subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *PACKAGES], check=True)


def start_pygeoapi(url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    u = urlparse(url)
    port = free_port()
    cfg = tmp / "pygeoapi.yml"
    cfg.write_text(CONFIG.format(port=port, host=u.hostname, pgport=u.port, db=u.path.lstrip("/"),
                                 user=u.username), encoding="utf-8")
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(tmp / "openapi.yml")}
    subprocess.run([str(VENV / "bin" / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file",
                    str(tmp / "openapi.yml")], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([str(VENV / "bin" / "uvicorn"), "pygeoapi.starlette_app:APP", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env)
    return proc, wait_ready(proc, f"http://127.0.0.1:{port}", "/collections", "pygeoapi")


def wait_ready(proc: subprocess.Popen[bytes], base: str, path: str, name: str) -> str:
    for _ in range(300):
        try:
            if httpx.get(base + path, timeout=2).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{name} did not start")


def start_ymt(url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Our service as its own `ymt serve` process, as pygeoapi is: neither shares the client's interpreter."""
    port = free_port()
    env = {**os.environ, "YMT_DATABASE_URL": url, "YMT_DATA_DIR": str(tmp / "ymt-data"), "YMT_DELIVER_WEBHOOKS": "0"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ymt"), "serve", "--host", "127.0.0.1", "--port",
                             str(port)], env=env)
    return proc, wait_ready(proc, f"http://127.0.0.1:{port}", "/readyz", "ymt serve")


def settle(seconds: float = 20.0) -> None:
    """`ymt serve` computes every warning of the library in the background at start-up (at 100 000 parcels,
    seconds of CPU); measure the steady state after it, as a server that has been up for a while."""
    time.sleep(seconds)


def real_areas(app: Any) -> list[tuple[int, float, Any]]:
    """Give every parcel its real area (the loader writes a constant) so that an attribute filter selects, and
    return (id, area, geometry) of every parcel: the brute-force side of the check."""
    with app.db.engine.begin() as c:
        c.execute(text("UPDATE parcels SET area_m2 = round(ST_Area(geom::geography)::numeric, 2)"))
    with app.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE parcels"))
        rows = c.execute(text("SELECT id, area_m2, geom_wkb FROM parcels")).all()
    return [(i, float(a), wkb.loads(g)) for i, a, g in rows]


class Servers:
    """The two servers' items requests, plain or filtered, in their own spelling."""

    def __init__(self, c: httpx.Client, ours: str, geo: str, token: str) -> None:
        self.c, self.ours, self.geo = c, ours, geo
        self.h = {"Authorization": f"Bearer {token}"}

    def ours_text(self, cql: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        r = self.c.get(f"{self.ours}/ogc/collections/parcels/items", headers=self.h, params={
            "limit": limit, "offset": offset, "filter": cql, "filter-lang": "cql2-text"})
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def ours_json(self, cql: dict[str, Any], limit: int = 100, offset: int = 0) -> dict[str, Any]:
        r = self.c.get(f"{self.ours}/ogc/collections/parcels/items", headers=self.h, params={
            "limit": limit, "offset": offset, "filter": json.dumps(cql), "filter-lang": "cql2-json"})
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def theirs_text(self, ecql: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        r = self.c.get(f"{self.geo}/collections/parcels/items", params={
            "limit": limit, "offset": offset, "filter": ecql, "f": "json"})
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def theirs_json(self, cql: dict[str, Any], limit: int = 100, offset: int = 0) -> dict[str, Any]:
        r = self.c.post(f"{self.geo}/collections/parcels/items", params={"limit": limit, "offset": offset, "f": "json"},
                        content=json.dumps(with_crs(cql)), headers={"Content-Type": "application/query-cql-json"})
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


def with_crs(node: Any) -> Any:
    """pygeofilter's SQL literal is SRID 4326 unless a GeoJSON geometry names its CRS: name ours (4490)."""
    if isinstance(node, dict):
        if "coordinates" in node:
            return node | {"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}}
        if "bbox" in node:  # pygeofilter's CQL2 JSON has no BBOX literal: the same box as a polygon
            a, b, c, d = node["bbox"]
            return with_crs({"type": "Polygon", "coordinates": [[[a, b], [c, b], [c, d], [a, d], [a, b]]]})
        return {k: with_crs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [with_crs(v) for v in node]
    return node


def all_ids(fetch: Callable[..., dict[str, Any]], arg: Any) -> tuple[list[int], int]:
    """Every id a server answers for a filter (pages of 10 000), and the numberMatched it states."""
    ids: list[int] = []
    while True:
        page = fetch(arg, limit=10_000, offset=len(ids))
        ids += [int(f["id"]) for f in page["features"]]
        if len(page["features"]) < 10_000:
            return ids, int(page.get("numberMatched", -1))


def check_filters(s: Servers, table: list[tuple[int, float, Any]]) -> list[str]:
    """Both servers, both encodings, against the brute-force answer: the same ids or the benchmark stops."""
    out = []
    for name, ours_t, theirs_t, cql_json, pred in FILTERS:
        truth = sorted(i for i, a, g in table if pred(i, a, g))
        for who, fetch, arg in (("yimatong cql2-text", s.ours_text, ours_t), ("yimatong cql2-json", s.ours_json, cql_json),
                                ("pygeoapi ecql-text", s.theirs_text, theirs_t),
                                ("pygeoapi cql2-json", s.theirs_json, cql_json)):
            ids, matched = all_ids(fetch, arg)
            if sorted(ids) != truth or matched != len(truth):
                raise AssertionError(f"{who} answers {len(ids)} ids (numberMatched {matched}) for {name!r}, the brute "
                                     f"force {len(truth)}; missing {sorted(set(truth) - set(ids))[:5]}, extra "
                                     f"{sorted(set(ids) - set(truth))[:5]}")
        out.append(f"{name}: {len(truth)} parcels, same ids from both servers in both encodings and the brute force")
    return out


def time_filters(s: Servers, q: int) -> list[str]:
    """The first page (100) of each filter, `q` times per server and encoding, after 10 warm-up requests each."""
    lines = []
    for name, ours_t, theirs_t, cql_json, _ in FILTERS:
        for enc, ours, theirs in (("text", lambda: s.ours_text(ours_t), lambda: s.theirs_text(theirs_t)),
                                  ("json", lambda: s.ours_json(cql_json), lambda: s.theirs_json(cql_json))):
            for _ in range(10):
                ours()
                theirs()
            m, t = latencies(ours, q), latencies(theirs, q)
            lines.append(f"| {name} | {enc} | {t['p50']:.1f} / {t['p99']:.1f} | {m['p50']:.1f} / {m['p99']:.1f} | "
                         f"{m['rps'] / t['rps']:.2f} |")
    return lines


def drop_database(admin_url: str, url: str) -> None:
    eng = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)"))
    eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", required=True)
    ap.add_argument("--mode", choices=["plain", "cql", "both"], default="both")
    ap.add_argument("--db-prefix", default="ymt_bench_ogc", help="name prefix of the database made for the run")
    ap.add_argument("--keep", action="store_true", help="keep the database made for the run")
    args = ap.parse_args()
    n, q = (20_000, 100) if args.quick else (100_000, 500)
    qf = 30 if args.quick else 200
    ensure_venv()
    url = pg_database(args.pg, args.db_prefix)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    mine = theirs = None
    checks: list[str] = []
    filtered: list[str] = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        app = fresh_app(url, tmp)
        load(app, make_parcels(n))
        table = real_areas(app)
        with app.db.write() as s:
            token = tokens.create(s, "ogc-bench", "base_platform")
        app.close()
        rng = random.Random(5)
        offsets = [rng.randrange(0, n - 100) for _ in range(q)]
        warm = [rng.randrange(0, n - 100) for _ in range(50)]
        procs = []
        try:
            proc, geo = start_pygeoapi(url, tmp)
            procs.append(proc)
            proc, ours = start_ymt(url, tmp)
            procs.append(proc)
            settle(5 if args.quick else 20)
            with httpx.Client(timeout=120) as c:
                h = {"Authorization": f"Bearer {token}"}

                def page_ours(offset: int) -> None:
                    c.get(f"{ours}/ogc/collections/parcels/items", params={"limit": 100, "offset": offset},
                          headers=h).raise_for_status()

                def page_theirs(offset: int) -> None:
                    c.get(f"{geo}/collections/parcels/items",
                          params={"limit": 100, "offset": offset, "f": "json"}).raise_for_status()

                if args.mode in ("plain", "both"):
                    for offset in warm:  # both servers warmed the same way (connections, caches, statements)
                        page_ours(offset)
                        page_theirs(offset)
                    it = iter(offsets)
                    mine = latencies(lambda: page_ours(next(it)), q)
                    it = iter(offsets)
                    theirs = latencies(lambda: page_theirs(next(it)), q)
                if args.mode in ("cql", "both"):
                    servers = Servers(c, ours, geo, token)
                    checks = check_filters(servers, table)
                    filtered = time_filters(servers, qf)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            if not args.keep:
                drop_database(args.pg, url)
    print(f"load average at end: {os.getloadavg()}")
    if mine and theirs:
        print(f"{n} parcels in PostGIS; {q} item pages of 100 features at random offsets, one client; each server "
              "in its own process, warmed with 50 pages")
        print(f"{'server':<12}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}")
        for name, m in (("pygeoapi", theirs), ("yimatong", mine)):
            print(f"{name:<12}{m['p50']:>8.1f}{m['p99']:>8.1f}{m['rps']:>8.1f}")
        print(f"yimatong / pygeoapi throughput ratio: {mine['rps'] / theirs['rps']:.2f}")
    if filtered:
        print("\n".join(checks))
        print(f"{n} parcels; first page (100) of each filter, {qf} requests per server and encoding, one client")
        print("| filter | encoding | pygeoapi p50 / p99 ms | yimatong p50 / p99 ms | throughput ratio |")
        print("|---|---|---|---|---|")
        print("\n".join(filtered))


if __name__ == "__main__":
    main()
