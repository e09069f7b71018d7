"""The unit of work: the one way anything is written.

`run(app, actor, work)` opens the write transaction, hands `work` a UnitOfWork, and commits. The UnitOfWork
locks and checks the projects a command touches (`project(code, action)`: row lock, district scope, active,
the policy), stamps who and when on them once at the end, buffers the ledger events the command emits and records
them once, in order, at the end (or at `flush_events()` for a long import) — on PostgreSQL queued for the ledger
sequencer, which integrates them right after the commit (`ledger.sequencer`) — and owns the concurrency rule: a
PostgreSQL deadlock, serialisation failure or racing unique insert re-runs the whole command (commands are
functions of the database state, so re-running them is safe). There is no library-wide writer lock: writers
of different projects and serial scopes run side by side, ordered only by the rows they share. Commands — register, update, void, merge, split, stage change, inspection,
result add, parcel attach, review decide, import batch — are the same functions for the API, the web pages, the
CLI and the importer.

`run_idempotent` adds the Idempotency-Key rule of the contract: the same key with the same body replays the first
response (stored in the transaction of the write), the same key with another body is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, App, now
from yimatong.core.visibility import View
from yimatong.domain.enums import Confidentiality, ProjectStatus
from yimatong.domain.events import Payload
from yimatong.domain.ledger import canonical
from yimatong.domain.policy import Action, Policy
from yimatong.errors import Conflict, NotFound, invalid
from yimatong.ledger import log as ledger
from yimatong.ledger import sequencer
from yimatong.storage.models import IdempotencyRecord, Project

T = TypeVar("T")
RETRIES = 3
# PostgreSQL: deadlock_detected, serialization_failure, unique_violation — the transaction was rolled back and
# may be re-run (a foreign key or check violation is not a race: re-running would fail the same way)
RETRYABLE_SQLSTATES = ("40P01", "40001", "23505")


class UnitOfWork:
    """One write transaction of one actor. Commands receive it instead of a session."""

    def __init__(self, app: App, actor: Actor, session: Session) -> None:
        self.app, self.actor, self.session = app, actor, session
        self.profile = app.profile
        self.policy: Policy = app.profile.policy
        self.now: datetime = now()
        self._events: list[ledger.NewEvent] = []
        self._touched: dict[int, Project] = {}
        self.appended: list[Any] = []  # the events recorded: sequenced (SQLite) or queued (seq None)
        self.last_queued: int | None = None  # the highest pending id this unit queued, for the sequencer

    # --- checks -------------------------------------------------------------------------------------------------
    def allow(self, action: Action, *, stage: str | None = None, division: str | None = None,
              section: str | None = None) -> None:
        self.policy.check(self.actor, action, stage=stage, division=division, section=section)

    @property
    def view(self) -> View:
        return View(self.policy, self.actor)

    def project(self, code: str, action: Action, *, stage: str | None = None, active: bool = True,
                field: str = "code") -> Project:
        """The project of `code`, row-locked until commit and read afresh once the lock is ours (another writer
        may just have changed it), checked: it exists for this actor (404 otherwise, naming `field`), the actor
        may do `action` on it (403), and — unless `active=False` — it is active (409)."""
        stmt = (select(Project).where(Project.code == code).with_for_update()
                .execution_options(populate_existing=True))
        project = self.session.execute(stmt).scalars().first()
        if project is None:
            raise NotFound(f"项目码 {code} 不存在", [(field, "未登记的项目码")])
        self.allow(action, stage=stage, division=project.division)
        if active:
            require_active(project)
        self._touched[project.id] = project
        return project

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the unit of work that can fail alone (an import row with `partial`): on an exception its
        database changes and the events it emitted are undone, and the exception goes on."""
        mark, touched = len(self._events), dict(self._touched)
        try:
            with self.session.begin_nested():
                yield
        except BaseException:
            del self._events[mark:]
            self._touched = touched
            raise

    def touch(self, project: Project) -> None:
        """Stamp this project with who and when at the end of the unit of work."""
        self._touched[project.id] = project

    # --- events -------------------------------------------------------------------------------------------------
    def emit(self, payload: Payload, code: str | None, *, confidentiality: str = Confidentiality.INTERNAL,
             owner_role: str | None = None, division: str | None = None) -> None:
        """Buffer a ledger event; it is appended with the others when the unit of work ends. `division`: the
        project's, when the command has it at hand for a project it did not lock (one it created)."""
        self._events.append(ledger.NewEvent(payload.TYPE, code, payload.data(), str(confidentiality), owner_role,
                                            division))

    def flush_events(self, *, last: bool = False) -> None:
        """Append what is buffered now (inside the transaction): long imports do so per batch. `last`: nothing
        is written after it, so the writer may sequence its events in its own transaction (`ledger.record`)."""
        if self._events:
            events, self._events = self._events, []
            # the divisions of the projects this unit locked, as flushed: not read again for the events
            known = {p.code: p.division for p in self._touched.values()}
            settings = self.app.settings
            batch = max(1, settings.sequencer_batch) if last and settings.sequence_after_commit else 0
            recorded = ledger.record(self.session, self.actor, events, known=known, sequence_batch=batch)
            self.appended += recorded
            if recorded:
                # sequenced already (SQLite; or here, with whatever this unit had queued before): nothing left
                self.last_queued = recorded[-1].id if recorded[-1].seq is None else None

    def finish(self) -> None:
        for project in self._touched.values():
            project.updated_at, project.updated_by = self.now, self.actor.name
        self.session.flush()
        self.flush_events(last=True)


