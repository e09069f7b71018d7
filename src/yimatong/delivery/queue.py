"""The delivery queue over the outbox: claims, outcomes, redelivery and purge.

Each subscription has one *head* per ordering key (the project code, '' for events without one): the oldest
delivery of that key not yet done (`DeliveryHead`). Only heads are claimable, so a project's events reach a
receiver in order, and a claim reads due heads of ready subscriptions through an index — O(batch), whatever the
backlog behind the heads. Inactive, paused and parked subscriptions are left out before any head is read.

A claim is one short transaction (a few indexed statements; PostgreSQL: FOR UPDATE SKIP LOCKED, so workers
never take the same head) that leases the heads by moving `next_attempt_at` past the time the batch can take.
The POSTs run outside any transaction; each outcome is recorded in its own transaction as soon as the receiver
answers, so a worker killed mid-batch leaves only its in-flight deliveries to be sent again when their lease
runs out (at least once; receivers drop duplicates by X-Ymt-Event-Id).

Heads and the fan-out (`ledger.outbox.enqueue_many`) meet on the head row: whoever changes or deletes a head
locks it first and only then looks for the next delivery, and the fan-out inserts heads with an upsert that
locks an existing one — so a delivery queued while the last one of its key is being recorded always ends up
with a head.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import queue as stdqueue
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from yimatong.config import Settings
from yimatong.core.context import App, aware, now
from yimatong.ledger.log import event_dict
from yimatong.storage.counters import next_counter
from yimatong.storage.db import is_busy
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import Delivery, DeliveryAttempt, DeliveryHead, Event, Subscription, table

log = logging.getLogger("yimatong.delivery")

LEASE_MARGIN_SECONDS = 2.0
UNDELIVERED = ("pending", "parked")
COUNTER_SHARDS = 8  # outcome counters are spread over a few rows so that workers do not queue on one

_HEADS = table(DeliveryHead)
_READY = (select(Subscription.id).where(Subscription.active.is_(True), Subscription.paused.is_(False),
                                        Subscription.parked.is_(False)))


@dataclass
class Job:
    subscription_id: int
    key: str
    seq: int
    delivery_id: int
    url: str
    secret: str
    previous_secret: str | None  # while a rotation's overlap window is open
    body: bytes
    type: str
    attempt: int
    worker: str
    deadline: float  # time.monotonic() after which it is not sent any more: its lease would end mid-request


def key_of(code: str | None) -> str:
    return code or ""


def _of_key(key: str) -> ColumnElement[bool]:
    return Delivery.code.is_(None) if key == "" else Delivery.code == key


def lease_seconds(settings: Settings, n: int) -> float:
    """Long enough for n deliveries through the worker's parallel POSTs, each up to the timeout."""
    rounds = math.ceil(n / max(1, settings.webhook_concurrency))
    return settings.webhook_timeout_seconds * rounds + 2 * LEASE_MARGIN_SECONDS


# --- claims ---------------------------------------------------------------------------------------------------

def claim(app: App, worker: str) -> list[Job]:
    s = app.settings
    t = now()
    lease = lease_seconds(s, s.webhook_batch)
    started = time.monotonic()
    # not exclusive: claims take no counter, project or ledger lock and must not wait behind an import
    with app.db.write(exclusive=False) as session:
        heads = claim_heads(session, s.webhook_batch, worker, t, t + timedelta(seconds=lease))
    if not heads:
        return []
    return _jobs(app, heads, worker, started + lease - s.webhook_timeout_seconds - LEASE_MARGIN_SECONDS)


