"""Imports as jobs: staged per batch, then published; resumable, cancellable, with progress.

A job keeps its file until it ends. Its runner reads the file and **stages** it a batch at a time: each batch is
one short transaction that matches the rows against the library (and the rows staged before them) and writes
only the job's own rows (`import_job_rows`: outcome, what publishing does, the report line) — nothing a user
sees, no serial, no ledger event, none of the writers' locks (`exclusive=False`). Between batches every other
writer goes ahead. A file with refused rows (without `partial`) or a dry run ends here: nothing was published.

Then the job **publishes** in batches too, in row order: codes are issued (serials reserved) only now, in the
transaction that registers the projects, so a cancelled or failed job never used a serial and the serials stay
gap-free. Publishing is the point of no return: a job that has begun it can no longer be cancelled, and a
crash in it is resumed forward (each batch marks its rows published in its own transaction, so none is done
twice). We chose bounded publish batches over one publishing transaction because one transaction held the
writers' lock for the whole file (a minute at 100 000 rows: every registration got 503); the price is that a
crash while publishing shows part of the file until the job is resumed. Publishing re-checks each new project
against the library as it is then (same investment code, same division and name): a project registered by
someone else while the job was staging is merged into, not registered twice.

Resuming: running the same import (kind, file, options) again while its job is unfinished resumes that job;
so does `ymt import --resume JOB`. The resumer takes the job's `lease`; a runner that is still alive sees at its
next batch that the lease is no longer its own and stops."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.context import Actor, App, now, rfc3339
from yimatong.domain import codes
from yimatong.domain import events as ev
from yimatong.domain.names import normalize_name
from yimatong.domain.policy import Action
from yimatong.errors import Conflict, Invalid, NotFound, TooLarge, invalid
from yimatong.intake import importer
from yimatong.intake.columns import KINDS
from yimatong.intake.importer import (
    CODED,
    SOURCE_KIND,
    Report,
    _Index,
    _jsonable,
    _match,
    _New,
    attributes,
    check_land_use_edition,
    code_tables,
    merge_into,
    source_ref,
)
from yimatong.intake.rows import ParsedRow, parse_rows
from yimatong.intake.sheets import IntakeFileError, RawSheet, limits_of, read_table
from yimatong.projects import registry
from yimatong.storage.models import Counter, ImportJob, ImportJobRow, ImportRun, Project, ProjectSource, Review, table
from yimatong.uow import UnitOfWork
from yimatong.uow import run as uow_run

# Outcomes of a row, in report order, with the words people read (issue 14: 新增, 合并, 待复核, 拒绝, 无变化).
OUTCOMES = {"taken": "新增", "merged": "合并", "review": "待复核", "refused": "拒绝", "unchanged": "无变化"}
PUBLISHED_BY = ("taken", "merged", "review")  # outcomes whose rows change the library when published
STATUS_LABELS = {"running": "进行中", "done": "已完成", "failed": "未导入", "cancelled": "已取消"}
PHASE_LABELS = {"reading": "读取文件", "staging": "逐批校验", "publishing": "发布入库", "done": "结束"}


class LeaseLost(Exception):
    """Another runner resumed this job (or it was cancelled): this one stops."""


# --- creating, resuming, cancelling ---------------------------------------------------------------------------------

def _options(dry_run: bool, partial: bool, edition: str | None) -> dict[str, Any]:
    return {"dry_run": bool(dry_run), "partial": bool(partial), "land_use_edition": edition}


def create(app: App, actor: Actor, kind: str, data: bytes, filename: str, *, dry_run: bool = False,
           partial: bool = False, land_use_edition: str | None = None) -> tuple[int, bool]:
    """The job of this import: the unfinished one of the same file and options (resumed), else a new one.
    Returns (job id, whether it was resumed). The file is checked before a job exists (a file that cannot be
    read is a 4xx now, not a failed job)."""
    app.profile.policy.check(actor, Action.IMPORT)
    if kind not in KINDS:
        raise invalid("kind", f"导入类型应为 {', '.join(KINDS)}")
    edition = check_land_use_edition(app, land_use_edition)
    if len(data) > app.settings.max_upload_bytes:
        raise TooLarge(f"文件超过 {app.settings.max_upload_bytes} 字节", [("file", "文件过大")])
    _read(app, kind, data, filename, edition)  # refuse an unreadable file before a job exists
    sha = hashlib.sha256(data).hexdigest()
    options = _options(dry_run, partial, edition)

    def work(uow: UnitOfWork) -> tuple[int, bool]:
        uow.allow(Action.IMPORT)
        found = uow.session.execute(select(ImportJob).where(
            ImportJob.kind == kind, ImportJob.sha256 == sha, ImportJob.status == "running")
            .order_by(ImportJob.id)).scalars().all()
        for job in found:
            if job.options == options:
                return job.id, True
        t = uow.now
        job = ImportJob(kind=kind, filename=filename[:255], sha256=sha, options=options,
                        actor={"name": actor.name, "role": actor.role, "sections": sorted(actor.sections),
                               "divisions": sorted(actor.divisions)},
                        data=data, status="running", phase="reading", cancel_requested=False, rows_read=0,
                        rows_to_publish=0, rows_published=0, meta={}, created_at=t, updated_at=t,
                        phase_started_at=t)
        uow.session.add(job)
        uow.session.flush()
        return job.id, False

    return uow_run(app, actor, work, exclusive=False)


def cancel(uow: UnitOfWork, job_id: int) -> ImportJob:
    """Cancel a job that has not begun publishing: its staged rows go, nothing of it was ever visible."""
    uow.allow(Action.IMPORT_CANCEL)
    job = _locked(uow.session, job_id)
    if job.status != "running":
        raise Conflict(f"导入任务 {job_id} {STATUS_LABELS.get(job.status, job.status)}，不能取消",
                       [("status", job.status)])
    if job.phase == "publishing":
        raise Conflict(f"导入任务 {job_id} 已开始发布入库，不能取消（继续运行或恢复即可完成）", [("phase", job.phase)])
    uow.session.execute(delete(ImportJobRow).where(ImportJobRow.job_id == job_id))
    _end(job, "cancelled", uow.now)
    job.error = {"detail": "已取消"}
    return job


def _locked(session: Session, job_id: int) -> ImportJob:
    job = session.execute(select(ImportJob).where(ImportJob.id == job_id).with_for_update()
                          .execution_options(populate_existing=True)).scalars().first()
    if job is None:
        raise NotFound(f"导入任务 {job_id} 不存在", [("id", "没有这个导入任务")])
    return job


def _end(job: ImportJob, status: str, t: dt.datetime) -> None:
    job.status, job.phase, job.lease, job.data = status, "done", None, None
    job.finished_at = job.updated_at = t


def actor_of(job: ImportJob) -> Actor:
    a = job.actor
    return Actor(a["name"], a["role"], frozenset(a.get("sections", ())), frozenset(a.get("divisions", ())))


# --- running ---------------------------------------------------------------------------------------------------

Progress = Callable[[dict[str, Any]], None]


def run_job(app: App, job_id: int, progress: Progress | None = None) -> str:
    """Run (or resume) a job to its end; returns its status. Safe to call on a job another runner had."""
    lease = uuid.uuid4().hex
    with app.db.read() as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise NotFound(f"导入任务 {job_id} 不存在", [("id", "没有这个导入任务")])
        if job.status != "running":
            return job.status
        actor = actor_of(job)
    runner = _Runner(app, actor, job_id, lease, progress)
    try:
        return runner.run()
    except LeaseLost:  # resumed elsewhere, or cancelled
        return runner._status()
    except Exception as exc:
        _give_up(app, actor, job_id, lease, exc)
        raise


def _give_up(app: App, actor: Actor, job_id: int, lease: str, exc: Exception) -> None:
    """A job that failed for a reason of its own (not a crash) while staging ends as failed, nothing published;
    one that was publishing stays running, to be resumed forward."""
    detail = exc.detail if isinstance(exc, Invalid | Conflict) else f"导入中断：{type(exc).__name__}"

    def work(uow: UnitOfWork) -> None:
        job = _locked(uow.session, job_id)
        if job.status != "running" or job.lease != lease:
            return
        if job.phase == "publishing":
            job.lease, job.error = None, {"detail": f"{detail}（发布未完成，可恢复：ymt import --resume {job_id}）"}
            return
        uow.session.execute(delete(ImportJobRow).where(ImportJobRow.job_id == job_id))
        _end(job, "failed", uow.now)
        job.error = {"detail": detail}
    with contextlib.suppress(Exception):  # the database itself is gone: the job stays running, to be resumed
        uow_run(app, actor, work, exclusive=False)


def start(app: App, job_id: int) -> threading.Thread:
    """Run a job in a thread of this process (the API answers 202 at once and the client polls the job)."""
    def target() -> None:
        with contextlib.suppress(Exception):  # recorded on the job by run_job; a thread has no one to tell
            run_job(app, job_id)
    thread = threading.Thread(target=target, name=f"ymt-import-{job_id}", daemon=True)
    thread.start()
    return thread


@dataclass
class _Staged:
    """What later rows of the file need to know of a row staged as a new project."""
    ref: str
    fields: dict[str, Any]


# SQLite's default busy handler (sqliteDefaultBusyCallback in main.c) sleeps 1, 2, 5 … 50, then 100 ms between
# attempts at a held lock: a writer waiting on it looks again at most this long after the lock was released.
SQLITE_BUSY_RETRY_SECONDS = 0.1


class _Runner:
    def __init__(self, app: App, actor: Actor, job_id: int, lease: str, progress: Progress | None) -> None:
        self.app, self.actor, self.job_id, self.lease, self.progress = app, actor, job_id, lease, progress
        self.batch = max(1, app.settings.import_batch)
        # rows of the next publishing batch: from a few, adapted to the hold-time budget (at most doubling)
        self.publish_size = min(self.batch, 20) if app.settings.import_batch_seconds > 0 else self.batch

    def _tx(self, work: Callable[[UnitOfWork, ImportJob], Any], *, exclusive: bool = False) -> Any:
        """One transaction of this runner on its job (row-locked), refused once the job is no longer its own."""
        def command(uow: UnitOfWork) -> Any:
            uow.allow(Action.IMPORT)
            job = _locked(uow.session, self.job_id)
            if job.status != "running" or job.lease != self.lease:
                raise LeaseLost
            out = work(uow, job)
            job.updated_at = uow.now
            return out
        return uow_run(self.app, self.actor, command, exclusive=exclusive)

    def _take_lease(self) -> ImportJob:
        def work(uow: UnitOfWork) -> ImportJob:
            job = _locked(uow.session, self.job_id)
            if job.status != "running":
                raise LeaseLost
            job.lease, job.updated_at = self.lease, uow.now
            return job
        return uow_run(self.app, self.actor, work, exclusive=False)

    def _tell(self) -> None:
        if self.progress is not None:
            with self.app.db.read() as session:
                self.progress(describe(session, _get(session, self.job_id)))

    def run(self) -> str:
        job = self._take_lease()
        if job.phase in ("reading", "staging") and not self._stage(job):
            return self._status()
        self._publish()
        return self._status()

    def _status(self) -> str:
        with self.app.db.read() as session:
            return _get(session, self.job_id).status

    # --- staging ---
    def _stage(self, job: ImportJob) -> bool:
        """Stage every row not staged yet; False when the job ended here (refused rows, dry run, seen file)."""
        assert job.data is not None
        opts = job.options
        try:
            raw, parsed = _read(self.app, job.kind, job.data, job.filename, opts.get("land_use_edition"))
        except Invalid as exc:  # the file read before cannot be read now (another profile): the job fails
            return self._fail(exc.detail, exc.errors)
        total = sum(1 for r, _ in raw if r > parsed.header_row)
        seen = self._seen_before(job)

        def begin(uow: UnitOfWork, j: ImportJob) -> int:
            if j.phase == "reading":
                j.phase, j.phase_started_at, j.rows_total = "staging", uow.now, total
                j.meta = {**j.meta, "header_row": parsed.header_row, "columns": parsed.columns,
                          "already_imported": seen, "base": 0}
            else:
                j.meta = {**j.meta, "base": j.rows_read}
                j.phase_started_at = uow.now
            return int(j.meta.get("last_row", 0))
        last_row = self._tx(begin)
        self._tell()
        state = _StageState.load(self.app, self.job_id) if last_row else _StageState()
        for chunk in _chunks((r for r in parsed.rows if r.row_no > last_row), self.batch):
            # Rows are matched on a read session (no write lock held meanwhile: on SQLite every write
            # transaction holds the file's one write lock), then written in a short transaction.
            with self.app.db.read() as session:
                rows = self._decide_chunk(session, job.kind, chunk, state, seen)
            last = chunk[-1].row_no

            def write(uow: UnitOfWork, j: ImportJob, rows: list[dict[str, Any]] = rows, last: int = last) -> None:
                self._write_staged(uow, j, rows, last)
            self._tx(write)
            self._tell()
        return self._end_staging(parsed.skipped)

    def _seen_before(self, job: ImportJob) -> bool:
        with self.app.db.read() as session:
            return session.execute(select(ImportRun.id).where(ImportRun.kind == job.kind,
                                                              ImportRun.sha256 == job.sha256)).first() is not None

    def _decide_chunk(self, session: Session, kind: str, chunk: list[ParsedRow], state: _StageState, seen: bool
                      ) -> list[dict[str, Any]]:
        if seen:  # a file imported before: every row unchanged, as the one-transaction import answered
            return [{"row_no": r.row_no, "outcome": "unchanged", "plan": None, "result": {"row": r.row_no}}
                    for r in chunk]
        state.index.session = session
        state.index.prescreen(chunk)
        return [_stage_row(self.app, session, kind, row, state) for row in chunk]

    @staticmethod
    def _write_staged(uow: UnitOfWork, job: ImportJob, rows: list[dict[str, Any]], last_row: int) -> None:
        uow.session.execute(insert(table(ImportJobRow)), [r | {"job_id": job.id, "published": False}
                                                           for r in rows])
        job.rows_read += len(rows)
        job.meta = {**job.meta, "last_row": last_row}

    def _end_staging(self, skipped: list[tuple[int, str]]) -> bool:
        def work(uow: UnitOfWork, job: ImportJob) -> bool:
            _refuse_beyond_serials(uow, job.id)
            counts = outcome_counts(uow.session, job.id)
            job.rows_total = job.rows_read
            job.meta = {**job.meta, "skipped": [{"row": r, "reason": why} for r, why in skipped]}
            if job.meta.get("already_imported") or job.options.get("dry_run"):
                _end(job, "done", uow.now)
                return False
            if counts["refused"] and not job.options.get("partial"):
                _end(job, "failed", uow.now)
                job.error = {"detail": f"有 {counts['refused']} 行被拒，整个文件未导入"}
                return False
            job.phase, job.phase_started_at = "publishing", uow.now
            job.rows_to_publish = sum(counts[o] for o in PUBLISHED_BY)
            job.meta = {**job.meta, "base": 0}
            return True
        go_on: bool = self._tx(work)
        self._tell()
        return go_on

    def _fail(self, detail: str, errors: list[tuple[str, str]] | None) -> bool:
        def work(uow: UnitOfWork, job: ImportJob) -> None:
            uow.session.execute(delete(ImportJobRow).where(ImportJobRow.job_id == job.id))
            _end(job, "failed", uow.now)
            job.error = {"detail": detail, "errors": [{"field": f, "message": m} for f, m in errors or []]}
        self._tx(work)
        return False

    # --- publishing ---
    def _publish(self) -> None:
        while self._publish_timed():
            self._tell()

        def finish(uow: UnitOfWork, job: ImportJob) -> None:
            counts = outcome_counts(uow.session, job.id)
            summary = {"kind": job.kind, "filename": job.filename, "sha256": job.sha256,
                       "counts": counts | {"rows": job.rows_read, "skipped": len(job.meta.get("skipped", []))}}
            uow.session.add(ImportRun(kind=job.kind, filename=job.filename, sha256=job.sha256, report=summary,
                                      actor=uow.actor.name, created_at=uow.now))
            uow.emit(ev.ImportCompleted(**summary), None)
            job.meta = {**job.meta, "written": True}
            _end(job, "done", uow.now)
        self._tx(finish, exclusive=True)
        self._tell()

    def _publish_timed(self) -> bool:
        """One publishing batch, sized so that it holds the locks other writers need (SQLite's one write lock;
        on PostgreSQL the serial counters of its divisions) for about `import_batch_seconds`: a registration
        waits at most about one batch. A batch of `import_batch` rows took over a second under load, and
        back to back such batches kept a waiting registration out for seconds (issue 16: p99 during an
        import). Then, on SQLite, the lock is left free for as long as the batch held it (at least one retry
        interval of the busy handler): SQLite does not queue waiters, each looks again every 100 ms, and a
        lock taken back at once (or held 70 % of the time) let a registration miss every look for 2 s under
        load — 503. PostgreSQL queues lock waiters (the one waiting gets the row at the commit): no pause."""
        size = self.publish_size
        t = time.perf_counter()
        more: bool = self._tx(lambda uow, job: self._publish_chunk(uow, job, size), exclusive=True)
        held = max(time.perf_counter() - t, 1e-3)
        budget = self.app.settings.import_batch_seconds
        if budget > 0:
            # never below a tenth of import_batch: a batch's fixed cost (the job row, the sequencing) would
            # otherwise dominate and the job crawl
            floor = max(1, self.batch // 10)
            self.publish_size = max(floor, min(self.batch, 2 * size, int(size * budget / held)))
        if more and self.app.db.sql.single_writer:
            time.sleep(max(SQLITE_BUSY_RETRY_SECONDS, min(held, 2 * budget)))
        return more

    def _publish_chunk(self, uow: UnitOfWork, job: ImportJob, size: int) -> bool:
        # Rows are published in row order, so everything up to the last batch's last row is done: the query
        # starts there instead of skipping every published row again (quadratic at 100 000 rows).
        through = int(job.meta.get("published_through", 0))
        rows = list(uow.session.execute(select(ImportJobRow).where(
            ImportJobRow.job_id == job.id, ImportJobRow.row_no > through, ImportJobRow.published.is_(False),
            ImportJobRow.outcome.in_(PUBLISHED_BY)).order_by(ImportJobRow.row_no).limit(size)).scalars())
        if not rows:
            return False
        _Publisher(uow, job).publish(rows)
        job.rows_published += len(rows)
        job.meta = {**job.meta, "published_through": rows[-1].row_no}
        return True


def _refuse_beyond_serials(uow: UnitOfWork, job_id: int) -> None:
    """Refuse, before anything is published, the new projects of a serial scope that has too few serials left
    (the rows after the last that fits, in row order), as the one-transaction import did."""
    profile, region = uow.profile, uow.profile.code.region
    top = codes.max_serial(profile)
    wanted: dict[str, list[ImportJobRow]] = {}
    for row in uow.session.execute(select(ImportJobRow).where(ImportJobRow.job_id == job_id,
                                                              ImportJobRow.outcome == "taken")
                                   .order_by(ImportJobRow.row_no)).scalars():
        wanted.setdefault(codes.serial_scope_key(profile, {"region": region, **_plan(row)["attrs"]}), []).append(row)
    for scope, rows in wanted.items():
        used = uow.session.execute(select(Counter.value).where(Counter.scope == "serial:" + scope)).scalar() or 0
        for row in rows[max(0, top - int(used)):]:
            message = f"{scope} 的流水号已用尽（最多 {top} 个），无法再赋码"
            row.outcome, row.plan = "refused", None
            row.result = {"row": row.row_no, "errors": [{"column": "serial", "reason": message}]}


class _StageState:
    """What staging carries from batch to batch: the match index, and the rows staged as new projects."""

    def __init__(self) -> None:
        self.index: _Index = _Index(None)  # type: ignore[arg-type]  # a session is given per batch
        self.new: dict[int, _Staged] = {}
        self.reviews: set[tuple[str, str]] = set()  # (candidate, source ref) of reviews staged

    @classmethod
    def load(cls, app: App, job_id: int) -> _StageState:
        """Rebuild the state of an interrupted staging from the rows it staged (a resumed job)."""
        state = cls()
        with app.db.read() as session:
            state.index.session = session
            for row_no, outcome, plan in session.execute(select(
                    ImportJobRow.row_no, ImportJobRow.outcome, ImportJobRow.plan).where(
                    ImportJobRow.job_id == job_id, ImportJobRow.outcome.in_(("taken", "review")))
                    .order_by(ImportJobRow.row_no)):
                if outcome == "taken":
                    state.remember(row_no, plan["data"], plan["attrs"])
                elif plan is not None:
                    state.reviews.add((_target_key(plan["target"]), plan["source"]["ref"]))
        return state

    def remember(self, row_no: int, data: dict[str, Any], attrs: dict[str, str]) -> _New:
        new = _New(row_no, data, attrs)
        self.index.add(new)
        new.data = new.attrs = None  # the index keeps the name; the rest is in the staged row
        self.new[row_no] = _Staged(data["sources"][0]["ref"], {k: data.get(k) for k in (
            *CODED, "builder", "area_m2", "investment_code", "zone", "division")})
        return new


def _target_key(target: dict[str, Any]) -> str:
    return f"row:{target['row']}" if "row" in target else f"pid:{target['pid']}"


def _stage_row(app: App, session: Session, kind: str, row: ParsedRow, state: _StageState) -> dict[str, Any]:
    """Decide what one row will do, writing nothing."""
    if row.errors:
        return _refused(row.row_no, row.errors)
    try:
        return _decide(app, session, kind, row, state)
    except Invalid as exc:
        return _refused(row.row_no, exc.errors or [("", exc.detail)])


def _refused(row_no: int, errors: list[tuple[str, str]]) -> dict[str, Any]:
    return {"row_no": row_no, "outcome": "refused", "plan": None,
            "result": {"row": row_no, "errors": [{"column": c, "reason": r} for c, r in errors]}}


def _decide(app: App, session: Session, kind: str, row: ParsedRow, state: _StageState) -> dict[str, Any]:
    v = row.values
    src_kind = v.get("source_kind") or SOURCE_KIND[kind]
    source: dict[str, Any] = {"kind": src_kind, "ref": source_ref(v), "data": _jsonable(v) | {"row": row.row_no}}
    key, score = _match(state.index, row)
    r: dict[str, Any] = {"row_no": row.row_no}
    if key is None:
        data = attributes(app, v) | {"sources": [source]}
        attrs = registry.coded_attrs(app.profile, data)
        state.remember(row.row_no, data, attrs)
        return r | {"outcome": "taken", "plan": {"data": data, "attrs": attrs},
                    "result": {"row": row.row_no, "name": data["name"]}}
    target = {"row": key.row_no} if isinstance(key, _New) else {"pid": key}
    values = _jsonable(v)
    if score >= 95:
        changes = _would_change(session, state, target, values, source, app.profile.code.to_be_determined)
        plan = {"target": target, "values": values, "source": source, "score": score}
        return r | {"outcome": "merged" if changes else "unchanged", "plan": plan if changes else None,
                    "result": {"row": row.row_no, "score": score, **_target_view(session, target)}}
    candidate = _target_view(session, target)
    result = {"row": row.row_no, "score": round(score, 1), **candidate}
    existing = _open_review_id(session, candidate.get("code"), source["ref"]) if "pid" in target else None
    if existing is not None:
        return r | {"outcome": "review", "plan": None, "result": result | {"review_id": existing}}
    state.reviews.add((_target_key(target), source["ref"]))
    return r | {"outcome": "review", "result": result,
                "plan": {"target": target, "values": values, "source": source, "score": round(score, 1), "kind": kind}}


def _target_view(session: Session, target: dict[str, Any]) -> dict[str, Any]:
    if "row" in target:
        return {"target_row": target["row"]}
    code, name = session.execute(select(Project.code, Project.name).where(Project.id == target["pid"])).one()
    return {"code": code, "name": name}


def _open_review_id(session: Session, code: str | None, ref: str) -> int | None:
    for review_id, payload in session.execute(select(Review.id, Review.source).where(
            Review.candidate_code == code, Review.state == "open")):
        if payload.get("source", {}).get("ref") == ref:
            return int(review_id)
    return None


def _would_change(session: Session, state: _StageState, target: dict[str, Any], v: dict[str, Any],
                  source: dict[str, Any], tbd: dict[str, Any]) -> bool:
    """Whether merging the row would change its project (importer.merge_into's rule, read only)."""
    if "row" in target:
        staged = state.new[target["row"]]
        known, has_source = staged.fields, staged.ref == source["ref"]
    else:
        p = session.get(Project, target["pid"])
        assert p is not None
        known = {k: getattr(p, k) for k in (*CODED, "builder", "area_m2", "investment_code", "zone", "division")}
        has_source = session.execute(select(ProjectSource.id).where(
            ProjectSource.project_id == p.id, ProjectSource.kind == source["kind"],
            ProjectSource.ref == source["ref"])).first() is not None
    return not has_source or any(_fill_keys(known, v, tbd))


def _fill_keys(known: dict[str, Any], v: dict[str, Any], tbd: dict[str, Any]) -> Iterator[str]:
    for key in CODED:
        if v.get(key) and known.get(key) == tbd.get(key) and v[key] != tbd.get(key):
            yield key
    for key in ("builder", "area_m2", "investment_code", "zone"):
        if v.get(key) and not known.get(key) and (key != "zone" or v.get("division") == known.get("division")):
            yield key


class _Publisher:
    """One publish batch: new projects registered together (codes issued now), merges and reviews in row order."""

    def __init__(self, uow: UnitOfWork, job: ImportJob) -> None:
        self.uow, self.session, self.job = uow, uow.session, job
        self.pending: list[ImportJobRow] = []
        self.ids: dict[int, int] = {}  # row number → project id of rows registered in this batch

    def publish(self, rows: list[ImportJobRow]) -> None:
        for row in rows:
            if row.plan is None:  # e.g. a row for a review already open: its report line says which
                row.published = True
                continue
            if row.outcome == "taken":
                self._taken(row)
                continue
            target = row.plan["target"] if row.plan else {}
            if "row" in target and target["row"] not in self.ids:
                self._flush()
            if row.outcome == "merged":
                self._merge(row)
            else:
                self._review(row)
            row.published = True
        self._flush()

    def _pid(self, target: dict[str, Any]) -> int | None:
        if "pid" in target:
            return int(target["pid"])
        if target["row"] in self.ids:
            return self.ids[target["row"]]
        staged = self.session.get(ImportJobRow, (self.job.id, target["row"]))
        return staged.result.get("project_id") if staged is not None else None

    def _taken(self, row: ImportJobRow) -> None:
        data = _plan(row)["data"]
        existing = _registered_meanwhile(self.session, data)
        if existing is None:
            self.pending.append(row)
            return
        self._flush()
        project = self.session.get(Project, existing)
        assert project is not None
        changed = merge_into(self.uow, project, data["sources"][0]["data"], data["sources"][0])
        row.outcome = "merged" if changed else "unchanged"
        row.result = {"row": row.row_no, "score": 100.0, "code": project.code, "name": project.name,
                      "project_id": project.id, "note": "导入期间已有人登记同名项目，已合并"}
        row.published = True

    def _flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows:
            return
        outcomes = registry.register_many(self.uow, [(_plan(r)["data"], _plan(r)["attrs"]) for r in rows])
        for row, outcome in zip(rows, outcomes, strict=True):
            row.published = True
            if isinstance(outcome, Conflict):
                row.outcome = "refused"
                row.result = {"row": row.row_no, "errors": [{"column": c, "reason": m} for c, m in outcome.errors]}
                continue
            self.ids[row.row_no] = outcome.id
            row.result = {"row": row.row_no, "code": outcome.code, "name": outcome.name, "project_id": outcome.id}
        self.uow.flush_events()

    def _merge(self, row: ImportJobRow) -> None:
        plan = _plan(row)
        pid = self._pid(plan["target"])
        project = self.session.get(Project, pid) if pid is not None else None
        if project is None:
            row.outcome, row.result = "refused", {"row": row.row_no, "errors": [
                {"column": "name", "reason": "与本文件中被拒绝的行重复"}]}
            return
        changed = merge_into(self.uow, project, plan["values"], plan["source"])
        row.outcome = "merged" if changed else "unchanged"
        row.result = {"row": row.row_no, "code": project.code, "name": project.name, "score": plan["score"]}

    def _review(self, row: ImportJobRow) -> None:
        plan = _plan(row)
        pid = self._pid(plan["target"])
        candidate = self.session.get(Project, pid) if pid is not None else None
        if candidate is None:
            row.outcome, row.result = "refused", {"row": row.row_no, "errors": [
                {"column": "name", "reason": "与本文件中被拒绝的行重复"}]}
            return
        seen = {"row": row.row_no, "candidate_code": candidate.code, "score": plan["score"]}
        existing = _open_review_id(self.session, candidate.code, plan["source"]["ref"])
        if existing is None:
            existing = self._open(candidate, plan)
        row.result = seen | {"review_id": existing}

    def _open(self, candidate: Project, plan: dict[str, Any]) -> int:
        v, score = plan["values"], plan["score"]
        payload = {"kind": plan["kind"], "row": plan["source"]["data"].get("row"), "values": v,
                   "source": plan["source"]}
        review = Review(project_code="", candidate_code=candidate.code, score=score,
                        reason=f"名称相似度 {score:.0f}：“{v['name']}” 与 “{candidate.name}”", source=payload,
                        state="open", decided_by=None, decided_at=None, created_at=now())
        self.session.add(review)
        self.session.flush()
        self.uow.emit(ev.ReviewOpened(review_id=review.id, score=score, name=v["name"], kind=plan["kind"]),
                      candidate.code)
        return review.id


def _plan(row: ImportJobRow) -> dict[str, Any]:
    assert row.plan is not None, f"row {row.row_no} has nothing to publish"
    return row.plan


def _registered_meanwhile(session: Session, data: dict[str, Any]) -> int | None:
    """An active project registered since the row was staged that is the same project (investment code, or
    division and normalised name): publishing merges into it instead of registering a duplicate."""
    if data.get("investment_code"):
        found = registry.find_by_investment_code(session, data["investment_code"])
        if found is not None:
            return found.id
    pid = session.execute(select(Project.id).where(
        Project.division == data["division"], Project.name_norm == normalize_name(data["name"]),
        Project.status == "active").order_by(Project.id).limit(1)).scalar()
    return int(pid) if pid is not None else None


# --- reading the file ---------------------------------------------------------------------------------------------

def _read(app: App, kind: str, data: bytes, filename: str, edition: str | None) -> tuple[list[Any], Any]:
    """The file's raw rows (kept: their number is the job's total) and its parsed rows (lazily, from them)."""
    try:
        sheet = read_table(data, filename, app.settings.max_upload_bytes, limits_of(app.settings))
        raw = list(sheet.rows)
        parsed = parse_rows(RawSheet(sheet.title, iter(raw)), kind, code_tables(app), edition)
    except IntakeFileError as exc:
        raise (TooLarge if exc.status == 413 else Invalid)(exc.message, [(exc.field, exc.message)]) from None
    return raw, parsed


def _chunks(rows: Any, size: int) -> Iterator[list[ParsedRow]]:
    chunk: list[ParsedRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- reading jobs -------------------------------------------------------------------------------------------------

def _get(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"导入任务 {job_id} 不存在", [("id", "没有这个导入任务")])
    return job


def page(session: Session, actor: Actor, limit: int, cursor: str | None) -> dict[str, Any]:
    """Jobs newest first (an admin's: every job; others': their own)."""
    pagination.check_limit(limit)
    after = pagination.decode_id(cursor)
    stmt = select(ImportJob).order_by(ImportJob.id.desc())
    if after is not None:
        stmt = stmt.where(ImportJob.id < after)
    rows = [j for j in session.execute(stmt.limit(limit + 1)).scalars()]
    if not actor.privileged:
        rows = [j for j in rows if j.actor.get("name") == actor.name]
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": [describe(session, j) for j in rows],
            "next_cursor": pagination.encode(rows[-1].id) if more else None}


def get(session: Session, actor: Actor, job_id: int) -> ImportJob:
    """A job as its reader may see it: admins see every job, others their own (404 otherwise)."""
    job = _get(session, job_id)
    if not actor.privileged and job.actor.get("name") != actor.name:
        raise NotFound(f"导入任务 {job_id} 不存在", [("id", "没有这个导入任务")])
    return job


def outcome_counts(session: Session, job_id: int) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome, n in session.execute(select(ImportJobRow.outcome, func.count()).where(
            ImportJobRow.job_id == job_id).group_by(ImportJobRow.outcome)):
        counts[outcome] = int(n)
    return counts


def describe(session: Session, job: ImportJob) -> dict[str, Any]:
    """The job with its progress: rows read of the total, the phase, and the time left (an estimate from the
    pace of the current phase)."""
    counts = outcome_counts(session, job.id)
    return {"id": job.id, "kind": job.kind, "filename": job.filename, "sha256": job.sha256,
            "status": job.status, "status_label": STATUS_LABELS.get(job.status, job.status),
            "phase": job.phase, "phase_label": PHASE_LABELS.get(job.phase, job.phase),
            "dry_run": job.options.get("dry_run", False), "partial": job.options.get("partial", False),
            "rows_total": job.rows_total, "rows_read": job.rows_read, "rows_to_publish": job.rows_to_publish,
            "rows_published": job.rows_published, "counts": counts,
            "skipped": len(job.meta.get("skipped", [])), "already_imported": bool(job.meta.get("already_imported")),
            "written": bool(job.meta.get("written")), "eta_seconds": _eta(job), "error": job.error,
            "actor": job.actor.get("name"), "created_at": rfc3339(job.created_at),
            "updated_at": rfc3339(job.updated_at),
            "finished_at": rfc3339(job.finished_at) if job.finished_at else None}


def _eta(job: ImportJob) -> float | None:
    if job.status != "running":
        return 0.0 if job.status == "done" else None
    if job.phase == "staging":
        done, total = job.rows_read - int(job.meta.get("base", 0)), (job.rows_total or 0) - job.rows_read
    elif job.phase == "publishing":
        done, total = job.rows_published, job.rows_to_publish - job.rows_published
    else:
        return None
    started = job.phase_started_at
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.UTC)
    elapsed = (now() - started).total_seconds()
    if done <= 0 or elapsed <= 0:
        return None
    return round(max(0.0, elapsed / done * total), 1)


