"""Joint review of a stage (会签): sent to a set of sections, each signs its own opinion; the review closes by the
profile's rule (domain/joint.review_outcome). Every opinion is a ledger event. A stage cannot be set done while a
review of it is open (stages/service.py refuses it naming the pending sections)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core.context import App, local_today, rfc3339
from yimatong.core.visibility import View
from yimatong.domain import events as ev
from yimatong.domain import joint as rules
from yimatong.domain import workdays
from yimatong.domain.enums import Confidentiality
from yimatong.domain.policy import Action
from yimatong.errors import Conflict, NotFound, invalid
from yimatong.joint import limits, materials
from yimatong.projects import registry
from yimatong.results import service as results
from yimatong.storage.models import JointOpinion, JointReview, Project, Stage
from yimatong.uow import UnitOfWork

TEXT_MAX = 5000


def _sections(uow: UnitOfWork, key: str, given: Any) -> list[str]:
    if given is None:
        spec = uow.profile.joint_reviews.get(key)
        if spec is None:
            raise invalid("sections", f"阶段 {key} 没有默认的会签科室，请在 sections 中指定")
        return list(spec.sections)
    if not isinstance(given, list) or not given:
        raise invalid("sections", "sections 应为非空的科室数组")
    out: list[str] = []
    for i, s in enumerate(given):
        if not isinstance(s, str) or uow.profile.section(s) is None:
            known = "、".join(f"{x.value}（{x.label}）" for x in uow.profile.sections)
            raise invalid(f"sections.{i}", f"未知科室 {s!r}，可选：{known}")
        if s in out:
            raise invalid(f"sections.{i}", f"科室 {s} 重复")
        out.append(s)
    return out


def _due(uow: UnitOfWork, given: Any) -> str | None:
    if given is None:
        return None
    if not isinstance(given, str):
        raise invalid("due", "due 应为日期 YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(given)
    except ValueError:
        raise invalid("due", f"due 应为日期 YYYY-MM-DD，收到 {given!r}") from None
    if day < local_today(uow.profile):
        raise invalid("due", f"期限 {given} 已经过去（今天是 {local_today(uow.profile).isoformat()}）")
    return day.isoformat()


def open_review(uow: UnitOfWork, code: str, key: str, body: dict[str, Any]) -> JointReview:
    if uow.profile.stage(key) is None:
        raise NotFound(f"阶段 {key} 不在阶段目录中", [("key", "未知阶段")])
    project = uow.project(code, Action.JOINT_REVIEW_OPEN, stage=key)
    sections = _sections(uow, key, body.get("sections"))
    due = _due(uow, body.get("due"))
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > TEXT_MAX):
        raise invalid("note", f"note 应为不超过 {TEXT_MAX} 个字符的文本")
    row = uow.session.get(Stage, (project.id, key))
    if row is not None and row.status in ("done", "not_applicable"):
        raise Conflict(f"阶段 {key} 已{'办结' if row.status == 'done' else '标记为不适用'}，不能发起联合审查",
                       [("key", f"阶段状态为 {row.status}")])
    if open_of(uow.session, project.id, key) is not None:
        raise Conflict(f"阶段 {key} 已有进行中的联合审查", [("key", "已有进行中的联合审查")])
    review = JointReview(project_id=project.id, stage=key, status="open", sections=sections, due=due,
                         due_given=due is not None, note=note, opened_by=uow.actor.name, opened_at=uow.now)
    uow.session.add(review)
    uow.session.flush()
    for i, s in enumerate(sections):
        uow.session.add(JointOpinion(review_id=review.id, position=i, section=s, status="pending", result_ids=[]))
    uow.session.flush()
    shown_due = due or review_due(uow.app, review).get("due")
    uow.emit(ev.JointReviewOpened(review_id=review.id, stage=key, sections=sections, due=shown_due), code)
    return review


def open_of(session: Session, project_id: int, key: str) -> JointReview | None:
    stmt = select(JointReview).where(JointReview.project_id == project_id, JointReview.stage == key,
                                     JointReview.status == "open")
    return session.execute(stmt).scalars().first()


def _text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > TEXT_MAX:
        raise invalid(field, f"{field} 应为不超过 {TEXT_MAX} 个字符的文本")
    return value.strip() or None


def sign(uow: UnitOfWork, review_id: int, section: str, body: dict[str, Any]) -> JointReview:
    """One section's opinion. Only an actor acting for the section (or admin) may write it (403)."""
    review = uow.session.get(JointReview, review_id)
    if review is None:
        raise NotFound(f"联合审查 {review_id} 不存在", [("id", "联合审查不存在")])
    project = uow.session.get(Project, review.project_id)
    assert project is not None
    if not uow.view.policy.in_scope(uow.actor, project.division):
        raise NotFound(f"联合审查 {review_id} 不存在", [("id", "联合审查不存在")])
    uow.project(project.code, Action.OPINION_SIGN)
    uow.allow(Action.OPINION_SIGN, section=section)
    opinion = uow.session.execute(select(JointOpinion).where(
        JointOpinion.review_id == review.id, JointOpinion.section == section)).scalars().first()
    if opinion is None:
        raise NotFound(f"科室 {section} 不在联合审查 {review_id} 的会签范围内", [("section", "不在会签科室之列")])
    status = body.get("status")
    if status not in rules.SIGNED_STATUSES:
        raise invalid("status", f"意见应为 {', '.join(f'{s}（{rules.OPINION_LABELS[s]}）' for s in rules.SIGNED_STATUSES)}")
    text, conditions = _text(body, "text"), _text(body, "conditions")
    if status == "agree_with_conditions" and not conditions:
        raise invalid("conditions", "有条件同意须写明条件（conditions）")
    if status in rules.REFUSING and not text:
        raise invalid("text", "不同意或退回须说明理由（text）")
    attached = _attachments(uow, project, body.get("result_ids"))
    same = (opinion.status, opinion.text, opinion.conditions, opinion.result_ids, opinion.signed_by) == \
        (status, text, conditions, [r.id for r in attached], uow.actor.name)
    if same:
        return review   # a retried PUT: the opinion stands as signed, no second ledger entry
    if review.status != "open":
        raise Conflict(f"联合审查 {review_id} 已办结（{rules.REVIEW_LABELS[review.status]}），不能再签署意见",
                       [("status", f"联合审查状态为 {review.status}")])
    opinion.status, opinion.text, opinion.conditions = status, text, conditions
    opinion.result_ids = [r.id for r in attached]
    opinion.signed_by, opinion.signed_at = uow.actor.name, uow.now
    uow.session.flush()
    restricted = next((r for r in attached if r.confidentiality == Confidentiality.RESTRICTED), None)
    uow.emit(ev.JointReviewOpinion(review_id=review.id, section=section, status=status, signed_by=uow.actor.name,
                                   text=text, conditions=conditions, result_ids=opinion.result_ids), project.code,
             confidentiality=Confidentiality.RESTRICTED if restricted else Confidentiality.INTERNAL,
             owner_role=restricted.created_role if restricted else None)
    _maybe_close(uow, review, project)
    return review