def claim_heads(session: Session, limit: int, worker: str, at: datetime, lease_until: datetime
                ) -> list[tuple[int, str, int]]:
    """Lease up to `limit` due heads of ready subscriptions; returns (subscription_id, key, seq) of each.
    Statements: the ready subscriptions (a handful, indexed), one indexed LIMIT query per subscription until
    the batch is full, one update."""
    subs = list(session.execute(_READY).scalars())
    random.shuffle(subs)  # no subscription always first: each gets a fair share of a full batch
    sql = dialect_of(session)
    if subs:
        sql.scan_in_index_order(session)
    picked: list[tuple[int, int, str, int]] = []
    for sid in subs:
        room = limit - len(picked)
        if room <= 0:
            break
        stmt = (
            select(DeliveryHead.id, DeliveryHead.subscription_id, DeliveryHead.key, DeliveryHead.seq)
            .where(DeliveryHead.subscription_id == sid, DeliveryHead.next_attempt_at <= at)
            .order_by(DeliveryHead.next_attempt_at).limit(room))
        rows = session.execute(sql.for_claim(cast("Select[Any]", stmt), of=DeliveryHead))
        picked += [(r[0], r[1], r[2], r[3]) for r in rows]
    if picked:
        session.execute(update(_HEADS).where(_HEADS.c.id.in_([p[0] for p in picked]))
                        .values(next_attempt_at=lease_until, claimed_by=worker))
    return [(sid, key, seq) for _, sid, key, seq in picked]


def _jobs(app: App, heads: list[tuple[int, str, int]], worker: str, deadline: float) -> list[Job]:
    """What to send for each leased head, read after the claim committed (no lock held meanwhile)."""
    seqs = {seq for _, _, seq in heads}
    sids = {sid for sid, _, _ in heads}
    t = now()
    with app.db.read() as session:
        subs = {sub.id: sub for sub in session.execute(select(Subscription).where(Subscription.id.in_(sids)))
                .scalars()}
        deliveries = {(d.subscription_id, d.seq): d for d in session.execute(
            select(Delivery).where(Delivery.subscription_id.in_(sids), Delivery.seq.in_(seqs))).scalars()}
        events = {e.seq: e for e in session.execute(select(Event).where(Event.seq.in_(seqs))).scalars()}
    jobs, stale = [], []
    for sid, key, seq in heads:
        d, sub, ev = deliveries.get((sid, seq)), subs[sid], events.get(seq)
        if d is None or ev is None or d.state == "done":
            stale.append((sid, key, seq))  # purged meanwhile: the head moves on
            continue
        previous = sub.previous_secret if sub.previous_secret_until and aware(sub.previous_secret_until) > t else None
        jobs.append(Job(sid, key, seq, d.id, sub.url, sub.secret, previous, body_of(ev), ev.type, d.attempts + 1,
                        worker, deadline))
    if stale:
        with app.db.write(exclusive=False) as session:
            for sid, key, seq in stale:
                head = _locked_head(session, sid, key)
                if head is not None and head.seq == seq:
                    _advance(session, head)
    return jobs


def body_of(ev: Event) -> bytes:
    return json.dumps(event_dict(ev), ensure_ascii=False, separators=(",", ":")).encode()


def release(app: App, job: Job) -> None:
    """Give a claimed head back without an attempt (its lease would have run out before the answer)."""
    with app.db.write(exclusive=False) as session:
        session.execute(update(_HEADS).where(_HEADS.c.subscription_id == job.subscription_id,
                                             _HEADS.c.key == job.key, _HEADS.c.seq == job.seq,
                                             _HEADS.c.claimed_by == job.worker)
                        .values(next_attempt_at=now(), claimed_by=None))


# --- outcomes -------------------------------------------------------------------------------------------------

Outcome = tuple[Job, int | None, str | None, float]


def record(app: App, job: Job, status: int | None, error: str | None, ms: float) -> None:
    """Record one delivery's outcome in its own transaction, right after the receiver answered."""
    with app.db.write(exclusive=False) as session:
        record_in(session, app.settings, job, status, error, ms)


