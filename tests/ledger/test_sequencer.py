"""The ledger sequencer: writers of different projects do not wait for each other (PostgreSQL), and the ledger
stays one gap-free, verifiable order that a feed reader never sees change after the fact."""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import is_pg, project_body
from yimatong.config import Settings
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain import codes as code_rules
from yimatong.ledger import feed, sequencer
from yimatong.ledger import verify as verification
from yimatong.profiles.loader import load_profile
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.storage.models import Event, PendingEvent
from yimatong.uow import UnitOfWork, run, transaction

ADMIN = Actor("seq-test", "admin")
DIVISIONS = ["430702", "430703", "430721", "430722", "430723", "430724", "430725", "430726"]
BODY = {k: v for k, v in project_body().items() if k != "parcels"}
pg_only = pytest.mark.skipif(not is_pg(), reason="SQLite has one writer by design: nothing to run side by side")


@pytest.fixture
def impatient(settings: Settings) -> Iterator[App]:
    """The service with a short write wait: a writer stuck behind another fails fast instead of after 30 s."""
    app = App(settings.model_copy(update={"write_wait_seconds": 3.0}), load_profile("changde"))
    yield app
    app.close()


def _feed(app: App, after: int = 0) -> list[Any]:
    with app.db.read() as session:
        items: list[Any] = []
        while True:
            page = feed.page(session, View(app.profile.policy, ADMIN), after, 1000)
            items += page["items"]
            if not page["next_cursor"]:
                return items
            after = int(page["next_cursor"])


def _head(app: App) -> int:
    with app.db.read() as session:
        return int(session.execute(select(func.coalesce(func.max(Event.seq), 0))).scalar_one())


def _verify(app: App) -> verification.VerifyReport:
    with app.db.read() as session:
        return verification.verify(session, app.blobs, pending_after=0)


@pg_only
def test_a_writer_commits_while_another_holds_its_transaction_open(impatient: App) -> None:
    """Writer 1 changes project A and keeps its transaction open; writer 2 changes project B meanwhile, commits
    first, and its event is in the feed at once; writer 1's comes after it. (With the writer-wide lock writer 2
    waited for writer 1 and gave up.)"""
    app = impatient
    with transaction(app, ADMIN) as uow:
        a = registry.register(uow, BODY | {"name": "甲项目", "division": "430702"}).code
        b = registry.register(uow, BODY | {"name": "乙项目", "division": "430703"}).code
    base = _head(app)
    inside, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        try:
            with transaction(app, ADMIN) as uow:
                stages.set_stage(uow, a, "pre_review", {"status": "done"})
                uow.flush_events()  # its event is queued inside the open transaction
                inside.set()
                assert release.wait(60)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)
            inside.set()

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(60)
        with transaction(app, ADMIN) as uow:  # writer 2, while writer 1 is open
            stages.set_stage(uow, b, "pre_review", {"status": "done"})
        seen = _feed(app, base)
        assert [(e["code"], e["type"]) for e in seen] == [(b, "stage.changed")]  # read your own write
    finally:
        release.set()
        t.join()
    assert not failures, failures
    seen = _feed(app, base)
    assert [e["code"] for e in seen] == [b, a]
    assert [e["seq"] for e in seen] == [base + 1, base + 2]
    report = _verify(app)
    assert report.ok, report.as_dict()


def test_a_feed_reader_never_sees_a_gap_or_a_change_while_eight_writers_run(ymt: App) -> None:
    """Eight writers in eight divisions register and change projects while a reader follows the feed: every
    page continues the last one without a gap, what was read never changes, and in the end every event is there
    exactly once, in a ledger that verifies, with gap-free serials per division."""
    app = ymt
    base = _head(app)
    done = threading.Event()
    errors: list[BaseException] = []
    read: list[dict[str, Any]] = []

    def writer(division: str) -> None:
        try:
            for i in range(6):
                code = run(app, ADMIN, lambda uow, i=i: registry.register(
                    uow, BODY | {"name": f"{division}第{i}号工程", "division": division}).code)
                run(app, ADMIN, lambda uow, code=code: stages.set_stage(uow, code, "pre_review", {"status": "done"}))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    def reader() -> None:
        after = base
        try:
            while True:
                finished = done.is_set()
                page = _feed(app, after)
                for e in page:
                    assert e["seq"] == after + 1, (after, e["seq"])  # strictly increasing, no gap
                    after = e["seq"]
                read.extend(page)
                if finished:
                    return
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    follower = threading.Thread(target=reader)
    follower.start()
    threads = [threading.Thread(target=writer, args=(d,)) for d in DIVISIONS]
    _start_and_join(threads)
    sequencer.drain(app)  # whatever a writer left (none in the normal case)
    done.set()
    follower.join()
    assert not errors, errors
    final = _feed(app, base)
    assert [e["seq"] for e in final] == list(range(base + 1, base + 1 + len(DIVISIONS) * 12))
    assert [(e["seq"], e["hash"]) for e in read] == [(e["seq"], e["hash"]) for e in final]  # read once, unchanged
    assert Tally(e["type"] for e in final) == {"project.registered": 48, "stage.changed": 48}
    by_scope: dict[str, list[int]] = {}
    for e in final:
        if e["type"] == "project.registered":
            serial = code_rules.parse_code(app.profile, e["code"]).value("serial")
            by_scope.setdefault(e["code"][:-len(serial)], []).append(int(serial))
    assert len(by_scope) == len(DIVISIONS)
    assert all(sorted(s) == list(range(1, 7)) for s in by_scope.values()), by_scope
    report = _verify(app)
    assert report.ok, report.as_dict()