def _attachments(uow: UnitOfWork, project: Project, ids: Any) -> list[Any]:
    """The results attached to an opinion: results of this project the signer may see."""
    if ids is None:
        return []
    if not isinstance(ids, list) or len(ids) > 100:
        raise invalid("result_ids", "result_ids 应为成果 id 数组（最多 100 个）")
    visible = {r.id: r for r in results.visible_results(uow.session, uow.view, [project.id])}
    out = []
    for i, rid in enumerate(ids):
        if not isinstance(rid, int) or isinstance(rid, bool) or rid not in visible:
            raise invalid(f"result_ids.{i}", f"成果 {rid!r} 不是本项目的成果（或无权查看）")
        if visible[rid] not in out:
            out.append(visible[rid])
    return out


def _maybe_close(uow: UnitOfWork, review: JointReview, project: Project) -> None:
    statuses = uow.session.execute(select(JointOpinion.status).where(JointOpinion.review_id == review.id)).scalars()
    outcome = rules.review_outcome(statuses)
    if outcome == "open":
        return
    review.status, review.closed_at = outcome, uow.now
    uow.session.flush()
    uow.emit(ev.JointReviewClosed(review_id=review.id, status=outcome), project.code)


# --- reads -----------------------------------------------------------------------------------------------------

def review_due(app: App, review: JointReview) -> dict[str, Any]:
    """A review's due date: the one given when it was opened, else the profile's limit in working days from the
    day it was opened; `working_days_left` while it is open."""
    today = local_today(app.profile)
    is_open = review.status == "open"
    if review.due:
        due = dt.date.fromisoformat(review.due)
        try:
            left = workdays.days_left(today, due, app.profile.time_limits.working_calendar()) if is_open else None
        except workdays.CalendarGap as exc:
            return {"due": review.due, "working_days_left": None, "due_note": str(exc)}
        return {"due": review.due, "working_days_left": left, "due_note": None}
    limit = app.profile.time_limits.joint_review
    if limit is None:
        return {"due": None, "working_days_left": None, "due_note": None}
    opened = review.opened_at if review.opened_at.tzinfo else review.opened_at.replace(tzinfo=dt.UTC)
    return limits.deadline(opened.astimezone(app.profile.tz).date(), limit, [], today, is_open,
                           app.profile.time_limits.working_calendar())


