"""Registrations during a large supply-plan import (issue 16 "Performance"): N sequential registrations over HTTP
and C clients registering concurrently, against a `ymt serve` process, first with nothing else running (idle),
then while `ymt import supply_plan` (another process, the product's import job: staged per batch, then published
in batches) imports a 100 000-row file into the same database, same run. Failures (anything but 201), p50/p99,
the longest wait and the p99 ratio during / idle. Aim: 0 failures, p99 < 3× idle, no registration waiting > 2 s.
The registrations are in 武陵区 (430702), a division the file also registers into (one serial scope shared with
the import's publishing batches: the worst case). Only registrations answered while the import process was still
running count as "during". Afterwards `ymt ledger verify` must pass and each serial scope must be gap-free.

    .venv/bin/python bench/bench_import_load.py [--quick] [--pg URL [--no-sqlite]] [--rows N] [-n N] [--clients C]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import make_file  # noqa: E402
from common import free_port, pg_database  # noqa: E402

from yimatong.storage.models import Counter, ImportJob, Project  # noqa: E402

YMT = str(Path(sys.executable).parent / "ymt")
BODY: dict[str, Any] = {"division": "430702", "year": 2026, "approval_type": "01", "project_type": "01",
                        "supply_type": "23", "land_use": "0701", "sources": []}


class Service:
    """A `ymt serve` process on its own database and data dir (the defaults of production otherwise)."""

    def __init__(self, url: str, data: Path, extra: dict[str, str]) -> None:
        data.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "YMT_DATABASE_URL": url, "YMT_DATA_DIR": str(data), "YMT_LOG_LEVEL": "warning",
                    "YMT_DELIVER_WEBHOOKS": "false", **extra}
        self.ymt("init")
        self.port = free_port()
        self.log = open(data.parent / f"serve-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([YMT, "serve", "--host", "127.0.0.1", "--port", str(self.port)], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("ymt serve did not become ready")

    def ymt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([YMT, *args], env=self.env, capture_output=True, text=True, check=check)

    def token(self, role: str) -> str:
        return self.ymt("token", "create", "--name", f"bench-{role}-{time.monotonic_ns()}", "--role",
                        role).stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


class Samples:
    def __init__(self) -> None:
        self.ms: list[float] = []
        self.failures: list[int] = []
        self.lock = threading.Lock()

    def add(self, ms: float, status: int) -> None:
        with self.lock:
            self.ms.append(ms)
            if status != 201:
                self.failures.append(status)

    def row(self) -> dict[str, float]:
        s = sorted(self.ms)
        return {"n": len(s), "fail": len(self.failures), "p50": statistics.median(s),
                "p99": s[min(len(s) - 1, int(len(s) * 0.99))], "max": s[-1]}


class Phase:
    """The import job's phase as its table says (polled), so each registration is counted where it ran."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes] | None) -> None:
        self.proc, self.now = proc, "idle" if proc is None else "reading"
        if proc is not None:
            threading.Thread(target=self._poll, args=(url,), daemon=True).start()

    def _poll(self, url: str) -> None:
        eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        while self.proc is not None and self.proc.poll() is None:
            with eng.connect() as c:
                phase = c.execute(select(ImportJob.phase).order_by(ImportJob.id.desc()).limit(1)).scalar()
            self.now = phase or "reading"
            time.sleep(0.2)
        eng.dispose()

    def running(self) -> bool:
        return self.proc is None or self.proc.poll() is None


def register(c: httpx.Client, name: str, out: dict[str, Samples], phase: Phase) -> None:
    at = phase.now
    t = time.perf_counter()
    try:
        status = c.post("/api/v1/projects", json=BODY | {"name": name}).status_code
    except httpx.HTTPError:
        status = 0
    if phase.running():
        ms = (time.perf_counter() - t) * 1000
        for key in {"all", at}:
            out.setdefault(key, Samples()).add(ms, status)


