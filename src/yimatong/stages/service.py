"""Lifecycle stages of a project (项目阶段接口): read the catalogue with statuses, change a stage under the
profile's prerequisite rules, record inspections, keep every change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core.context import App, rfc3339
from yimatong.core.visibility import View
from yimatong.domain import events as ev
from yimatong.domain import lifecycle
from yimatong.domain.policy import Action
from yimatong.errors import Conflict, NotFound, invalid
from yimatong.projects import registry
from yimatong.storage.models import JointOpinion, JointReview, Project, Stage, StageRecord
from yimatong.uow import UnitOfWork

FIELDS = ("case_no", "department", "started_at", "finished_at", "note")


def statuses(session: Session, project: Project) -> dict[str, str]:
    rows = session.execute(select(Stage.key, Stage.status).where(Stage.project_id == project.id))
    return dict(rows.all())


def stage_list(session: Session, app: App, project: Project) -> list[dict[str, Any]]:
    rows = {s.key: s for s in session.execute(select(Stage).where(Stage.project_id == project.id)).scalars()}
    out = []
    for spec in app.profile.stages:
        row = rows.get(spec.key)
        out.append({"key": spec.key, "name": spec.name, "group": spec.group,
                    "status": row.status if row else "pending",
                    "case_no": row.case_no if row else None, "department": row.department if row else None,
                    "started_at": row.started_at if row else None, "finished_at": row.finished_at if row else None,
                    "note": row.note if row else None,
                    "updated_by": row.updated_by if row else None,
                    "updated_at": rfc3339(row.updated_at) if row else None})
    return out


def check_date(value: Any, field: str) -> str | None:
    """`YYYY-MM-DD` or RFC 3339; stored as given after validation."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(field, f"{field} 应为日期 YYYY-MM-DD 或 RFC 3339 时间")
    try:
        if len(value) == 10:
            dt.date.fromisoformat(value)
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError
    except ValueError:
        raise invalid(field, f"{field} 应为日期 YYYY-MM-DD 或带时区的 RFC 3339 时间，收到 {value!r}") from None
    return value


def require_stage(app: App, key: str, field: str = "key") -> None:
    if app.profile.stage(key) is None:
        raise NotFound(f"阶段 {key} 不在阶段目录中", [(field, "未知阶段")])


def set_stage(uow: UnitOfWork, code: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    require_stage(uow.app, key)
    project = uow.project(code, Action.STAGE_WRITE, stage=key)
    status = lifecycle.check_status(body.get("status"))
    values = {f: (check_date(body.get(f), f) if f.endswith("_at") else body.get(f)) for f in FIELDS}
    current = statuses(uow.session, project)
    attrs = {k: getattr(project, k) for k in (*registry.CODED, "zone")}  # [standards] rules with `when:`
    broken = lifecycle.check_transition(uow.profile, key, status, current, attrs)
    if broken:
        raise Conflict(f"违反生命周期规则 {broken.rule}：{broken.message}", [("status", broken.message)],
                       rule=broken.rule)
    if status == "done":
        _no_open_review(uow.session, project, key)
    previous = current.get(key, "pending")
    row = uow.session.get(Stage, (project.id, key))
    if row is None:
        row = Stage(project_id=project.id, key=key)
        uow.session.add(row)
    row.status, row.updated_by, row.updated_at = status, uow.actor.name, uow.now
    for f in FIELDS:
        if f in body:
            setattr(row, f, values[f])
    _record(uow, project, key, status, previous, values, body.get("data") or {})
    current[key] = status
    project.current_stage = lifecycle.current_stage(uow.profile, current)
    if values.get("case_no"):
        registry.add_ref(uow.session, project, "case_no", str(values["case_no"]))
    uow.session.flush()
    uow.emit(ev.StageChanged(stage=key, status=status, previous=previous, reason=body.get("reason"), **values), code)
    return next(s for s in stage_list(uow.session, uow.app, project) if s["key"] == key)


def _no_open_review(session: Session, project: Project, key: str) -> None:
    """[joint] A stage may be done without a joint review, never while one of it is open: 409 naming the sections
    whose opinion is still pending (API.md, "Joint review")."""
    review = session.execute(select(JointReview).where(
        JointReview.project_id == project.id, JointReview.stage == key, JointReview.status == "open")
        .order_by(JointReview.id)).scalars().first()
    if review is None:
        return
    pending = list(session.execute(select(JointOpinion.section).where(
        JointOpinion.review_id == review.id, JointOpinion.status == "pending").order_by(JointOpinion.position)
    ).scalars())
    raise Conflict(f"联合审查 {review.id} 尚未办结，待签署意见的科室：{'、'.join(pending)}",
                   [("status", f"联合审查进行中，待签署：{'、'.join(pending)}")], rule="joint_review_open",
                   review_id=review.id, pending_sections=pending)


def _record(uow: UnitOfWork, project: Project, key: str, status: str, previous: str | None,
            values: dict[str, Any], data: dict[str, Any]) -> StageRecord:
    rec = StageRecord(project_id=project.id, key=key, status=status, previous_status=previous, actor=uow.actor.name,
                      at=uow.now, data=data, **values)
    uow.session.add(rec)
    return rec


def add_inspection(uow: UnitOfWork, code: str, body: dict[str, Any]) -> dict[str, Any]:
    """执法监察 may happen any time and many times: each record is kept; the stage shows the latest."""
    key = "inspection"
    require_stage(uow.app, key)
    project = uow.project(code, Action.STAGE_WRITE, stage=key)
    status = lifecycle.check_status(body.get("status") or "done")
    values = {f: (check_date(body.get(f), f) if f.endswith("_at") else body.get(f)) for f in FIELDS}
    previous = statuses(uow.session, project).get(key, "pending")
    rec = _record(uow, project, key, status, previous, values, body.get("data") or {})
    row = uow.session.get(Stage, (project.id, key)) or Stage(project_id=project.id, key=key)
    row.status, row.updated_by, row.updated_at = status, uow.actor.name, uow.now
    for f in FIELDS:
        setattr(row, f, values[f])
    uow.session.add(row)
    uow.session.flush()
    uow.emit(ev.StageChanged(stage=key, status=status, previous=previous, record_id=rec.id, **values), code)
    return record_dict(rec)


def history(session: Session, app: App, view: View, code: str, key: str | None = None) -> list[dict[str, Any]]:
    project = registry.get(session, code, view)
    stmt = select(StageRecord).where(StageRecord.project_id == project.id)
    if key:
        if app.profile.stage(key) is None:
            raise NotFound(f"阶段 {key} 不在阶段目录中", [("key", "未知阶段")])
        stmt = stmt.where(StageRecord.key == key)
    return [record_dict(r) for r in session.execute(stmt.order_by(StageRecord.id)).scalars()]


def record_dict(r: StageRecord) -> dict[str, Any]:
    return {"id": r.id, "key": r.key, "status": r.status, "previous_status": r.previous_status,
            "case_no": r.case_no, "department": r.department, "started_at": r.started_at,
            "finished_at": r.finished_at, "note": r.note, "data": r.data, "actor": r.actor, "at": rfc3339(r.at)}
