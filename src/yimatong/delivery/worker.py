"""Webhook delivery: the loop that `ymt worker` and `ymt serve` run over the queue (`delivery.queue`).

Any number of loops share the outbox: each claims a batch of due heads (leased, so no other loop takes them),
posts them in parallel outside any transaction, and records each outcome as soon as its receiver answers.
Failures are retried with exponential back-off and full jitter until the horizon, then the subscription is
parked; redelivery on demand resumes it in order. Before each POST the target is resolved and checked again
(`delivery.targets`) and the connection goes to the checked address; redirects are never followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from yimatong.core.context import App
from yimatong.delivery import queue, targets
from yimatong.delivery.queue import Job, body_of, claim, redeliver

__all__ = ["Job", "body_of", "claim", "deliver", "loop", "redeliver", "run_once", "sign", "start_in_process"]

log = logging.getLogger("yimatong.delivery")
USER_AGENT = "yimatong-webhook/1"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_for(job: Job, host_header: str) -> dict[str, str]:
    headers = {"Host": host_header, "Content-Type": "application/json; charset=utf-8",
               "X-Ymt-Event-Id": str(job.seq), "X-Ymt-Event-Type": job.type,
               "X-Ymt-Signature": sign(job.secret, job.body), "X-Ymt-Timestamp": str(int(time.time())),
               "X-Ymt-Delivery-Attempt": str(job.attempt), "User-Agent": USER_AGENT}
    if job.previous_secret:  # a rotation's overlap window: receivers still on the old secret keep verifying
        headers["X-Ymt-Signature-Previous"] = sign(job.previous_secret, job.body)
    return headers


class Clients:
    """One HTTP client per target host name. Connections go to checked addresses (the URL carries the
    address, Host and TLS SNI the name), so a pooled TLS connection must never serve another host name."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def for_host(self, host: str) -> httpx.Client:
        with self._lock:
            client = self._clients.get(host)
            if client is None:
                # no redirects (a 3xx is a failure), no proxies from the environment (they would bypass the check)
                client = self._clients[host] = httpx.Client(follow_redirects=False, trust_env=False)
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def post(app: App, clients: Clients, job: Job) -> tuple[int | None, str | None, float]:
    """Send one delivery: (status, error category or None, milliseconds)."""
    s = app.settings
    start = time.perf_counter()
    try:
        target = targets.check(job.url, targets.parse_allow(s.webhook_allow), own_endpoints(app))
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        r = clients.for_host(target.host).post(target.request_url(), content=job.body,
                                               headers=headers_for(job, target.host_header()),
                                               timeout=s.webhook_timeout_seconds, extensions=extensions)
        error = None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"
        return r.status_code, error, (time.perf_counter() - start) * 1000
    except (targets.TargetRefused, httpx.HTTPError) as exc:
        return None, targets.error_category(exc), (time.perf_counter() - start) * 1000


def own_endpoints(app: App) -> frozenset[tuple[targets.IPAddress, int]]:
    return targets.own_endpoints(app.settings.public_base_url or app.profile.public_base_url)


def deliver(app: App, clients: Clients, recorder: queue.Recorder, job: Job) -> None:
    """Post one claimed delivery and record its outcome at once."""
    if time.monotonic() > job.deadline:  # waited in the pool so long that the lease could end mid-request
        queue.release(app, job)
        return
    status, error, ms = post(app, clients, job)
    try:
        recorder.record(job, status, error, ms)
    except Exception:  # noqa: BLE001 - the lease runs out and the delivery is sent again
        log.exception("could not record delivery %s", job.delivery_id)


def run_once(app: App, clients: Clients, recorder: queue.Recorder, pool: ThreadPoolExecutor, worker: str) -> int:
    """Claim one batch and deliver it; returns how many were claimed."""
    jobs = claim(app, worker)
    for future in [pool.submit(deliver, app, clients, recorder, job) for job in jobs]:
        future.result()
    return len(jobs)


def loop(app: App, stop: threading.Event, worker: str | None = None) -> None:
    # a unique lease holder even when several processes are started with the same --name
    worker = f"{worker or 'worker'}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    clients, recorder = Clients(), queue.Recorder(app)
    try:
        with ThreadPoolExecutor(max_workers=app.settings.webhook_concurrency,
                                thread_name_prefix="ymt-post") as pool:
            while not stop.is_set():
                try:
                    busy = run_once(app, clients, recorder, pool, worker)
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                    log.exception("delivery loop error")
                    busy = 0
                if not busy:
                    stop.wait(app.settings.webhook_poll_seconds)
    finally:
        recorder.close()
        clients.close()


def start_in_process(app: App) -> Callable[[], Awaitable[None]]:
    """Run the loop in a thread inside `ymt serve`; returns an async stop function for the lifespan."""
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(app, stop, "serve"), name="ymt-delivery", daemon=True)
    thread.start()

    async def shutdown() -> None:
        stop.set()
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 15)

    return shutdown
