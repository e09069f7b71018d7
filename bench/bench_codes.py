"""Codes issued per second (full registration: counter + project row + sources + intake stage + ledger event),
single client and 8 concurrent clients, on SQLite and PostgreSQL, as a ratio against a bare
counter-increment transaction loop on the same database in the same run.

    .venv/bin/python bench/bench_codes.py [--quick] [--pg URL]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text

from yimatong.config import Settings
from yimatong.core.context import Actor, App
from yimatong.profiles.loader import load_profile
from yimatong.projects import registry
from yimatong.storage.migrate import upgrade
from yimatong.uow import transaction

ACTOR = Actor("bench", "registrar")
BODY = {"name": "基准项目", "division": "430702", "year": "2026", "approval_type": "01", "project_type": "01",
        "supply_type": "23", "land_use": "0701", "builder": None, "investment_code": None,
        "sources": [{"kind": "manual", "ref": "bench"}], "area_m2": 1000.0}


def bare_increment(app: App, n: int) -> None:
    for _ in range(n):
        with app.db.write() as s:
            s.execute(text("INSERT INTO counters (scope, value) VALUES ('bare', 1) "
                           "ON CONFLICT (scope) DO UPDATE SET value = counters.value + 1 RETURNING value")).one()


def register(app: App, n: int) -> None:
    for i in range(n):
        with transaction(app, ACTOR) as uow:
            registry.register(uow, BODY | {"name": f"基准项目{i}"})


def rate(fn, app: App, n: int, clients: int) -> float:  # type: ignore[no-untyped-def]
    per = n // clients
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda _: fn(app, per), range(clients)))
    return per * clients / (time.perf_counter() - start)


def fresh_app(url: str, data_dir: Path) -> App:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    upgrade(eng)
    eng.dispose()
    return App(Settings(data_dir=data_dir, database_url=url, deliver_webhooks=False), load_profile("changde"))


def pg_database(admin_url: str) -> str:
    name = "ymt_bench_codes_" + uuid.uuid4().hex[:8]
    eng = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (default: scripts/pg.sh url)")
    args = ap.parse_args()
    n = 400 if args.quick else 3000
    pg = args.pg or subprocess.run(["scripts/pg.sh", "url", "ymt_bench"], capture_output=True, text=True,
                                   cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{tmp}/bench.sqlite3")]
        if pg:
            targets.append(("PostgreSQL", pg_database(pg)))
        for label, url in targets:
            app = fresh_app(url, Path(tmp) / label)
            for clients in (1, 8):
                bare = rate(bare_increment, app, n, clients)
                full = rate(register, app, n, clients)
                rows.append((label, clients, bare, full, full / bare))
            app.close()
    print(f"codes issued per second ({n} per measurement)")
    print(f"{'database':<11} {'clients':>7} {'bare loop/s':>12} {'register/s':>11} {'ratio':>6}")
    for label, clients, bare, full, ratio in rows:
        print(f"{label:<11} {clients:>7} {bare:>12.0f} {full:>11.0f} {ratio:>6.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
