"""Webhook fan-out: events/s delivered to 10 local receivers and end-to-end latency (commit → receipt)
p50/p99, against a bare loop posting the same bodies with httpx in the same run.

    .venv/bin/python bench/bench_webhooks.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_app  # noqa: E402

from yimatong.core.context import Actor  # noqa: E402
from yimatong.delivery import worker as delivery  # noqa: E402
from yimatong.projects import registry  # noqa: E402
from yimatong.storage.models import Subscription  # noqa: E402
from yimatong.uow import transaction  # noqa: E402


class Sink:
    def __init__(self) -> None:
        self.times: dict[int, float] = {}
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.times[json.loads(body)["seq"]] = time.time()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def register(app, i: int) -> float:  # type: ignore[no-untyped-def]
    with transaction(app, Actor("bench", "admin")) as uow:
        registry.register(uow, {
            "name": f"项目{i}", "division": "430702", "year": 2026, "approval_type": "01", "project_type": "01",
            "supply_type": "23", "land_use": "0701", "sources": []})
    return time.time()


def wait_all(sinks: list[Sink], count: int, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and any(len(s.times) < count for s in sinks):
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    events = 100 if args.quick else 500
    paced = 50 if args.quick else 200
    sinks = [Sink() for _ in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        app = fresh_app(f"sqlite:///{tmp}/hooks.sqlite3", Path(tmp), webhook_poll_seconds=0.01, webhook_batch=200,
                        webhook_concurrency=16, webhook_allow="127.0.0.0/8")  # the receivers are on loopback
        with app.db.write() as s:
            for sink in sinks:
                s.add(Subscription(url=sink.url, types=[], secret="x" * 16, role="admin", active=True, parked=False,
                                   created_by="bench", created_at=__import__("datetime").datetime.now()))
        # 1. fan-out throughput: a backlog of events, then the worker drains it
        for i in range(events):
            register(app, i)
        stop = threading.Event()
        worker = threading.Thread(target=delivery.loop, args=(app, stop, "bench"), daemon=True)
        start = time.time()
        worker.start()
        wait_all(sinks, events)
        drain = time.time() - start
        delivered = sum(len(s.times) for s in sinks)
        # 2. latency: events committed at a steady 20/s while the worker runs
        committed = {}
        for i in range(paced):
            committed[events + i + 1] = register(app, events + i)
            time.sleep(0.05)
        wait_all(sinks, events + paced)
        lat = sorted((s.times[q] - committed[q]) * 1000 for s in sinks for q in committed if q in s.times)
        stop.set()
        worker.join(10)
        bodies = [json.dumps({"seq": i, "type": "project.registered", "data": {}}).encode() for i in range(events)]
        t0 = time.time()
        with httpx.Client() as c:
            for b in bodies:
                for sink in sinks:
                    c.post(sink.url, content=b, headers={"Content-Type": "application/json"})
        bare = time.time() - t0
    rate, bare_rate = delivered / drain, events * 10 / bare
    print(f"{events} events x 10 receivers = {delivered} deliveries drained in {drain:.1f}s")
    print(f"outbox delivery: {rate:.0f} deliveries/s; bare httpx loop: {bare_rate:.0f} posts/s; ratio {rate / bare_rate:.2f}")
    print(f"commit → receipt at 20 events/s ({len(lat)} receipts): p50 {statistics.median(lat):.0f} ms, "
          f"p99 {lat[int(len(lat) * 0.99) - 1]:.0f} ms")


if __name__ == "__main__":
    main()
