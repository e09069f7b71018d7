"""OGC API - Features: an items page of 100 parcels from our service against pygeoapi (installed from PyPI in the
benchmark's own virtualenv, bench/.venvs/pygeoapi) serving the same parcels from the same PostGIS table.

    .venv/bin/python bench/bench_ogc.py [--quick] --pg URL
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_spatial import load, make_parcels  # noqa: E402
from common import ServerThread, free_port, fresh_app, latencies, pg_database  # noqa: E402

from yimatong.api.app import create_app  # noqa: E402
from yimatong.services import tokens  # noqa: E402

VENV = Path(__file__).parent / ".venvs" / "pygeoapi"
CONFIG = """
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  language: en-US
  limits: {{default_items: 100, max_items: 1000}}
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
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(base + "/collections", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("pygeoapi did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", required=True)
    args = ap.parse_args()
    n, q = (20_000, 100) if args.quick else (100_000, 500)
    ensure_venv()
    url = pg_database(args.pg, "ymt_bench_ogc")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        app = fresh_app(url, tmp)
        load(app, make_parcels(n))
        with app.db.write() as s:
            token = tokens.create(s, "ogc-bench", "base_platform")
        proc, geo = start_pygeoapi(url, tmp)
        rng = random.Random(5)
        offsets = [rng.randrange(0, n - 100) for _ in range(q)]
        try:
            with ServerThread(create_app(app.settings, app)) as ours, httpx.Client(timeout=60) as c:
                h = {"Authorization": f"Bearer {token}"}
                it = iter(offsets * 3)
                mine = latencies(lambda: c.get(f"{ours}/ogc/collections/parcels/items",
                                               params={"limit": 100, "offset": next(it)}, headers=h).raise_for_status(), q)
                it = iter(offsets * 3)
                theirs = latencies(lambda: c.get(f"{geo}/collections/parcels/items",
                                                 params={"limit": 100, "offset": next(it), "f": "json"}
                                                 ).raise_for_status(), q)
                assert len(c.get(f"{geo}/collections/parcels/items", params={"limit": 100, "f": "json"}).json()[
                    "features"]) == 100
        finally:
            proc.terminate()
            proc.wait(10)
        app.close()
    print(f"{n} parcels in PostGIS; {q} item pages of 100 features at random offsets, one client")
    print(f"{'server':<12}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}")
    for name, m in (("pygeoapi", theirs), ("yimatong", mine)):
        print(f"{name:<12}{m['p50']:>8.1f}{m['p99']:>8.1f}{m['rps']:>8.1f}")
    print(f"yimatong / pygeoapi throughput ratio: {mine['rps'] / theirs['rps']:.2f}")


if __name__ == "__main__":
    main()