class Recorder:
    """Records outcomes as they come, each as soon as it is answered: one thread writes everything answered
    meanwhile in one short transaction (group commit) while the POST threads wait for it. Otherwise they would
    queue on SQLite's file lock (whose busy handler sleeps between tries) or pay a transaction each.

    A group never waits for a head another transaction holds (it locks its heads with SKIP LOCKED, then needs
    no other lock anyone holds for long), so it cannot deadlock against a fan-out that locks heads in its own
    order; the outcomes whose head it could not take are then recorded one by one, each waiting normally."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._queue: stdqueue.SimpleQueue[tuple[Outcome, Future[None]] | None] = stdqueue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ymt-record", daemon=True)
        self._thread.start()

    def record(self, job: Job, status: int | None, error: str | None, ms: float) -> None:
        done: Future[None] = Future()
        self._queue.put(((job, status, error, ms), done))
        done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            items = [item]
            while True:
                try:
                    more = self._queue.get_nowait()
                except stdqueue.Empty:
                    break
                if more is None:
                    self._write(items)
                    return
                items.append(more)
            self._write(items)

    def _write(self, items: list[tuple[Outcome, Future[None]]]) -> None:
        later: list[tuple[Outcome, Future[None]]] = []
        try:
            with self.app.db.write(exclusive=False) as session:
                skipped = record_many(session, self.app.settings, [outcome for outcome, _ in items],
                                      wait=len(items) == 1)
            later = [item for item in items if item[0] in skipped]
        except Exception as exc:  # noqa: BLE001 - handed to the callers
            if len(items) == 1 or is_busy(exc):  # the database is held (an import): all wait for their lease
                for _, done in items:
                    done.set_exception(exc)
                return
            later = items  # one bad outcome (or a deadlock victim) must not lose the others: one by one
        for item in items:
            if item not in later:
                item[1].set_result(None)
        for item in later:
            self._write([item])


def record_in(session: Session, s: Settings, job: Job, status: int | None, error: str | None, ms: float) -> None:
    record_many(session, s, [(job, status, error, ms)])


def record_many(session: Session, s: Settings, outcomes: list[Outcome], wait: bool = True) -> list[Outcome]:
    """Write outcomes: an attempt each, the delivery's new state, the outcome counters, and the heads — a
    delivered head moves to the next delivery of its key, a failed one is scheduled for its retry. The heads are
    locked first (see the module doc). Core statements over all outcomes at once: this is the drain's hot path.

    With wait=False heads held by other transactions are skipped, and so are their outcomes: returned, not
    written (a head that no longer exists looks the same; the caller records those with wait=True)."""
    t = now()
    heads = _locked_heads(session, outcomes, wait)
    if not wait:
        skipped = [o for o in outcomes if (o[0].subscription_id, o[0].key) not in heads]
        outcomes = [o for o in outcomes if (o[0].subscription_id, o[0].key) in heads]
        if not outcomes:
            return skipped
    else:
        skipped = []
    deliveries = {r.id: r for r in session.execute(
        select(_D.c.id, _D.c.state, _D.c.attempts, _D.c.created_at, _D.c.next_attempt_at)
        .where(_D.c.id.in_([job.delivery_id for job, *_ in outcomes])))}
    attempts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    counts: collections.Counter[tuple[str, int]] = collections.Counter()
    advance: list[Any] = []
    retry_heads: list[dict[str, Any]] = []
    parked_subs: set[int] = set()
    for job, status, error, ms in outcomes:
        head = heads.get((job.subscription_id, job.key))
        at_head = head is not None and head.seq == job.seq
        d = deliveries.get(job.delivery_id)
        if d is None or d.state == "done":  # purged meanwhile, or delivered by another worker after our lease
            if at_head and d is None:
                advance.append(head)
            continue
        n = d.attempts + 1
        attempts.append({"delivery_id": d.id, "at": t, "status_code": status, "error": error, "duration_ms": ms})
        counts["done" if error is None else "failed", job.subscription_id] += 1
        change = {"b_id": d.id, "b_attempts": n, "b_status": status, "b_error": error, "b_worker": job.worker,
                  "b_state": "done", "b_delivered": t if error is None else None, "b_next": d.next_attempt_at}
        changes.append(change)
        if error is None:
            if at_head:
                advance.append(head)
            continue
        started = aware(d.created_at) if d.created_at else t
        delay = random.uniform(0, min(s.webhook_max_delay_seconds, s.webhook_base_delay_seconds * 2 ** (n - 1)))
        if (t - started).total_seconds() + delay > s.webhook_horizon_seconds:
            change["b_state"] = "parked"
            parked_subs.add(job.subscription_id)
            log.warning("delivery %s of event %s parked after %s attempts: %s", d.id, job.seq, n, error)
            retry_at = t
        else:
            change["b_state"], change["b_next"] = "pending", t + timedelta(seconds=delay)
            retry_at = change["b_next"]
        if head is not None and at_head and head.claimed_by == job.worker:  # still our lease: the retry is scheduled on the head
            retry_heads.append({"b_id": head.id, "b_next": retry_at})
    if attempts:
        session.execute(insert(_A), attempts)
        session.execute(_CHANGE_DELIVERY, changes)
    shard = random.randrange(COUNTER_SHARDS)
    for (outcome, sid), n in sorted(counts.items()):  # rows locked in one order by every transaction
        next_counter(session, f"webhook.{outcome}.{sid}.{shard}", n)
    for sid in sorted(parked_subs):
        session.execute(update(Subscription).where(Subscription.id == sid).values(parked=True))
    if retry_heads:
        session.execute(_RETRY_HEAD, retry_heads)
    _advance_many(session, advance)
    return skipped


_D = table(Delivery)
_A = table(DeliveryAttempt)
_CHANGE_DELIVERY = (update(_D).where(_D.c.id == bindparam("b_id"))
                    .values(attempts=bindparam("b_attempts"), last_status=bindparam("b_status"),
                            last_error=bindparam("b_error"), claimed_by=bindparam("b_worker"),
                            state=bindparam("b_state"), delivered_at=bindparam("b_delivered"),
                            next_attempt_at=bindparam("b_next")))
_RETRY_HEAD = (update(_HEADS).where(_HEADS.c.id == bindparam("b_id"))
               .values(next_attempt_at=bindparam("b_next"), claimed_by=None))
_MOVE_HEAD = (update(_HEADS).where(_HEADS.c.id == bindparam("b_id"))
              .values(seq=bindparam("b_seq"), next_attempt_at=bindparam("b_next"), claimed_by=None))


def _locked_heads(session: Session, outcomes: list[Outcome], wait: bool) -> dict[tuple[int, str], Any]:
    keys: dict[int, set[str]] = collections.defaultdict(set)
    for job, *_ in outcomes:
        keys[job.subscription_id].add(job.key)
    sql = dialect_of(session)
    lock = sql.for_update if wait else sql.for_claim
    heads = {}
    for sid, wanted in sorted(keys.items()):
        stmt = (select(_HEADS.c.id, _HEADS.c.subscription_id, _HEADS.c.key, _HEADS.c.seq, _HEADS.c.claimed_by)
                .where(_HEADS.c.subscription_id == sid, _HEADS.c.key.in_(wanted)).order_by(_HEADS.c.key))
        for row in session.execute(lock(stmt, of=_HEADS)):
            heads[(row.subscription_id, row.key)] = row
    return heads


def _advance_many(session: Session, heads: list[Any]) -> None:
    """Move (locked) heads to the next undelivered delivery of their key, or drop those with none. All
    deliveries after a head are undelivered (only heads are ever sent), so each is one index step."""
    moves, gone = [], []
    for head in heads:
        nxt = session.execute(_next_after(head.subscription_id, head.key, head.seq)).first()
        if nxt is None:
            gone.append(head.id)
        else:
            moves.append({"b_id": head.id, "b_seq": nxt.seq, "b_next": nxt.next_attempt_at})
    if gone:
        session.execute(delete(_HEADS).where(_HEADS.c.id.in_(gone)))
    if moves:
        session.execute(_MOVE_HEAD, moves)


def _next_after(sid: int, key: str, seq: int) -> Any:
    stmt = _NEXT_NULL if key == "" else _NEXT_CODE
    return stmt.params(sid=sid, key=key, seq=seq)


def _next_stmt(code_clause: Any) -> Any:
    # built once: this runs for every delivered head
    return (select(Delivery.seq, Delivery.next_attempt_at)
            .where(Delivery.subscription_id == bindparam("sid"), code_clause, Delivery.seq > bindparam("seq"),
                   Delivery.state.in_(UNDELIVERED))
            .order_by(Delivery.seq).limit(1))


_NEXT_CODE = _next_stmt(Delivery.code == bindparam("key"))
_NEXT_NULL = _next_stmt(Delivery.code.is_(None))


def _locked_head(session: Session, sid: int, key: str) -> DeliveryHead | None:
    stmt = select(DeliveryHead).where(DeliveryHead.subscription_id == sid, DeliveryHead.key == key)
    return session.execute(dialect_of(session).for_update(stmt, of=DeliveryHead)).scalars().first()


def _advance(session: Session, head: DeliveryHead) -> None:
    """`_advance_many` for one head loaded as an object."""
    nxt = session.execute(_next_after(head.subscription_id, head.key, head.seq)).first()
    if nxt is None:
        session.delete(head)
    else:
        head.seq, head.next_attempt_at, head.claimed_by = nxt.seq, nxt.next_attempt_at, None


# --- operations on a subscription --------------------------------------------------------------------------------

def redeliver(session: Session, subscription_id: int) -> int:
    """Resume a parked subscription: its parked deliveries go back to the queue, in order."""
    t = now()
    parked = select(Delivery.seq).where(Delivery.subscription_id == subscription_id, Delivery.state == "parked")
    session.execute(update(_HEADS).where(_HEADS.c.subscription_id == subscription_id, _HEADS.c.seq.in_(parked))
                    .values(next_attempt_at=t, claimed_by=None))
    result = session.execute(update(Delivery).where(Delivery.subscription_id == subscription_id,
                                                    Delivery.state == "parked")
                             .values(state="pending", next_attempt_at=t, created_at=t))
    n = getattr(result, "rowcount", 0)  # a CursorResult for an UPDATE
    session.execute(update(Subscription).where(Subscription.id == subscription_id).values(parked=False))
    return int(n or 0)


def purge(app: App, subscription_id: int, batch: int = 1000) -> int:
    """Drop a subscription's undelivered (pending and parked) deliveries queued so far, in short transactions
    of `batch` rows each so that other writers get through between them; then move its heads on and clear
    `parked`. Returns how many were dropped."""
    with app.db.read() as session:
        last = session.execute(select(func.max(Delivery.seq)).where(
            Delivery.subscription_id == subscription_id)).scalar()
    if last is None:
        return 0
    dropped = 0
    while True:
        with app.db.write(exclusive=False) as session:
            ids = list(session.execute(select(Delivery.id).where(
                Delivery.subscription_id == subscription_id, Delivery.state.in_(UNDELIVERED),
                Delivery.seq <= last).limit(batch)).scalars())
            if not ids:
                break
            session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)))
            session.execute(delete(Delivery).where(Delivery.id.in_(ids)))
            dropped += len(ids)
    _reset_heads(app, subscription_id, last, batch)
    with app.db.write(exclusive=False) as session:
        session.execute(update(Subscription).where(Subscription.id == subscription_id).values(parked=False))
    log.info("subscription %s: %s undelivered deliveries purged", subscription_id, dropped)
    return dropped


def _reset_heads(app: App, subscription_id: int, last: int, batch: int) -> None:
    """Heads that pointed at purged deliveries move to what was queued after the purge began, or go."""
    after = 0
    while True:
        with app.db.write(exclusive=False) as session:
            stmt = (select(DeliveryHead).where(DeliveryHead.subscription_id == subscription_id,
                                               DeliveryHead.id > after, DeliveryHead.seq <= last)
                    .order_by(DeliveryHead.id).limit(batch))
            heads = list(session.execute(dialect_of(session).for_update(stmt, of=DeliveryHead)).scalars())
            if not heads:
                return
            for head in heads:
                after = head.id
                _advance(session, head)
