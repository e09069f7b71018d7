"""Time limits of stages and joint reviews in working days (domain/workdays.py counts them), suspensions of a
stage's clock (补正, 听证, 公示 …), and what a stage shows: `due`, `working_days_left`, `due_note`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core.context import App, local_today, rfc3339
from yimatong.domain import events as ev
from yimatong.domain import workdays
from yimatong.domain.policy import Action
from yimatong.errors import Conflict, NotFound, invalid
from yimatong.storage.models import Project, Stage, StageSuspension
from yimatong.uow import UnitOfWork

OPEN_STATUSES = ("in_progress", "returned")


def local_date(value: str | None) -> dt.date | None:
    """The local date of a stage's `started_at` (a date, or an RFC 3339 time read in the profile's zone by the
    caller); None when absent or unreadable (old rows)."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10]) if len(value) == 10 else None
    except ValueError:
        return None


def start_date(app: App, value: str | None) -> dt.date | None:
    if not value:
        return None
    if len(value) == 10:
        return local_date(value)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(app.profile.tz).date() if moment.tzinfo else moment.date()


def deadline(start: dt.date, limit: int, stops: list[workdays.Suspension], today: dt.date, open_: bool,
             cal: workdays.Calendar = workdays.OFFICIAL) -> dict[str, Any]:
    """`due`, `working_days_left` (only while open) and `due_note` (why they are null, or that the clock stands)."""
    try:
        due = workdays.add_working_days(start, limit, stops, cal)
    except workdays.Suspended as exc:
        return {"due": None, "working_days_left": exc.remaining if open_ else None, "due_note": str(exc)}
    except workdays.CalendarGap as exc:
        return {"due": None, "working_days_left": None, "due_note": str(exc)}
    out: dict[str, Any] = {"due": due.isoformat(), "working_days_left": None, "due_note": None}
    if open_:
        try:
            out["working_days_left"] = workdays.days_left(today, due, cal)
        except workdays.CalendarGap as exc:
            out["due_note"] = str(exc)
    return out


def suspensions_of(session: Session, project_ids: list[int]) -> dict[tuple[int, str], list[StageSuspension]]:
    out: dict[tuple[int, str], list[StageSuspension]] = {}
    if project_ids:
        stmt = select(StageSuspension).where(StageSuspension.project_id.in_(project_ids)).order_by(StageSuspension.id)
        for s in session.execute(stmt).scalars():
            out.setdefault((s.project_id, s.stage), []).append(s)
    return out


def stops(rows: list[StageSuspension]) -> list[workdays.Suspension]:
    return [workdays.Suspension(dt.date.fromisoformat(r.start), dt.date.fromisoformat(r.end) if r.end else None)
            for r in rows]


def stage_times(app: App, stage: dict[str, Any], rows: list[StageSuspension], today: dt.date) -> dict[str, Any]:
    """The time-limit fields of one stage of the stage list (contract: `due`, `working_days_left`, and
    `due_note` when they are null for a reason)."""
    limit = app.profile.time_limits.stages.get(stage["key"])
    start = start_date(app, stage.get("started_at"))
    if limit is None:
        return {"due": None, "working_days_left": None}
    if start is None:
        note = "尚未开始计时（缺开始日期 started_at）" if stage["status"] in OPEN_STATUSES else None
        return {"due": None, "working_days_left": None, "due_note": note}
    out = deadline(start, limit, stops(rows), today, stage["status"] in OPEN_STATUSES,
                   app.profile.time_limits.working_calendar())
    out["time_limit_working_days"] = limit
    if rows:
        out["suspensions"] = [suspension_dict(r) for r in rows]
    return out


def with_times(session: Session, app: App, project: Project, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stage list of one project with each stage's time limit."""
    today = local_today(app.profile)
    rows = suspensions_of(session, [project.id])
    return [s | stage_times(app, s, rows.get((project.id, s["key"]), []), today) for s in stages]


def suspension_dict(r: StageSuspension) -> dict[str, Any]:
    return {"id": r.id, "stage": r.stage, "kind": r.kind, "start": r.start, "end": r.end, "note": r.note,
            "created_by": r.created_by, "created_at": rfc3339(r.created_at)}


def _date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str):
        raise invalid(field, f"{field} 应为日期 YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"{field} 应为日期 YYYY-MM-DD，收到 {value!r}") from None


def suspend(uow: UnitOfWork, code: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """Stop a stage's clock from `start` (to `end`, or until resumed). Only an open stage has a clock."""
    if uow.profile.stage(key) is None:
        raise NotFound(f"阶段 {key} 不在阶段目录中", [("key", "未知阶段")])
    project = uow.project(code, Action.STAGE_WRITE, stage=key)
    kinds = uow.profile.time_limits.suspension_kinds
    kind = body.get("kind")
    if kind not in kinds:
        raise invalid("kind", f"中止类型应为 {', '.join(f'{k}（{v}）' for k, v in kinds.items())}")
    start = _date(body.get("start"), "start")
    end = _date(body["end"], "end") if body.get("end") is not None else None
    if end is not None and end < start:
        raise invalid("end", "结束日期不能早于开始日期")
    row = uow.session.get(Stage, (project.id, key))
    if row is None or row.status not in OPEN_STATUSES:
        raise Conflict(f"阶段 {key} 未在办理中，不能中止计时", [("key", "阶段未在办理中")])
    existing = suspensions_of(uow.session, [project.id]).get((project.id, key), [])
    for other in existing:
        o_end = dt.date.fromisoformat(other.end) if other.end else dt.date.max
        if start <= o_end and (end or dt.date.max) >= dt.date.fromisoformat(other.start):
            raise Conflict(f"与已登记的计时中止（{other.start} 起）重叠", [("start", "与已有中止期间重叠")])
    rec = StageSuspension(project_id=project.id, stage=key, kind=kind, start=start.isoformat(),
                          end=end.isoformat() if end else None, note=body.get("note"), created_by=uow.actor.name,
                          created_at=uow.now)
    uow.session.add(rec)
    uow.session.flush()
    uow.emit(ev.StageSuspended(suspension_id=rec.id, stage=key, kind=kind, start=rec.start, end=rec.end,
                               note=rec.note), code)
    return suspension_dict(rec)


def resume(uow: UnitOfWork, code: str, key: str, suspension_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """End an open suspension on `end` (the last suspended day)."""
    project = uow.project(code, Action.STAGE_WRITE, stage=key)
    rec = uow.session.get(StageSuspension, suspension_id)
    if rec is None or rec.project_id != project.id or rec.stage != key:
        raise NotFound(f"计时中止 {suspension_id} 不存在", [("suspension_id", "不存在")])
    if rec.end is not None:
        raise Conflict("该计时中止已结束", [("end", "已结束")])
    end = _date(body.get("end"), "end")
    if end < dt.date.fromisoformat(rec.start):
        raise invalid("end", "结束日期不能早于开始日期")
    rec.end = end.isoformat()
    uow.touch(project)
    uow.emit(ev.StageSuspended(suspension_id=rec.id, stage=key, kind=rec.kind, start=rec.start, end=rec.end,
                               note=rec.note), code)
    return suspension_dict(rec)