def load(svc: Service, token: str, n: int, clients: int, per_client: int, tag: str, phase: Phase,
         seq: dict[str, Samples], conc: dict[str, Samples]) -> None:
    """n sequential registrations, then `clients` clients registering `per_client` each at once."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=svc.url, headers=headers, timeout=120) as c:
        for i in range(n):
            register(c, f"{tag}顺序登记项目{i}", seq, phase)

    def client(k: int) -> None:
        with httpx.Client(base_url=svc.url, headers=headers, timeout=120) as c:
            for i in range(per_client):
                register(c, f"{tag}并发登记项目{k}-{i}", conc, phase)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))


def gap_free(url: str) -> bool:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    ok = True
    with eng.connect() as c:
        for scope, value in c.execute(select(Counter.scope, Counter.value).where(Counter.scope.like("serial:%"))):
            prefix = scope.removeprefix("serial:").replace("-", "")
            serials = sorted(int(code[-6:]) for code in c.execute(
                select(Project.code).where(Project.code.like(prefix + "%"))).scalars())
            ok &= serials == list(range(1, value + 1))
    eng.dispose()
    return ok


def run(db: str, pg: str | None, rows: int, n: int, clients: int, per_client: int, tmp: Path) -> list[str]:
    url = pg_database(pg, "bench_impload") if db == "PostgreSQL" else f"sqlite:///{tmp / 'load.sqlite3'}"
    plan = tmp / f"plan-{rows}.xlsx"
    if not plan.exists():
        make_file(plan, rows)
    svc = Service(url, tmp / f"data-{db}", {})
    try:
        token = svc.token("registrar")
        idle: tuple[dict[str, Samples], dict[str, Samples]] = ({}, {})
        during: tuple[dict[str, Samples], dict[str, Samples]] = ({}, {})
        load(svc, token, 20, clients, 5, "预热", Phase(url, None), {}, {})  # connections, compiled statements
        load(svc, token, n, clients, per_client, "空闲", Phase(url, None), *idle)
        log = open(tmp / f"import-{db}.log", "wb")  # noqa: SIM115
        t0 = time.perf_counter()
        imp = subprocess.Popen([YMT, "import", "supply_plan", str(plan)], env=svc.env, stdout=log,
                               stderr=subprocess.STDOUT)
        phase, rounds = Phase(url, imp), 0
        while imp.poll() is None:  # the same load again and again, for the whole import (staging and publishing)
            load(svc, token, n, clients, per_client, f"导入中{rounds}轮", phase, *during)
            rounds += 1
        took = time.perf_counter() - t0
        log.close()
        if imp.returncode != 0:
            raise RuntimeError((tmp / f"import-{db}.log").read_text()[-2000:])
        verify = svc.ymt("ledger", "verify", check=False).returncode == 0
    finally:
        svc.stop()
    gaps_ok = gap_free(url)
    lines = []
    for (mode, key), (a, b) in ((mk, (idle[i]["all"], during[i].get(mk[1])))
                                 for i, mode in enumerate(("sequential", f"{clients} concurrent"))
                                 for mk in ((mode, k) for k in ("all", "staging", "publishing"))):
        if b is None:
            continue
        kind = f"{mode}, {'whole import' if key == 'all' else key}"
        i, d = a.row(), b.row()
        lines.append(f"| {db} | {kind} | {i['n']} / {d['n']} | {i['fail']} / **{d['fail']}** | "
                     f"{i['p50']:.0f} / {i['p99']:.0f} | {d['p50']:.0f} / {d['p99']:.0f} | "
                     f"**{d['p99'] / i['p99']:.2f}** | {d['max']:.0f} |")
        print(lines[-1], flush=True)
    print(f"    {db}: import of {rows:,} rows took {took:.0f} s ({rounds} rounds of load); "
          f"ledger verify {'ok' if verify else 'FAILED'}; serials gap-free: {gaps_ok}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10 000 rows, 100 + 4×10 registrations")
    ap.add_argument("--pg", help="PostgreSQL admin URL (a database is created for the run)")
    ap.add_argument("--rows", type=int)
    ap.add_argument("-n", type=int, help="sequential registrations per phase")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = ap.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    n = args.n or (100 if args.quick else 300)
    per_client = 10 if args.quick else 25
    print(f"load average at start {os.getloadavg()[0]:.1f}; {rows:,}-row supply plan through `ymt import`")
    print("| database | registrations | n idle / during | failures idle / during | idle p50 / p99 ms | "
          "during p50 / p99 ms | p99 ratio | longest wait during ms |\n|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as t:
        for db in ([] if args.no_sqlite else ["SQLite"]) + (["PostgreSQL"] if args.pg else []):
            run(db, args.pg, rows, n, args.clients, per_client, Path(t))


if __name__ == "__main__":
    main()
