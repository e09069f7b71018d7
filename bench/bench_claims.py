"""Webhook claims and drain against the backlog: one subscription whose receiver is down with 0, 10 000 and
100 000 pending deliveries (5 per project code, as after an import), next to a deleted subscription holding as
many (which must cost nothing).

- claim: median time of `delivery.queue.claim` (a batch of 50, leases released after each, untimed), and how
  long it holds the write transaction (`claim_heads` alone: on SQLite the time other writers wait), against a
  bare indexed `SELECT … LIMIT 50` of pending deliveries in a write transaction on the same engine;
- drain: deliveries/s of one in-process delivery loop (8 parallel POSTs) once the receiver is back, over the
  first 5 000 of the backlog, against a bare loop posting the same bodies with 8 threads to the same receiver;
- registrations while 100 000 deliveries are pending and the receiver is down (the delivery loop of `ymt serve`
  retrying with fast back-off): 300 sequential registrations over HTTP, failures and p99 against 300 with the
  subscription paused, same server, same run.

    .venv/bin/python bench/bench_claims.py [--quick] [--pg URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).parent))
from common import ServerThread, free_port, fresh_app, pg_database  # noqa: E402

from yimatong.accounts import tokens  # noqa: E402
from yimatong.api.app import create_app  # noqa: E402
from yimatong.core.context import SYSTEM, App, now  # noqa: E402
from yimatong.delivery import queue  # noqa: E402
from yimatong.delivery import worker as delivery  # noqa: E402
from yimatong.ledger.log import NewEvent, append_many  # noqa: E402
from yimatong.storage.counters import next_counter  # noqa: E402
from yimatong.storage.models import Delivery, DeliveryHead, Subscription  # noqa: E402

BATCH = 50
SETTINGS: dict[str, Any] = {"webhook_allow": "127.0.0.0/8", "webhook_batch": BATCH, "webhook_concurrency": 8,
                            "webhook_poll_seconds": 0.01, "webhook_base_delay_seconds": 0.05,
                            "webhook_max_delay_seconds": 0.5, "webhook_timeout_seconds": 5}


class Sink:
    """A receiver that answers 200 at once and counts."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        sink = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                with sink.lock:
                    sink.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def subscription(app: App, url: str, active: bool = True) -> int:
    with app.db.write() as s:
        sub = Subscription(url=url, types=[], secret="x" * 32, role="admin", active=active, paused=False,
                           parked=False, created_by="bench", created_at=now())
        s.add(sub)
        s.flush()
        return sub.id


def set_active(app: App, sid: int, active: bool) -> None:
    with app.db.write() as s:
        s.execute(update(Subscription).where(Subscription.id == sid).values(active=active))