def review_dict(session: Session, app: App, view: View, review: JointReview, project: Project,
                with_materials: bool = True) -> dict[str, Any]:
    visible = {r.id for r in results.visible_results(session, view, [project.id])}
    opinions = session.execute(select(JointOpinion).where(JointOpinion.review_id == review.id)
                               .order_by(JointOpinion.position)).scalars()
    labels = {s.value: s.label for s in app.profile.sections}
    return {"id": review.id, "code": project.code, "stage": review.stage, "status": review.status,
            "opened_at": rfc3339(review.opened_at), "opened_by": review.opened_by,
            "closed_at": rfc3339(review.closed_at) if review.closed_at else None,
            "note": review.note, **review_due(app, review),
            "opinions": [{"section": o.section, "section_label": labels.get(o.section, o.section),
                          "status": o.status, "text": o.text, "conditions": o.conditions, "signed_by": o.signed_by,
                          "signed_at": rfc3339(o.signed_at) if o.signed_at else None,
                          "result_ids": [r for r in o.result_ids if r in visible]} for o in opinions],
            "materials": materials.catalogue(session, app, view, project, review.stage) if with_materials else []}


def get(session: Session, app: App, view: View, review_id: int) -> dict[str, Any]:
    review = session.get(JointReview, review_id)
    project = session.get(Project, review.project_id) if review is not None else None
    if review is None or project is None or not view.policy.in_scope(view.actor, project.division):
        raise NotFound(f"联合审查 {review_id} 不存在", [("id", "联合审查不存在")])
    return review_dict(session, app, view, review, project)


def for_stage(session: Session, app: App, view: View, code: str, key: str | None, with_materials: bool = True
              ) -> list[dict[str, Any]]:
    project = registry.get(session, code, view)
    if key is not None and app.profile.stage(key) is None:
        raise NotFound(f"阶段 {key} 不在阶段目录中", [("key", "未知阶段")])
    stmt = select(JointReview).where(JointReview.project_id == project.id)
    if key is not None:
        stmt = stmt.where(JointReview.stage == key)
    rows = session.execute(stmt.order_by(JointReview.id)).scalars()
    return [review_dict(session, app, view, r, project, with_materials) for r in rows]
