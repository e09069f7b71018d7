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
from common import free_port, fresh_app, latencies, pg_database  # noqa: E402

from yimatong.accounts import tokens  # noqa: E402

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
            with httpx.Client(timeout=60) as c:
                h = {"Authorization": f"Bearer {token}"}

                def page_ours(offset: int) -> None:
                    c.get(f"{ours}/ogc/collections/parcels/items", params={"limit": 100, "offset": offset},
                          headers=h).raise_for_status()

                def page_theirs(offset: int) -> None:
                    c.get(f"{geo}/collections/parcels/items",
                          params={"limit": 100, "offset": offset, "f": "json"}).raise_for_status()

                for offset in warm:  # both servers warmed the same way (connections, caches, compiled statements)
                    page_ours(offset)
                    page_theirs(offset)
                it = iter(offsets)
                mine = latencies(lambda: page_ours(next(it)), q)
                it = iter(offsets)
                theirs = latencies(lambda: page_theirs(next(it)), q)
                assert len(c.get(f"{geo}/collections/parcels/items", params={"limit": 100, "f": "json"}).json()[
                    "features"]) == 100
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    print(f"{n} parcels in PostGIS; {q} item pages of 100 features at random offsets, one client; each server in "
          "its own process, warmed with 50 pages")
    print(f"{'server':<12}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}")
    for name, m in (("pygeoapi", theirs), ("yimatong", mine)):
        print(f"{name:<12}{m['p50']:>8.1f}{m['p99']:>8.1f}{m['rps']:>8.1f}")
    print(f"yimatong / pygeoapi throughput ratio: {mine['rps'] / theirs['rps']:.2f}")


if __name__ == "__main__":
    main()
