"""Webhook delivery from the transactional outbox.

A worker claims due deliveries in a short transaction (PostgreSQL: FOR UPDATE SKIP LOCKED, so several
workers never take the same one; SQLite: the single writer lock), leases them by moving next_attempt_at
past the request timeout, posts outside any transaction, then records the outcome. A delivery is due only
when no earlier delivery of the same project to the same subscription is still undelivered, which keeps
per-project order. Failures are retried with exponential back-off and full jitter until the horizon, then
parked with the subscription; redelivery on demand resumes them in order. At least once: receivers drop
duplicates by X-Ymt-Event-Id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from yimatong.core.context import App, aware, now
from yimatong.ledger.log import event_dict
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import Delivery, DeliveryAttempt, Event, Subscription

log = logging.getLogger("yimatong.delivery")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(ev: Event) -> bytes:
    return json.dumps(event_dict(ev), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Job:
    delivery_id: int
    seq: int
    url: str
    secret: str
    body: bytes
    type: str
    attempts: int


def _due_query(session: Session, limit: int) -> Any:
    earlier = aliased(Delivery)
    blocked = exists().where(
        earlier.subscription_id == Delivery.subscription_id, earlier.seq < Delivery.seq,
        earlier.state.in_(("pending", "parked")),
        or_(earlier.code == Delivery.code, and_(earlier.code.is_(None), Delivery.code.is_(None))))
    stmt = (select(Delivery).join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(Delivery.state == "pending", Delivery.next_attempt_at <= now(), Subscription.active.is_(True),
                   Subscription.parked.is_(False), ~blocked)
            .order_by(Delivery.seq).limit(limit))
    return dialect_of(session).for_claim(stmt, of=Delivery)


def claim(app: App, worker: str) -> list[Job]:
    s = app.settings
    # not exclusive: deliveries take no counter, project or ledger lock, and must not wait behind an import
    with app.db.write(exclusive=False) as session:
        rows = list(session.execute(_due_query(session, s.webhook_batch)).scalars())
        if not rows:
            return []
        lease = now() + timedelta(seconds=s.webhook_timeout_seconds * 2 + 5)
        subs = {sub.id: sub for sub in session.execute(select(Subscription).where(
            Subscription.id.in_({d.subscription_id for d in rows}))).scalars()}
        events = {e.seq: e for e in session.execute(select(Event).where(
            Event.seq.in_({d.seq for d in rows}))).scalars()}
        jobs = []
        for d in rows:
            d.next_attempt_at, d.attempts, d.claimed_by = lease, d.attempts + 1, worker
            ev, sub = events[d.seq], subs[d.subscription_id]
            jobs.append(Job(d.id, d.seq, sub.url, sub.secret, body_of(ev), ev.type, d.attempts))
        return jobs


def post(client: httpx.Client, job: Job, timeout: float) -> tuple[int | None, str | None, float]:
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Ymt-Event-Id": str(job.seq),
               "X-Ymt-Event-Type": job.type, "X-Ymt-Signature": sign(job.secret, job.body),
               "X-Ymt-Timestamp": str(int(time.time())), "X-Ymt-Delivery-Attempt": str(job.attempts),
               "User-Agent": "yimatong-webhook/1"}
    start = time.perf_counter()
    try:
        r = client.post(job.url, content=job.body, headers=headers, timeout=timeout)
        error = None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"
        return r.status_code, error, (time.perf_counter() - start) * 1000
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:200]}", (time.perf_counter() - start) * 1000


def record(app: App, outcomes: list[tuple[Job, int | None, str | None, float]]) -> None:
    """Write the outcome of a whole batch in one transaction."""
    if not outcomes:
        return
    with app.db.write(exclusive=False) as session:
        for job, status, error, ms in outcomes:
            _record_one(session, app, job, status, error, ms)


def _record_one(session: Session, app: App, job: Job, status: int | None, error: str | None, ms: float) -> None:
    s = app.settings
    d = session.get(Delivery, job.delivery_id)
    if d is None:
        return
    session.add(DeliveryAttempt(delivery_id=d.id, at=now(), status_code=status, error=error, duration_ms=ms))
    d.last_status, d.last_error, d.claimed_by = status, error, None
    if error is None:
        d.state, d.delivered_at = "done", now()
        return
    started = aware(d.created_at) if d.created_at else now()
    delay = random.uniform(0, min(s.webhook_max_delay_seconds, s.webhook_base_delay_seconds * 2 ** (d.attempts - 1)))
    if (now() - started).total_seconds() + delay > s.webhook_horizon_seconds:
        d.state = "parked"
        session.execute(update(Subscription).where(Subscription.id == d.subscription_id).values(parked=True))
        log.warning("delivery %s of event %s parked after %s attempts: %s", d.id, d.seq, d.attempts, error)
    else:
        d.next_attempt_at = now() + timedelta(seconds=delay)


def run_once(app: App, client: httpx.Client, pool: ThreadPoolExecutor, worker: str) -> int:
    """Claim one batch and deliver it; returns how many were attempted."""
    jobs = claim(app, worker)
    timeout = app.settings.webhook_timeout_seconds
    outcomes = pool.map(lambda j: post(client, j, timeout), jobs)
    record(app, [(job, *outcome) for job, outcome in zip(jobs, outcomes, strict=True)])
    return len(jobs)


def loop(app: App, stop: threading.Event, worker: str | None = None) -> None:
    worker = worker or f"worker-{uuid.uuid4().hex[:8]}"
    with httpx.Client(follow_redirects=False) as client, \
            ThreadPoolExecutor(max_workers=app.settings.webhook_concurrency) as pool:
        while not stop.is_set():
            try:
                busy = run_once(app, client, pool, worker)
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                log.exception("delivery loop error")
                busy = 0
            if not busy:
                stop.wait(app.settings.webhook_poll_seconds)


def start_in_process(app: App):  # type: ignore[no-untyped-def]
    """Run the loop in a thread inside `ymt serve`; returns an async stop function for the lifespan."""
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(app, stop, "serve"), name="ymt-delivery", daemon=True)
    thread.start()

    async def shutdown() -> None:
        stop.set()
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 15)

    return shutdown


def redeliver(session: Session, subscription_id: int) -> int:
    """Resume a parked subscription: its parked deliveries go back to the queue, in order."""
    n = session.execute(update(Delivery).where(Delivery.subscription_id == subscription_id,
                                               Delivery.state == "parked")
                        .values(state="pending", next_attempt_at=now(), created_at=now())).rowcount
    session.execute(update(Subscription).where(Subscription.id == subscription_id).values(parked=False))
    return int(n or 0)
