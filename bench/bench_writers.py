"""Writers side by side (issue 16: no global writer lock): registrations per second on PostgreSQL with 8 clients
in 8 divisions against 1 client, and codes per second against a bare counter-increment loop, in one run.

Each client is its own process (as `ymt serve --workers N` or several hosts are), registering through the unit of
work (`uow.run`: the same path as the API; the writer sequences in its own transaction when the sequencer's lock
is free, else right after its commit). The baseline of the same run is the same measurement with other code
(`--baseline`, the `src` of another checkout: the code before the sequencer, or main before a change), in the
same database. The last line gives statements sent and client CPU per operation.

    .venv/bin/python bench/bench_writers.py [--quick] [--pg URL] [--baseline /work/main/src]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_app, pg_database  # noqa: E402

import yimatong  # noqa: E402
from yimatong.config import Settings  # noqa: E402
from yimatong.core.context import Actor, App  # noqa: E402
from yimatong.profiles.loader import load_profile  # noqa: E402
from yimatong.projects import registry  # noqa: E402
from yimatong.uow import run  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"

ACTOR = Actor("bench", "admin")
DIVISIONS = ["430702", "430703", "430721", "430722", "430723", "430724", "430725", "430726"]
BODY = {"name": "基准项目", "year": "2026", "approval_type": "01", "project_type": "01", "supply_type": "23",
        "land_use": "0701", "builder": None, "investment_code": None, "sources": [{"kind": "manual", "ref": "bench"}],
        "area_m2": 1000.0}


def _client(url: str, data_dir: str, mode: str, client: int, n: int, go: Any, out: Any) -> None:
    assert mode != "baseline" or not yimatong.__file__.startswith(str(SRC)), "the baseline runs this code"
    app = App(Settings(data_dir=Path(data_dir), database_url=url, deliver_webhooks=False), load_profile("changde"))
    division = DIVISIONS[client % len(DIVISIONS)]
    work = _bare if mode == "bare" else _register
    work(app, division, 0, 5, mode)  # warm the engine and the statements, untimed
    statements = [0]
    event.listen(app.db.engine, "before_cursor_execute", lambda *_: statements.__setitem__(0, statements[0] + 1))
    go.wait()
    start, cpu = time.time(), time.process_time()
    work(app, division, 5, n, mode)
    out.put((start, time.time(), n, statements[0], time.process_time() - cpu))
    app.close()


def _register(app: App, division: str, first: int, n: int, mode: str) -> None:  # noqa: ARG001 - one signature
    for i in range(first, first + n):
        run(app, ACTOR, lambda uow, i=i: registry.register(
            uow, BODY | {"name": f"基准项目{division}-{i}-{mode}", "division": division}))


def _bare(app: App, division: str, first: int, n: int, mode: str) -> None:  # noqa: ARG001 - one signature
    for _ in range(n):
        with app.db.write() as s:
            s.execute(text("INSERT INTO counters (scope, value) VALUES (:s, 1) ON CONFLICT (scope) "
                           "DO UPDATE SET value = counters.value + 1 RETURNING value"), {"s": "bare:" + division}).one()


def rate(url: str, data_dir: str, mode: str, clients: int, total: int, src: str | None = None
         ) -> tuple[float, float, float]:
    """Operations per second of `clients` processes doing `total` operations together (with the code in `src`
    when given: spawned processes import it first), statements sent and client CPU milliseconds per
    operation."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(url, data_dir, mode, c, total // clients, go, out))
             for c in range(clients)]
    # A spawned process starts with its parent's sys.path (not PYTHONPATH: the parent's list replaces it), so the
    # other code goes first in ours while the clients start.
    saved = list(sys.path)
    if src:
        sys.path.insert(0, src)
    try:
        for p in procs:
            p.start()
    finally:
        sys.path[:] = saved
    time.sleep(3)  # every client has connected and warmed up (they wait for `go`)
    go.set()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    start, end = min(r[0] for r in results), max(r[1] for r in results)
    ops = sum(r[2] for r in results)
    return ops / (end - start), sum(r[3] for r in results) / ops, 1000 * sum(r[4] for r in results) / ops


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int, default=None, help="operations per measurement (default 1600, quick 400)")
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (default: scripts/pg.sh url ymt_bench)")
    ap.add_argument("--baseline", default="/work/main/src", help="src/ of the code to compare with ('' for none)")
    args = ap.parse_args()
    total = args.n or (400 if args.quick else 1600)
    pg = args.pg or subprocess.run(["scripts/pg.sh", "url", "ymt_bench"], capture_output=True, text=True,
                                   cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    baseline = args.baseline if args.baseline and Path(args.baseline, "yimatong").is_dir() else None
    modes = ["bare", *(["baseline"] if baseline else []), "sequencer"]
    rows: dict[tuple[str, int], float] = {}
    costs: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = pg_database(pg, "ymt_bench_writers")
        fresh_app(url, Path(tmp) / "d").close()
        for clients in (1, 8):
            for mode in modes:
                rows[(mode, clients)], *cost = rate(url, str(Path(tmp) / "d"), mode, clients, total,
                                                    baseline if mode == "baseline" else None)
                costs[(mode, clients)] = (cost[0], cost[1])
    print(f"PostgreSQL, {total} operations per measurement, each client a process; baseline: {baseline}")
    print(f"{'clients':>7} " + " ".join(f"{m + '/s':>12}" for m in modes)
          + " " + " ".join(f"{m + '/bare':>15}" for m in modes[1:]))
    for clients in (1, 8):
        print(f"{clients:>7} " + " ".join(f"{rows[(m, clients)]:>12.1f}" for m in modes) + " "
              + " ".join(f"{rows[(m, clients)] / rows[('bare', clients)]:>15.2f}" for m in modes[1:]))
    print("8 clients / 1 client: " + ", ".join(f"{m} {rows[(m, 8)] / rows[(m, 1)]:.2f}" for m in modes))
    print("per operation (1 client; 8 clients): " + "; ".join(
        f"{m} {costs[(m, 1)][0]:.1f}/{costs[(m, 8)][0]:.1f} statements, {costs[(m, 1)][1]:.2f}/{costs[(m, 8)][1]:.2f} ms CPU"
        for m in modes))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
