"""Claims cost O(batch) whatever the backlog, and never hold the writers up (issue 10 item 2: with one receiver
down and 20 000 pending deliveries the claim took 29.6 s inside SQLite's write lock and registrations got 503;
on PostgreSQL 64 000 pending made every claim run for minutes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from conftest import free_port, is_pg, make_token, project_body
from integration.backlog import add_subscription, backlog
from yimatong.api.app import create_app
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.delivery import queue
from yimatong.delivery import worker as delivery
from yimatong.profiles.loader import load_profile
from yimatong.storage.models import DeliveryHead, Subscription


@contextmanager
def database_work(app: App) -> Iterator[list[int]]:
    """What the database does inside the block, in a unit that does not depend on the machine's speed:
    SQLite virtual-machine steps (a progress handler on every connection used), PostgreSQL rows fetched by
    scans of user tables in every transaction that commits (pg_stat_xact_user_tables, read when it begins and
    just before it commits)."""
    total = [0]
    if is_pg():
        # the backend's counts not yet flushed to the shared statistics: a difference over one transaction
        fetched = text("SELECT coalesce(sum(seq_tup_read), 0) + coalesce(sum(idx_tup_fetch), 0) "
                       "FROM pg_stat_xact_user_tables")
        start: dict[int, int] = {}

        def after_begin(session: Session, _tx, conn) -> None:  # type: ignore[no-untyped-def]
            start[id(session)] = int(conn.execute(fetched).scalar_one())

        def before_commit(session: Session) -> None:
            total[0] += int(session.execute(fetched).scalar_one()) - start.pop(id(session), 0)

        event.listen(Session, "after_begin", after_begin)
        event.listen(Session, "before_commit", before_commit)
        try:
            yield total
        finally:
            event.remove(Session, "after_begin", after_begin)
            event.remove(Session, "before_commit", before_commit)
        return

    def tick() -> int:
        total[0] += 1
        return 0

    def checkout(dbapi_conn, _rec, _proxy) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.set_progress_handler(tick, 100)

    def checkin(dbapi_conn, _rec) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.set_progress_handler(None, 0)

    engines = {app.db.engine, app.db.read_engine}
    for eng in engines:
        event.listen(eng, "checkout", checkout)
        event.listen(eng, "checkin", checkin)
    try:
        yield total
    finally:
        for eng in engines:
            event.remove(eng, "checkout", checkout)
            event.remove(eng, "checkin", checkin)


def claim_cost(app: App) -> int:
    with database_work(app) as work:
        jobs = delivery.claim(app, "probe")
    assert len(jobs) == app.settings.webhook_batch
    return work[0]


def only_active(app: App, sid: int) -> None:
    with app.db.write() as session:
        session.execute(update(Subscription).values(active=Subscription.id == sid))


def test_claim_costs_the_same_at_ten_times_the_backlog(ymt: App) -> None:
    """A claim of one batch costs about the same with 300 and with 6 000 pending deliveries, and a deleted
    subscription's 3 000 pending ones cost nothing."""
    down = f"http://127.0.0.1:{free_port()}/down"
    gone = add_subscription(ymt, down)
    backlog(ymt, 3000, keys=1000)
    with ymt.db.write() as session:
        session.execute(update(Subscription).where(Subscription.id == gone).values(active=False))
    add_subscription(ymt, down)
    backlog(ymt, 300, keys=100)
    cost_small = claim_cost(ymt)
    backlog(ymt, 5700, keys=1900)
    cost_large = claim_cost(ymt)
    # a claim that scans the backlog costs many times more at the larger backlog; an indexed one about the same
    assert cost_large < 2 * cost_small + 50, (cost_small, cost_large)


def test_registrations_succeed_while_a_dead_receiver_has_a_large_backlog(settings: Settings) -> None:
    """The delivery loop keeps claiming a 10 000-delivery backlog for a receiver that refuses connections while
    registrations come in; none of them may give up waiting for the database (3 s here)."""
    impatient = settings.model_copy(update={"write_wait_seconds": 3.0, "webhook_base_delay_seconds": 0.05,
                                            "webhook_max_delay_seconds": 0.2, "webhook_poll_seconds": 0.05})
    app = App(impatient, load_profile("changde"))
    stop = threading.Event()
    try:
        add_subscription(app, f"http://127.0.0.1:{free_port()}/down")
        backlog(app, 10_000, keys=2_000)
        headers = {"Authorization": f"Bearer {make_token(app, 'registrar')}"}
        loop = threading.Thread(target=delivery.loop, args=(app, stop, "busy"), daemon=True)
        loop.start()
        with TestClient(create_app(app.settings, app)) as client:
            statuses = [client.post("/api/v1/projects", json=project_body(name=f"积压期间的项目{i}"),
                                    headers=headers).status_code for i in range(15)]
        stop.set()
        loop.join(30)
        assert statuses == [201] * 15
        with app.db.read() as session:  # the loop really was working meanwhile
            attempts = session.execute(text("SELECT count(*) FROM delivery_attempts")).scalar_one()
        assert attempts >= 15
    finally:
        stop.set()
        app.close()


def test_a_delivery_queued_while_its_key_drains_keeps_a_head(ymt: App) -> None:
    """The last delivery of a project is being recorded (its head locked, nothing after it yet) while a new
    event of that project is queued: the new delivery must end up with a head, or it would never be sent."""
    sid = add_subscription(ymt, f"http://127.0.0.1:{free_port()}/x")
    (first,) = backlog(ymt, 1, keys=1)
    (job,) = delivery.claim(ymt, "w")
    queued = threading.Event()

    def enqueue() -> None:
        backlog(ymt, 1, keys=1)  # same key: the same project code
        queued.set()

    with ymt.db.write(exclusive=False) as session:
        queue._locked_head(session, sid, job.key)  # what recording does first
        other = threading.Thread(target=enqueue)
        other.start()
        if is_pg():  # the fan-out must wait for the head we hold, not pass it by
            wait_for_lock_wait(session)
        assert not queued.is_set()
        queue.record_in(session, ymt.settings, job, 200, None, 1.0)  # nothing after it is visible: head dropped
    other.join(30)
    assert queued.is_set()
    with ymt.db.read() as session:
        heads = [(h.key, h.seq) for h in session.execute(select(DeliveryHead)).scalars()]
    assert heads == [(job.key, first + 1)]
    assert [j.seq for j in delivery.claim(ymt, "w")] == [first + 1]


def wait_for_lock_wait(session: Session, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.execute(text("SELECT pg_stat_clear_snapshot()"))  # activity is read once per transaction
        waiting = session.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                       "AND datname = current_database()")).scalar_one()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the fan-out did not wait for the locked head")
