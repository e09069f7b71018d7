"""Two `ymt worker` processes on one outbox, one of them killed with SIGKILL in the middle of a batch: each
outcome was recorded as soon as its receiver answered, so only the deliveries that were in flight are sent
again, every event arrives, and each project's events arrive in order (issue 16 item 3)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time

import httpx

from conftest import FAST_WEBHOOKS, YMT, project_body, start_server
from integration.receiver import Receiver
from integration.test_webhooks import registrar, subscribe

# batches of 4 posted 4 at a time: a claim's lease is 4 s (timeout) + 2 × 2 s margin
WORKER = FAST_WEBHOOKS | {"YMT_WEBHOOK_BATCH": "4", "YMT_WEBHOOK_CONCURRENCY": "4", "YMT_WEBHOOK_TIMEOUT_SECONDS": "4"}


def states(server, sub: dict) -> dict[int, str]:  # type: ignore[no-untyped-def]
    items = httpx.get(f"{server.url}/api/v1/subscriptions/{sub['id']}/deliveries", params={"limit": 1000},
                      headers=sub["admin"]).json()["items"]
    return {d["seq"]: d["state"] for d in items}


def wait_until(pred, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_kill_a_worker_mid_batch(db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "k"
    data.mkdir()
    server = start_server(db_url, data, WORKER | {"YMT_DELIVER_WEBHOOKS": "false"})
    env = {**server.env, **WORKER}
    rx = Receiver()
    rx.hold = True
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sub = subscribe(server, rx.url, types=["project.registered", "stage.changed"])
        with registrar(server) as c:
            codes = [c.post("/api/v1/projects", json=project_body(name=f"断电{i}")).json()["code"] for i in range(8)]
            for code in codes:
                c.put(f"/api/v1/projects/{code}/stages/pre_review", json={"status": "in_progress"})
        everything = set(states(server, sub))
        assert len(everything) == 16

        doomed = subprocess.Popen([YMT, "worker", "--name", "doomed"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        procs.append(doomed)
        in_flight = rx.wait_arrived(4)  # its first batch: four heads, all posted at once and held
        answered, unanswered = in_flight[:2], in_flight[2:]
        rx.release(*answered)
        # recorded one by one as they were answered, while the rest of the batch is still in flight
        wait_until(lambda: all(states(server, sub)[s] == "done" for s in answered))
        assert all(states(server, sub)[s] == "pending" for s in unanswered)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(15)

        procs.append(subprocess.Popen([YMT, "worker", "--name", "survivor"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        rx.release_all.set()
        wait_until(lambda: set(states(server, sub).values()) == {"done"}, timeout=90)

        arrivals = collections.Counter(rx.arrived)
        assert set(arrivals) == everything
        again = {seq for seq, n in arrivals.items() if n > 1}
        assert again <= set(unanswered)  # only what was in flight when the worker died
        assert all(arrivals[s] == 1 for s in answered)
        first_seen: dict[str, list[int]] = collections.defaultdict(list)
        for r in rx.received:
            if r["event"]["seq"] not in first_seen[r["event"]["code"]]:
                first_seen[r["event"]["code"]].append(r["event"]["seq"])
        for code in codes:
            assert first_seen[code] == sorted(first_seen[code]) and len(first_seen[code]) == 2
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(15)
        server.proc.terminate()
        server.proc.wait(15)
        rx.close()
