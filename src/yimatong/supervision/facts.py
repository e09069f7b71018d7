"""What the warning rules read: the facts of projects (all, of a division, or of a few ids) and the spatial
conflicts as warnings. Shared by the full computation (`service`) and the stored, incremental one (`stored`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core.context import App, local_today
from yimatong.domain import localtime
from yimatong.domain import supervision as rules
from yimatong.joint import limits, reviews
from yimatong.parcels import spatial as spatial_checks
from yimatong.storage.models import JointOpinion, JointReview, Project, Result, Stage

STAGE_KEYS = ("pre_review", "land_approval", "supply", "works_permit", "construction", "verification",
              "compensation", "registration")


def _facts(session: Session, app: App, division: str | None, ids: list[int] | None = None) -> dict[int, rules.Facts]:
    """The facts of the active projects (of a division, or of these ids only: a stored-warnings update)."""
    stmt = select(Project.id, Project.code, Project.name, Project.division, Project.code_outdated,
                  Project.updated_at, Project.area_m2).where(Project.status == "active")
    if division:
        stmt = stmt.where(Project.division == division)
    if ids is not None:
        stmt = stmt.where(Project.id.in_(ids))
    tz = app.profile.tz
    facts = {pid: rules.Facts(code, name, div, code_outdated=outdated, updated=localtime.local_date(upd, tz),
                              area_m2=area)
             for pid, code, name, div, outdated, upd, area in session.execute(stmt)}
    st = select(Stage.project_id, Stage.key, Stage.status, Stage.started_at, Stage.finished_at).where(
        Stage.key.in_(STAGE_KEYS))
    if ids is not None:
        st = st.where(Stage.project_id.in_(ids))
    for pid, key, status, started, finished in session.execute(st):
        f = facts.get(pid)
        if f is not None:
            f.statuses[key] = status
            f.started[key] = _day(started, tz)
            f.finished[key] = _day(finished, tz)
    _supply_facts(session, app, facts, ids)
    _time_facts(session, app, facts, ids)
    return facts


def _time_facts(session: Session, app: App, facts: dict[int, rules.Facts], ids: list[int] | None = None) -> None:
    """[joint] Due dates of open stages with a limit (suspensions stop their clock) and of open joint reviews,
    counted in working days by joint/limits.py; a due date the calendar cannot give is no fact (never guessed)."""
    today = local_today(app.profile)
    keys = list(app.profile.time_limits.stages)
    if keys:
        stmt = select(Stage.project_id, Stage.key, Stage.status, Stage.started_at).where(
            Stage.key.in_(keys), Stage.status.in_(limits.OPEN_STATUSES))
        if ids is not None:  # a stored-warnings update of a few projects reads only theirs
            stmt = stmt.where(Stage.project_id.in_(ids))
        rows = [r for r in session.execute(stmt) if r[0] in facts]
        stops = limits.suspensions_of(session, sorted({r[0] for r in rows}))
        for pid, key, status, started in rows:
            due = limits.stage_times(app, {"key": key, "status": status, "started_at": started},
                                     stops.get((pid, key), []), today).get("due")
            if due:
                facts[pid].step_dues[key] = (dt.date.fromisoformat(due), app.profile.time_limits.stages[key])
    open_q = select(JointReview).where(JointReview.status == "open")
    if ids is not None:
        open_q = open_q.where(JointReview.project_id.in_(ids))
    open_reviews = [r for r in session.execute(open_q).scalars() if r.project_id in facts]
    pending: dict[int, list[str]] = {}
    if open_reviews:
        waiting = (select(JointOpinion.review_id, JointOpinion.section)
                .where(JointOpinion.review_id.in_([r.id for r in open_reviews]), JointOpinion.status == "pending")
                .order_by(JointOpinion.review_id, JointOpinion.position))
        for rid, section in session.execute(waiting):
            pending.setdefault(rid, []).append(section)
    for review in open_reviews:
        due = reviews.review_due(app, review).get("due")
        if due:
            facts[review.project_id].review_dues.append(
                (review.id, review.stage, dt.date.fromisoformat(due), pending.get(review.id, [])))


def _day(value: str | None, tz: Any) -> dt.date | None:
    """A stage date as people count it: an RFC 3339 time is converted to its local date first."""
    return rules.parse_day(localtime.local_day_text(value, tz)) if value else None


def _supply_facts(session: Session, app: App, facts: dict[int, rules.Facts], ids: list[int] | None = None) -> None:
    """Contract facts from the supply results' data (the latest result's value of each key wins) and whether a
    闲置土地认定书 confirms the land idle."""
    spec = app.profile.supervision
    keys = spec.supply_data_keys
    tz = app.profile.tz
    supply = select(Result.project_id, Result.data).where(Result.stage == "supply").order_by(Result.id)
    if ids is not None:
        supply = supply.where(Result.project_id.in_(ids))
    for pid, data in session.execute(supply):
        f = facts.get(pid)
        if f is None or not isinstance(data, dict):
            continue
        for name in ("agreed_start", "agreed_finish", "agreed_delivery", "actual_delivery", "suspended_since"):
            day = _day(data.get(keys[name]), tz) if isinstance(data.get(keys[name]), str) else None
            if day is not None:
                setattr(f, name, day)
        for name in ("developed_area_ratio", "invested_ratio"):
            ratio = rules.parse_ratio(data.get(keys[name]))
            if ratio is not None:
                setattr(f, name, ratio)
        if isinstance(data.get(keys["government_cause"]), bool):
            f.government_cause = data[keys["government_cause"]]
    if spec.idle_confirm_kinds:
        confirmed = select(Result.project_id).where(Result.kind.in_(spec.idle_confirm_kinds)).distinct()
        if ids is not None:
            confirmed = confirmed.where(Result.project_id.in_(ids))
        for (pid,) in session.execute(confirmed):
            if pid in facts:
                facts[pid].idle_confirmed = True


def _spatial_issues(session: Session, app: App, division: str | None) -> list[rules.Warning]:
    out = []
    for issue in spatial_checks.all_issues(session, app, division):
        level = 2 if issue["kind"] == "control_layer" and issue.get("layer") != "dev_boundary" else 1
        out.append(rules.Warning("spatial_conflict", level, issue["code"], None, issue["detail"], issue["name"],
                                 issue["division"]))
    return out


def spatial_warning(issue: dict[str, Any]) -> rules.Warning:
    level = 2 if issue["kind"] == "control_layer" and issue.get("layer") != "dev_boundary" else 1
    return rules.Warning("spatial_conflict", level, issue["code"], None, issue["detail"], issue["name"],
                         issue["division"])