def parse_outcome(value: str | None) -> str | None:
    """An outcome filter given as its key (`taken`) or its Chinese word (`新增`)."""
    if value in (None, ""):
        return None
    for key, label in OUTCOMES.items():
        if value in (key, label):
            return key
    raise invalid("outcome", f"outcome 应为 {'、'.join(f'{k}（{v}）' for k, v in OUTCOMES.items())} 之一")


def report_page(session: Session, job: ImportJob, outcome: str | None, limit: int, cursor: str | None
                ) -> dict[str, Any]:
    """The job's report, row by row, filterable by outcome; `counts` add up to `rows_read`."""
    pagination.check_limit(limit)
    after = pagination.decode_id(cursor) or 0
    stmt = select(ImportJobRow).where(ImportJobRow.job_id == job.id, ImportJobRow.row_no > after)
    if outcome:
        stmt = stmt.where(ImportJobRow.outcome == outcome)
    rows = list(session.execute(stmt.order_by(ImportJobRow.row_no).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    counts = outcome_counts(session, job.id)
    return {"job_id": job.id, "status": job.status, "outcome": outcome, "rows_read": job.rows_read,
            "counts": counts, "skipped": job.meta.get("skipped", []),
            "items": [{"outcome": r.outcome, "outcome_label": OUTCOMES[r.outcome], **_public(r.result)}
                      for r in rows],
            "next_cursor": pagination.encode(rows[-1].row_no) if more else None}


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "project_id"}


def report(session: Session, job: ImportJob, dry_run: bool, partial: bool) -> Report:
    """The job as the Report of a one-call import (the CLI, the synchronous API, the web page)."""
    out = Report(job.kind, job.filename, job.sha256, dry_run, partial)
    out.header_row, out.columns = job.meta.get("header_row"), job.meta.get("columns", {})
    out.already_imported, out.written = bool(job.meta.get("already_imported")), bool(job.meta.get("written"))
    for r in session.execute(select(ImportJobRow).where(ImportJobRow.job_id == job.id)
                             .order_by(ImportJobRow.row_no)).scalars():
        out.counts["rows"] += 1
        res = _public(r.result)
        if r.outcome == "refused":
            out.refuse(r.row_no, [(e["column"], e["reason"]) for e in res.get("errors", [])])
        elif r.outcome == "unchanged":
            out.counts["unchanged"] += 1
        elif r.outcome == "review":
            out.add("review", {"row": r.row_no, "candidate_code": res.get("candidate_code") or res.get("code"),
                               "score": res.get("score"), "review_id": res.get("review_id")})
        else:
            out.add(r.outcome, res)
    for item in job.meta.get("skipped", []):
        out.add("skipped", item)
    return out


# --- the one-call import ------------------------------------------------------------------------------------------

def import_sheet(app: App, actor: Actor, kind: str, data: bytes, filename: str, dry_run: bool = False,
                 partial: bool = False, progress: Callable[[int], None] | None = None,
                 land_use_edition: str | None = None, on_job: Progress | None = None) -> Report:
    """Import one file as a job run here to its end (resuming the unfinished job of the same file);
    `progress` is told the rows read every importer.PROGRESS_EVERY rows, `on_job` the job after each batch."""
    job_id, _ = create(app, actor, kind, data, filename, dry_run=dry_run, partial=partial,
                       land_use_edition=land_use_edition)
    told = [0]

    def tell(d: dict[str, Any]) -> None:  # every importer.PROGRESS_EVERY rows, as the one-call import did
        if on_job is not None:
            on_job(d)
        every = importer.PROGRESS_EVERY
        if progress is not None and d["phase"] == "staging" and d["rows_read"] // every > told[0] // every:
            told[0] = d["rows_read"]
            progress(d["rows_read"])
    run_job(app, job_id, tell if progress or on_job else None)
    with app.db.read() as session:
        job = _get(session, job_id)
        return report(session, job, dry_run, partial)


def resume(app: App, actor: Actor, job_id: int, progress: Progress | None = None) -> Report:
    """`ymt import --resume JOB`: run an interrupted job on to its end and answer its report."""
    with app.db.read() as session:
        get(session, actor, job_id)
    run_job(app, job_id, progress)
    with app.db.read() as session:
        job = _get(session, job_id)
        return report(session, job, job.options.get("dry_run", False), job.options.get("partial", False))