def _start_and_join(threads: list[threading.Thread]) -> None:
    for th in threads:
        th.start()
    for th in threads:
        th.join()


@pg_only
def test_events_left_queued_are_reported_then_sequenced_by_any_process(settings: Settings) -> None:
    """A writer that did not sequence (it crashed right after its commit; here: switched off) leaves its events
    queued: the feed does not show them, verify reports them, and the next sequencer integrates them in order."""
    off = App(settings.model_copy(update={"sequence_after_commit": False}), load_profile("changde"))
    try:
        base = _head(off)
        names = [run(off, ADMIN, lambda uow, i=i: registry.register(uow, BODY | {"name": f"排队项目{i}"}).code)
                 for i in range(3)]
        assert _feed(off, base) == []
        with off.db.read() as session:
            assert session.execute(select(func.count()).select_from(PendingEvent)).scalar_one() == 3
        report = _verify(off)
        assert not report.ok and report.problems[0].check == "pending", report.as_dict()
        assert sequencer.drain(off) == 3
        assert [e["code"] for e in _feed(off, base)] == names
        assert _verify(off).ok
    finally:
        off.close()


@pg_only
def test_one_sequencer_at_a_time(ymt: App) -> None:
    """While one transaction holds the sequencer's lock, another sequencer gives way at once (the holder
    integrates what is queued); once it commits the other takes over."""
    off = App(ymt.settings.model_copy(update={"sequence_after_commit": False}), load_profile("changde"))
    try:
        run(off, ADMIN, lambda uow: registry.register(uow, BODY).code)
        with ymt.db.write() as session:
            assert ymt.db.sql.try_lock(session, sequencer.ORDER_LOCK_KEY)
            assert sequencer.sequence_once(off) is None  # someone else is the sequencer
            assert sequencer.drain(off) == 0
        assert sequencer.drain(off) == 1  # the lock went with the holder's commit
    finally:
        off.close()


def test_two_processes_and_a_rolled_back_append_keep_one_verifiable_tree(settings: Settings) -> None:
    """Appenders keep the Merkle frontier of their last append (registration's hot path): two processes (two
    engines) take turns, and one append is rolled back after its events were hashed into the tree — each
    process must notice the tree it remembers is not the ledger's any more. Every stored node recomputes from
    the events (verify), and the feed is gap-free."""
    one, two = App(settings, load_profile("changde")), App(settings, load_profile("changde"))
    try:
        base = _head(one)
        for i in range(5):
            run(one, ADMIN, lambda uow, i=i: registry.register(uow, BODY | {"name": f"甲{i}"}))
            run(two, ADMIN, lambda uow, i=i: registry.register(uow, BODY | {"name": f"乙{i}"}))

        def fails_after_its_append(uow: UnitOfWork) -> None:
            registry.register(uow, BODY | {"name": "回滚"})
            uow.flush_events(last=True)  # hashed into the ledger and the tree in this transaction …
            raise RuntimeError("… which then rolls back")

        with pytest.raises(RuntimeError):
            run(one, ADMIN, fails_after_its_append)
        for i in range(3):  # the other process takes the seq the rolled-back append had, then this one goes on
            run(two, ADMIN, lambda uow, i=i: registry.register(uow, BODY | {"name": f"丙{i}"}))
            run(one, ADMIN, lambda uow, i=i: registry.register(uow, BODY | {"name": f"丁{i}"}))
        seen = _feed(one, base)
        assert [e["seq"] for e in seen] == list(range(base + 1, base + 17))
        assert "回滚" not in {e["data"]["project"]["name"] for e in seen}
        report = _verify(one)
        assert report.ok, report.as_dict()
    finally:
        one.close()
        two.close()