def backlog(app: App, n: int, per_key: int = 5, chunk: int = 5000) -> None:
    """n events appended to the ledger and fanned out by the real outbox, `per_key` events per project code."""
    keys = max(1, n // per_key)
    done = 0
    while done < n:
        size = min(chunk, n - done)
        with app.db.write() as s:
            base = next_counter(s, "ledger", 0)
            append_many(s, SYSTEM, [NewEvent("project.updated", f"4307022026B{q % keys:08d}", {"n": q})
                                    for q in range(base + 1, base + size + 1)])
        done += size


def release(app: App) -> None:
    with app.db.write(exclusive=False) as s:
        s.execute(update(DeliveryHead).where(DeliveryHead.claimed_by.is_not(None))
                  .values(next_attempt_at=now() - timedelta(seconds=1), claimed_by=None))


def median_ms(fn: Any, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def measure_claims(app: App, sid: int, runs: int) -> dict[str, float]:
    bare_stmt = (select(Delivery.id).where(Delivery.subscription_id == sid, Delivery.state == "pending")
                 .order_by(Delivery.seq).limit(BATCH))

    def bare() -> None:
        with app.db.write(exclusive=False) as s:
            s.execute(bare_stmt).all()

    def claim() -> None:
        queue.claim(app, "bench")
        release(app)

    def held() -> None:
        with app.db.write(exclusive=False) as s:
            queue.claim_heads(s, BATCH, "bench", now(), now() + timedelta(seconds=30))

    bare()
    claim()  # warm
    out = {"bare": median_ms(bare, runs)}
    claim_ms = []
    held_ms = []
    for _ in range(runs):
        t = time.perf_counter()
        jobs = queue.claim(app, "bench")
        claim_ms.append((time.perf_counter() - t) * 1000)
        release(app)
        t = time.perf_counter()
        held()
        held_ms.append((time.perf_counter() - t) * 1000)
        release(app)
    out |= {"claim": statistics.median(claim_ms), "held": statistics.median(held_ms), "held_max": max(held_ms),
            "jobs": len(jobs)}
    return out


def measure_drain(app: App, sid: int, sink: Sink, count: int) -> dict[str, float]:
    with app.db.write() as s:
        s.execute(update(Subscription).where(Subscription.id == sid).values(url=sink.url))
    release(app)
    stop = threading.Event()
    start_count = sink.count
    loop = threading.Thread(target=delivery.loop, args=(app, stop, "bench"), daemon=True)
    t = time.perf_counter()
    loop.start()
    while sink.count - start_count < count:
        time.sleep(0.005)
    drain = (sink.count - start_count) / (time.perf_counter() - t)
    stop.set()
    loop.join(30)
    bodies = [json.dumps({"seq": i, "type": "project.updated", "data": {"n": i}}).encode() for i in range(count)]
    with httpx.Client() as c, ThreadPoolExecutor(8) as pool:
        t = time.perf_counter()
        list(pool.map(lambda b: c.post(sink.url, content=b, headers={"Content-Type": "application/json"}), bodies))
        bare = count / (time.perf_counter() - t)
    return {"drain": drain, "bare": bare}


def fresh(db: str, tmp: Path, name: str, pg: str | None, **extra: Any) -> App:
    url = pg_database(pg, f"bench_{name}") if db == "PostgreSQL" else f"sqlite:///{tmp}/{name}.sqlite3"
    (tmp / name).mkdir(exist_ok=True)
    return fresh_app(url, tmp / name, **(SETTINGS | extra))


def claims_and_drain(db: str, pg: str | None, sizes: list[int], runs: int, drain_count: int) -> list[str]:
    lines = []
    sink = Sink()
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            app = fresh(db, Path(tmp), f"claims{n}", pg)
            down = f"http://127.0.0.1:{free_port()}/down"
            gone = subscription(app, down)
            backlog(app, n)
            set_active(app, gone, False)  # deleted, with n pending that must cost nothing
            sid = subscription(app, down)
            t = time.perf_counter()
            backlog(app, n)
            fill = time.perf_counter() - t
            if db == "SQLite":  # the steady state: the log of the bulk load written back into the database file
                raw = app.db.engine.raw_connection()
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                raw.close()
            c = measure_claims(app, sid, runs)
            line = (f"| {db} | {n:,} | {c['bare']:.2f} | {c['claim']:.2f} | {c['claim'] / c['bare']:.1f} | "
                    f"{c['held']:.2f} (max {c['held_max']:.1f}) | ")
            if n:
                d = measure_drain(app, sid, sink, min(n, drain_count))
                line += f"{d['drain']:.0f} | {d['bare']:.0f} | {d['drain'] / d['bare']:.2f} |"
            else:
                line += "— | — | — |"
            print(line + f"   (backlog queued in {fill:.1f} s, {c['jobs']} jobs per claim)", flush=True)
            lines.append(line)
            app.close()
    return lines


def registrations(app: App, url: str, token: str, n: int, prefix: str) -> tuple[int, list[float]]:
    failures, samples = 0, []
    body = {"division": "430702", "year": 2026, "approval_type": "01", "project_type": "01", "supply_type": "23",
            "land_use": "0701", "sources": []}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for i in range(n):
            t = time.perf_counter()
            r = c.post("/api/v1/projects", json=body | {"name": f"{prefix}{i}"})
            samples.append((time.perf_counter() - t) * 1000)
            failures += r.status_code != 201
    samples.sort()
    return failures, samples


def p99(samples: list[float]) -> float:
    return samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def registrations_during_backlog(db: str, pg: str | None, pending: int, n: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        app = fresh(db, Path(tmp), "reg", pg)
        app.settings = app.settings.model_copy(update={"deliver_webhooks": True})  # the loop of `ymt serve`
        sid = subscription(app, f"http://127.0.0.1:{free_port()}/down")
        backlog(app, pending)
        with app.db.write() as s:
            token = tokens.create(s, "bench-registrar", "registrar")
            s.execute(update(Subscription).where(Subscription.id == sid).values(paused=True))
        with ServerThread(create_app(app.settings, app)) as url:
            idle_fail, idle = registrations(app, url, token, n, "空闲")
            with app.db.write() as s:
                s.execute(update(Subscription).where(Subscription.id == sid).values(paused=False))
            with app.db.read() as s:
                before = s.execute(select(Delivery.attempts).where(Delivery.subscription_id == sid)).scalars().all()
            busy_fail, busy = registrations(app, url, token, n, "积压")
            with app.db.read() as s:
                after = s.execute(select(Delivery.attempts).where(Delivery.subscription_id == sid)).scalars().all()
        app.close()
    attempts = sum(after) - sum(before)
    line = (f"| {db} | {pending:,} | {idle_fail} | {busy_fail} | {idle[len(idle) // 2]:.1f} / {p99(idle):.1f} | "
            f"{busy[len(busy) // 2]:.1f} / {p99(busy):.1f} | {p99(busy) / p99(idle):.2f} | {attempts:,} |")
    print(line, flush=True)
    return line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", help="PostgreSQL admin URL (a database is created per measurement)")
    args = ap.parse_args()
    sizes = [0, 2_000, 20_000] if args.quick else [0, 10_000, 100_000]
    runs = 50 if args.quick else 200
    dbs = ["SQLite"] + (["PostgreSQL"] if args.pg else [])
    print("| database | pending | bare SELECT ms | claim ms | ratio | write tx held ms | drain/s | bare POST/s | "
          "ratio |\n|---|---|---|---|---|---|---|---|---|")
    for db in dbs:
        claims_and_drain(db, args.pg, sizes, runs, 2_000 if args.quick else 5_000)
    print("\n| database | pending, receiver down | failures idle | failures during | idle p50 / p99 ms | "
          "during p50 / p99 ms | p99 ratio | delivery attempts meanwhile |\n|---|---|---|---|---|---|---|---|")
    for db in dbs:
        registrations_during_backlog(db, args.pg, sizes[-1], 100 if args.quick else 300)


if __name__ == "__main__":
    main()
