"""The review queue: rows of an import that look like an existing project but not certainly so.
A person decides: merge into the candidate, or keep separate (a new project is registered)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.context import rfc3339
from yimatong.domain import events as ev
from yimatong.domain.enums import ReviewState
from yimatong.domain.policy import Action
from yimatong.errors import Conflict, NotFound, invalid
from yimatong.intake import importer as importers
from yimatong.projects import registry
from yimatong.storage.models import Project, Review
from yimatong.uow import UnitOfWork

DECISIONS = ("merge", "keep_separate")


def review_dict(r: Review) -> dict[str, Any]:
    return {"id": r.id, "state": r.state, "candidate_code": r.candidate_code, "project_code": r.project_code or None,
            "score": r.score, "reason": r.reason, "row": r.source.get("row"), "kind": r.source.get("kind"),
            "values": r.source.get("values"), "decided_by": r.decided_by,
            "decided_at": rfc3339(r.decided_at) if r.decided_at else None, "created_at": rfc3339(r.created_at)}


def page(session: Session, state: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    pagination.check_limit(limit)
    after = pagination.decode_id(cursor)
    stmt = select(Review)
    if state:
        if state not in ReviewState.values():
            raise invalid("state", "state 应为 open、merged 或 kept")
        stmt = stmt.where(Review.state == state)
    if after is not None:
        stmt = stmt.where(Review.id > after)
    rows = list(session.execute(stmt.order_by(Review.id).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": [review_dict(r) for r in rows], "next_cursor": pagination.encode(rows[-1].id) if more else None}


def filtered(state: str | None, q: str | None = None, min_score: float | None = None,
             max_score: float | None = None) -> Select[Review]:
    """The review items of a state, a candidate code or imported name containing `q`, within a score range
    (the web queue's filters; its total and pages are counted over this)."""
    stmt = select(Review)
    if state:
        stmt = stmt.where(Review.state == state)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Review.candidate_code.like(like, escape="\\"), Review.reason.like(like, escape="\\"),
                              Review.project_code.like(like, escape="\\")))
    if min_score is not None:
        stmt = stmt.where(Review.score >= min_score)
    if max_score is not None:
        stmt = stmt.where(Review.score <= max_score)
    return stmt


SORTS: dict[str, tuple[Any, ...]] = {"id": (Review.id,), "score": (Review.score, Review.id),
                                     "candidate": (Review.candidate_code, Review.id)}


def by_ids(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """Review items by id, in the order given (the bulk decision's preview)."""
    rows = {r.id: r for r in session.execute(select(Review).where(Review.id.in_(ids))).scalars()}
    return [review_dict(rows[i]) for i in ids if i in rows]


def candidate_names(session: Session, items: list[dict[str, Any]]) -> dict[str, str]:
    """Names of the candidate projects of a page of review items, in one query (for the review page)."""
    codes = {i["candidate_code"] for i in items}
    if not codes:
        return {}
    return {code: name for code, name in session.execute(select(Project.code, Project.name)
                                                         .where(Project.code.in_(codes)))}


def resolve(uow: UnitOfWork, review_id: int, decision: str, reason: str | None) -> dict[str, Any]:
    uow.allow(Action.REVIEW_DECIDE)
    session = uow.session
    if decision not in DECISIONS:
        raise invalid("decision", "decision 应为 merge 或 keep_separate")
    # the row stays locked to commit: a second click (or a colleague) waits, then finds it decided
    review = session.get(Review, review_id, with_for_update=True)
    if review is None:
        raise NotFound(f"复核项 {review_id} 不存在", [("id", "不存在")])
    if review.state != "open":
        raise Conflict(f"复核项 {review_id} 已处理（{review.state}）", [("id", "已处理")])
    values = dict(review.source["values"])
    for key in ("planned_date", "approval_date"):
        if values.get(key):
            values[key] = dt.date.fromisoformat(values[key])
    source = review.source["source"]
    if decision == "merge":
        project = uow.project(review.candidate_code, Action.REVIEW_DECIDE)
        importers.merge_into(uow, project, values, source)
        review.state, review.project_code = ReviewState.MERGED, project.code
    else:
        project = registry.register(uow, importers.attributes(uow.app, values) | {"sources": [source]})
        review.state, review.project_code = ReviewState.KEPT, project.code
    review.decided_by, review.decided_at = uow.actor.name, uow.now
    uow.emit(ev.ReviewResolved(review_id=review.id, decision=decision, candidate_code=review.candidate_code,
                               reason=reason), project.code)
    return review_dict(review)