def require_active(project: Project) -> None:
    if project.status != ProjectStatus.ACTIVE:
        target = f"，已并入 {project.merged_into}" if project.merged_into else ""
        status = ProjectStatus(project.status).label
        raise Conflict(f"项目 {project.code} 状态为{status}{target}，不能修改", [("code", f"项目状态为 {project.status}")])


@contextmanager
def transaction(app: App, actor: Actor, *, exclusive: bool = False) -> Iterator[UnitOfWork]:
    """One unit of work as a block: committed at the end, rolled back on any exception; after the commit the
    events it queued are sequenced (PostgreSQL, see `ledger.sequencer`). No re-run on a deadlock: commands go
    through `run`; this is for `run` itself and for scripts, benchmarks and tests. `exclusive`: the library-wide
    lock, for the few operations that need it (Database.write)."""
    with app.db.write(exclusive) as session:
        uow = UnitOfWork(app, actor, session)
        yield uow
        uow.finish()
    if uow.last_queued is not None and app.settings.sequence_after_commit:
        sequencer.after_commit(app, uow.last_queued)


def run(app: App, actor: Actor, work: Callable[[UnitOfWork], T], *, exclusive: bool = False) -> T:
    """Run one command in one write transaction; re-run it after a deadlock or serialisation failure, and after
    a unique violation (a racing insert of the same key — the same file, the same investment code — committed
    first: the re-run sees that row and answers as for any existing one)."""
    for attempt in range(RETRIES):
        try:
            with transaction(app, actor, exclusive=exclusive) as uow:
                return work(uow)
        except (OperationalError, IntegrityError) as exc:
            if attempt < RETRIES - 1 and _sqlstate(exc) in RETRYABLE_SQLSTATES:
                continue
            raise
    raise AssertionError("unreachable")


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


# --- Idempotency-Key -----------------------------------------------------------------------------------------------

Outcome = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Idempotency:
    key: str | None
    operation: str
    payload: Any


def request_hash(payload: Any) -> str:
    return hashlib.sha256(canonical({"p": payload})).hexdigest()


def run_idempotent(app: App, actor: Actor, idem: Idempotency, work: Callable[[UnitOfWork], Outcome]) -> Outcome:
    """Run `work` once per (actor, key): a replay answers the stored first response."""
    if not idem.key:
        return run(app, actor, work)
    if len(idem.key) > 200:
        raise invalid("Idempotency-Key", "Idempotency-Key 不能超过 200 个字符")
    digest = request_hash({"op": idem.operation, "payload": idem.payload})
    for _ in range(3):
        try:
            return run(app, actor, lambda uow: _once(uow, idem, digest, work))
        except IntegrityError:
            continue  # a concurrent request with the same key committed first: replay its answer
    raise Conflict("同一 Idempotency-Key 的请求正在处理，请稍后重试", [("Idempotency-Key", "并发重复提交")])


def _once(uow: UnitOfWork, idem: Idempotency, digest: str, work: Callable[[UnitOfWork], Outcome]) -> Outcome:
    assert idem.key is not None
    found = uow.session.get(IdempotencyRecord, (uow.actor.name, idem.key))
    if found is not None:
        if found.request_hash != digest or found.operation != idem.operation:
            raise Conflict("Idempotency-Key 已用于另一个不同的请求", [("Idempotency-Key", "同一键对应的请求内容不同")])
        return found.status_code, json.loads(found.response)
    # Claim the key first: a concurrent twin blocks here (PostgreSQL) and then fails on the key.
    record = IdempotencyRecord(actor=uow.actor.name, key=idem.key, operation=idem.operation, request_hash=digest,
                               status_code=0, response="{}", created_at=uow.now)
    uow.session.add(record)
    uow.session.flush()
    status, body = work(uow)
    record.status_code = status
    record.response = json.dumps(body, ensure_ascii=False, default=str)
    return status, body
