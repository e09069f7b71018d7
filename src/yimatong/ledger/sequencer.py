"""The ledger sequencer (PostgreSQL): writers commit their events unsequenced (`pending_events`); the one process
holding the sequencer's advisory lock gives them seq, prev_hash and hash in small batches and moves them into
`events`, where every reader reads. See docs/ARCHITECTURE.md, "The ledger sequencer".

Who sequences:
- the writer itself, right after its commit (`after_commit`, called by `uow.transaction`): it waits briefly for
  the lock and sequences until its own events are in, so that a client that wrote and then reads the feed sees
  its event (the writers queued meanwhile usually find their events sequenced already: a group commit);
- a background leader in `ymt serve` and `ymt worker` (`start_in_process`) that drains what a writer could not
  (a crash between its commit and the sequencing, or a writer that gave up waiting);
- `ymt ledger sequence` by hand.
Any number of them may run: the lock makes one sequence at a time, and any of them takes over from a dead one
(a transaction-level lock dies with its connection).

On SQLite the writer appends directly (`log.record`): its single writer is the ledger's order already.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from yimatong.core.context import App, now
from yimatong.ledger.log import ORDER_LOCK_KEY, integrate_pending
from yimatong.storage.db import is_busy
from yimatong.storage.models import PendingEvent

log = logging.getLogger("yimatong.sequencer")


def _batch(app: App) -> int:
    return max(1, app.settings.sequencer_batch)


def sequence_once(app: App, wait_ms: int | None = None) -> int | None:
    """One batch in one transaction: take the lock (at once, or waiting up to wait_ms), sequence up to a batch,
    commit. None when another process holds the lock (it will sequence what is queued); else how many."""
    try:
        with app.db.write() as session:
            if not _lock(app, session, wait_ms):
                return None
            return integrate_pending(session, _batch(app))
    except OperationalError as exc:
        if is_busy(exc):  # waited wait_ms for the holder: it is sequencing, our rows included
            return None
        raise


def _lock(app: App, session: Session, wait_ms: int | None) -> bool:
    if app.db.sql.try_lock(session, ORDER_LOCK_KEY):  # the usual case: one round trip
        return True
    if wait_ms is None:
        return False
    app.db.sql.lock_for_writers(session, ORDER_LOCK_KEY, max(1, wait_ms))
    return True


def drain(app: App, wait_ms: int | None = None) -> int:
    """Sequence batches until the queue is empty or another process holds the lock. Returns how many."""
    total = 0
    while True:
        n = sequence_once(app, wait_ms)
        if not n:
            return total
        total += n


def after_commit(app: App, last_id: int) -> None:
    """Right after a writer's commit: see its events (ids up to last_id) into the ledger, within
    `sequencer_wait_seconds`. If the lock is free, sequence (everything queued, ours included); if a sequencer
    is at work, wait for its batch to commit — with a shared hold, so that the writers waiting alongside do not
    queue behind each other — and look whether ours were in it. Never raises: the write is committed, and
    whatever is left the background sequencer (or `finish`) integrates."""
    deadline = time.monotonic() + app.settings.sequencer_wait_seconds
    batch = _batch(app)
    try:
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                _LEFT.add(app)
                return
            with app.db.write() as session:
                if app.db.sql.try_lock(session, ORDER_LOCK_KEY):
                    if integrate_pending(session, batch) < batch:
                        return  # the queue is empty as of a read after our commit: ours are in
                    continue  # a full batch: more may be queued before ours
                app.db.sql.wait_for_lock(session, ORDER_LOCK_KEY, left_ms)
                if not _queued(session, last_id):
                    return
            # still queued: that batch was read before our commit; the next one is ours to take or wait for
    except OperationalError as exc:
        _LEFT.add(app)
        if not is_busy(exc):
            log.exception("sequencing after commit failed; the background sequencer will integrate the events")
    except Exception:  # noqa: BLE001 - committed already; the background sequencer will pick it up
        _LEFT.add(app)
        log.exception("sequencing after commit failed; the background sequencer will integrate the events")


# Apps whose writers left events queued (gave up waiting): a command-line process drains before it exits
# (`finish`), since it runs no background sequencer.
_LEFT: weakref.WeakSet[App] = weakref.WeakSet()


def finish(app: App) -> int:
    """At the end of a short-lived process (a `ymt` command): if a writer here left events queued, sequence
    them now, waiting for the lock as long as a write would. Returns how many."""
    if app not in _LEFT:
        return 0
    _LEFT.discard(app)
    return drain(app, wait_ms=int(app.settings.write_wait_seconds * 1000))


def _queued(session: Session, last_id: int) -> bool:
    return session.execute(select(PendingEvent.id).where(PendingEvent.id <= last_id).limit(1)).first() is not None


def pending(session: Session, older_than_seconds: float = 0.0) -> tuple[int, int | None]:
    """(how many queued events are older than the given age, the oldest one's age in whole seconds)."""
    cutoff = now() - timedelta(seconds=older_than_seconds)
    count, oldest = session.execute(select(func.count(), func.min(PendingEvent.queued_at))
                                    .where(PendingEvent.queued_at <= cutoff)).one()
    if not count or oldest is None:
        return 0, None
    if oldest.tzinfo is None:  # SQLite gives naive UTC back
        oldest = oldest.replace(tzinfo=now().tzinfo)
    return int(count), int((now() - oldest).total_seconds())


def loop(app: App, stop: threading.Event) -> None:
    """The background leader: every `sequencer_poll_seconds`, drain whatever is queued."""
    interval = app.settings.sequencer_poll_seconds
    while not stop.is_set():
        try:
            drain(app)
        except Exception:  # noqa: BLE001 - a database hiccup must not end the sequencer
            log.exception("sequencer error")
        stop.wait(interval)


def start(app: App) -> Callable[[], None] | None:
    """Run the background leader in a thread (`ymt serve`, `ymt worker`); None when switched off
    (`sequencer_poll_seconds` 0) or needless (SQLite appends directly). Returns the function that stops it."""
    if app.db.sql.single_writer or app.settings.sequencer_poll_seconds <= 0:
        return None
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(app, stop), name="ymt-sequencer", daemon=True)
    thread.start()

    def shutdown() -> None:
        stop.set()
        thread.join(15)

    return shutdown


def start_in_process(app: App) -> Callable[[], Awaitable[None]] | None:
    """`start` for the lifespan of `ymt serve`: an async stop function."""
    stop = start(app)
    if stop is None:
        return None

    async def shutdown() -> None:
        await asyncio.get_running_loop().run_in_executor(None, stop)

    return shutdown
