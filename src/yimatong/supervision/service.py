"""Supervision over the whole library: warnings and statistics computed with set-based queries, and the
warnings exported to Excel."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.context import App, local_today
from yimatong.domain import localtime
from yimatong.domain import supervision as rules
from yimatong.errors import invalid
from yimatong.formats.xlsx_out import Column, Table, filter_text
from yimatong.joint import limits, reviews
from yimatong.parcels import spatial as spatial_checks
from yimatong.storage.models import ControlLayerFeature, Event, JointOpinion, JointReview, Project, Result, Stage

GROUPS = ("division", "stage", "year", "supply_type", "zone", "approved_not_supplied")


STAGE_KEYS = ("pre_review", "land_approval", "supply", "works_permit", "construction", "verification",
              "compensation", "registration")


def _facts(session: Session, app: App, division: str | None) -> dict[int, rules.Facts]:
    stmt = select(Project.id, Project.code, Project.name, Project.division, Project.code_outdated,
                  Project.updated_at, Project.area_m2).where(Project.status == "active")
    if division:
        stmt = stmt.where(Project.division == division)
    tz = app.profile.tz
    facts = {pid: rules.Facts(code, name, div, code_outdated=outdated, updated=localtime.local_date(upd, tz),
                              area_m2=area)
             for pid, code, name, div, outdated, upd, area in session.execute(stmt)}
    st = select(Stage.project_id, Stage.key, Stage.status, Stage.started_at, Stage.finished_at).where(
        Stage.key.in_(STAGE_KEYS))
    for pid, key, status, started, finished in session.execute(st):
        f = facts.get(pid)
        if f is not None:
            f.statuses[key] = status
            f.started[key] = _day(started, tz)
            f.finished[key] = _day(finished, tz)
    _supply_facts(session, app, facts)
    _time_facts(session, app, facts)
    return facts


def _time_facts(session: Session, app: App, facts: dict[int, rules.Facts]) -> None:
    """[joint] Due dates of open stages with a limit (suspensions stop their clock) and of open joint reviews,
    counted in working days by joint/limits.py; a due date the calendar cannot give is no fact (never guessed)."""
    today = local_today(app.profile)
    keys = list(app.profile.time_limits.stages)
    if keys:
        stmt = select(Stage.project_id, Stage.key, Stage.status, Stage.started_at).where(
            Stage.key.in_(keys), Stage.status.in_(limits.OPEN_STATUSES))
        rows = [r for r in session.execute(stmt) if r[0] in facts]
        stops = limits.suspensions_of(session, sorted({r[0] for r in rows}))
        for pid, key, status, started in rows:
            due = limits.stage_times(app, {"key": key, "status": status, "started_at": started},
                                     stops.get((pid, key), []), today).get("due")
            if due:
                facts[pid].step_dues[key] = (dt.date.fromisoformat(due), app.profile.time_limits.stages[key])
    open_reviews = [r for r in session.execute(select(JointReview).where(JointReview.status == "open")).scalars()
                    if r.project_id in facts]
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


def _supply_facts(session: Session, app: App, facts: dict[int, rules.Facts]) -> None:
    """Contract facts from the supply results' data (the latest result's value of each key wins) and whether a
    闲置土地认定书 confirms the land idle."""
    spec = app.profile.supervision
    keys = spec.supply_data_keys
    tz = app.profile.tz
    supply = select(Result.project_id, Result.data).where(Result.stage == "supply").order_by(Result.id)
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
        for (pid,) in session.execute(confirmed):
            if pid in facts:
                facts[pid].idle_confirmed = True


_CACHE: dict[tuple[str, str | None, str | None], tuple[tuple[Any, ...], list[rules.Warning]]] = {}


def _state(session: Session, today: dt.date) -> tuple[Any, ...]:
    """Everything warnings depend on: every change is a ledger event; control layers are counted; and the day."""
    head = session.execute(select(func.max(Event.seq))).scalar()
    layers = session.execute(select(func.count(ControlLayerFeature.id), func.max(ControlLayerFeature.id))).one()
    return head, tuple(layers), today


_LOCK = threading.Lock()


def all_warnings(session: Session, app: App, kind: str | None = None, division: str | None = None,
                 today: dt.date | None = None) -> list[rules.Warning]:
    """Warnings computed from the data; the result is reused until the ledger head (or the day) changes.
    Pages that must not wait use `ready_warnings`."""
    if kind is not None and kind not in rules.KINDS:
        raise invalid("kind", f"kind 应为 {', '.join(rules.KINDS)}")
    today = today or local_today(app.profile)
    key, state = (app.db.url, kind, division), _state(session, today)
    cached = _CACHE.get(key)
    if cached and cached[0] == state:
        return cached[1]
    out = _compute(session, app, kind, division, today)
    _CACHE[key] = (state, out)
    return out


def ready_warnings(session: Session, app: App, wait: float = 0.0) -> tuple[list[rules.Warning] | None, bool]:
    """All warnings as far as they are at hand, and whether they are current. When they are not, they are
    recomputed in the background and awaited for at most `wait` seconds (a small library is done by then);
    after that the previous result is returned as it is, or None if there is none yet. For pages."""
    key = (app.db.url, None, None)
    state = _state(session, local_today(app.profile))
    cached = _CACHE.get(key)
    if cached is None or cached[0] != state:
        refreshing = refresh_in_background(app)
        if wait > 0:
            refreshing.join(wait)
            cached = _CACHE.get(key)
    fresh = cached is not None and cached[0] == state
    return (cached[1] if cached else None), fresh


def count_by_kind(items: list[rules.Warning]) -> dict[str, int]:
    counts = dict.fromkeys(rules.KINDS, 0)
    for w in items:
        counts[w.kind] += 1
    return counts


_THREADS: dict[tuple[str, str | None, str | None], threading.Thread] = {}


def refresh_in_background(app: App, kind: str | None = None, division: str | None = None) -> threading.Thread:
    """Recompute in a thread (one at a time per filter), e.g. at start-up and after changes; returns the thread
    doing it, already running or new, for callers that want to wait a little."""
    key = (app.db.url, kind, division)

    def run() -> None:
        try:
            with app.db.read() as session:
                all_warnings(session, app, kind, division)
        except Exception:  # noqa: BLE001 - a failed background refresh is retried on the next request
            pass

    with _LOCK:
        running = _THREADS.get(key)
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(target=run, name="ymt-warnings", daemon=True)
        _THREADS[key] = thread
        thread.start()
    return thread


def _compute(session: Session, app: App, kind: str | None, division: str | None, today: dt.date
             ) -> list[rules.Warning]:
    out: list[rules.Warning] = []
    if kind != "spatial_conflict":
        for f in _facts(session, app, division).values():
            out += [w for w in rules.evaluate(f, today, app.profile.supervision) if kind in (None, w.kind)]
    if kind in (None, "spatial_conflict"):
        out += _spatial(session, app, division)
    return sorted(out, key=lambda w: (rules.KINDS.index(w.kind), -w.level, w.since or dt.date.max, w.code))


# Events that cannot change a spatial conflict: the stage and result traffic of daily work. Listed this way
# round so that an event type added later invalidates the spatial issues until someone says it need not.
NOT_SPATIAL = ("stage.changed", "result.added", "review.opened", "review.resolved", "import.completed")
_SPATIAL: dict[tuple[str, str | None], tuple[tuple[Any, ...], list[rules.Warning]]] = {}


def _spatial_state(session: Session) -> tuple[Any, ...]:
    """The last event that may move a parcel, a link or a project's status or division, and the control layers.
    Read backwards along the primary key: it stops at the first such event."""
    seq = session.execute(select(Event.seq).where(Event.type.not_in(NOT_SPATIAL)).order_by(Event.seq.desc())
                          .limit(1)).scalar()
    layers = session.execute(select(func.count(ControlLayerFeature.id), func.max(ControlLayerFeature.id))).one()
    return seq, tuple(layers)


def _spatial(session: Session, app: App, division: str | None) -> list[rules.Warning]:
    """Spatial conflicts, reused while nothing spatial has changed: they are most of the cost of the warnings
    (seconds at 100 000 parcels) and stage changes, the common case, leave them as they are."""
    key, state = (app.db.url, division), _spatial_state(session)
    cached = _SPATIAL.get(key)
    if cached and cached[0] == state:
        return cached[1]
    out = _spatial_issues(session, app, division)
    _SPATIAL[key] = (state, out)
    return out


def _spatial_issues(session: Session, app: App, division: str | None) -> list[rules.Warning]:
    out = []
    for issue in spatial_checks.all_issues(session, app, division):
        level = 2 if issue["kind"] == "control_layer" and issue.get("layer") != "dev_boundary" else 1
        out.append(rules.Warning("spatial_conflict", level, issue["code"], None, issue["detail"], issue["name"],
                                 issue["division"]))
    return out


def page(session: Session, app: App, kind: str | None, division: str | None, limit: int, cursor: str | None
         ) -> dict[str, Any]:
    pagination.check_limit(limit)
    start = pagination.decode_id(cursor) or 0
    items = all_warnings(session, app, kind, division)
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    return {"items": [w.as_dict() for w in chunk], "next_cursor": pagination.encode(start + limit) if more else None}


def stats(session: Session, app: App, group_by: str) -> dict[str, Any]:
    if group_by not in GROUPS:
        raise invalid("group_by", f"group_by 应为 {', '.join(GROUPS)}")
    if group_by == "approved_not_supplied":
        return approved_not_supplied_stock(session, app)
    column: Any = {"division": Project.division, "stage": Project.current_stage, "year": Project.year,
                   "supply_type": Project.supply_type, "zone": Project.zone}[group_by]
    stmt = (select(column, func.count(Project.id), func.coalesce(func.sum(Project.area_m2), 0.0))
            .where(Project.status == "active").group_by(column).order_by(column))
    rows = session.execute(stmt).all()
    items: list[dict[str, Any]] = [{"key": "" if k is None else str(k), "label": _label(app, group_by, k),
                                    "count": int(n), "area_m2": round(float(a), 2)} for k, n, a in rows]
    if group_by == "stage":
        order = {s.key: i for i, s in enumerate(app.profile.stages)}
        items.sort(key=lambda i: order.get(i["key"], 99))
    return {"group_by": group_by, "items": items, "total": {"count": sum(i["count"] for i in items),
                                                             "area_m2": round(sum(i["area_m2"] for i in items), 2)}}


def approved_not_supplied_stock(session: Session, app: App, today: dt.date | None = None) -> dict[str, Any]:
    """批而未供 stock by the approval's age (≤ 2 years, 2–5, > 5 by the profile's bands): count and area."""
    facts = list(_facts(session, app, None).values())
    items = rules.stock_by_age(facts, today or local_today(app.profile), app.profile.supervision.approved_not_supplied_age_bands)
    return {"group_by": "approved_not_supplied", "items": items,
            "total": {"count": sum(i["count"] for i in items), "area_m2": round(sum(i["area_m2"] for i in items), 2)}}


def _label(app: App, group_by: str, key: Any) -> str:
    if group_by == "division":
        return app.profile.label("division", key) or str(key)
    if group_by == "supply_type":
        return app.profile.label("supply_type", key) or str(key)
    if group_by == "zone":
        zone = app.profile.zone(key) if key else None
        return zone.label if zone else "（不属功能区）"
    if group_by == "stage":
        spec = app.profile.stage(key)
        return spec.name if spec else str(key)
    return f"{key}年"


WARNING_COLUMNS = [Column("预警类型", 14), Column("级别", 6, "int"), Column("项目码", 30), Column("项目名称", 36),
                   Column("行政区划", 12), Column("起算日期", 12, "date"), Column("面积（平方米）", 14, "real"),
                   Column("面积（亩）", 12, "real"), Column("说明", 60)]


def export_warnings(app: App, path: Path, kind: str | None = None, division: str | None = None,
                    items: list[rules.Warning] | None = None, shown_filters: dict[str, str] | None = None) -> int:
    """The warnings (all, or those given — the web page's filtered list) into xlsx with a title row naming the
    filter and the local export time, a frozen header, an autofilter, dates and areas typed."""
    if items is None:
        with app.db.read() as session:
            items = all_warnings(session, app, kind, division)
        shown_filters = shown_filters or {"预警类型": rules.KIND_LABELS.get(kind or "", ""),
                                          "行政区划": app.profile.label("division", division or "") or (division or "")}
    table = Table(str(path), "预警清单", f"{app.profile.city}预警清单", filter_text(shown_filters or {}, {}),
                  WARNING_COLUMNS, app.profile.tz, header_color="#FCE4D6")
    for w in items:
        table.row([rules.KIND_LABELS[w.kind], w.level, w.code, w.name,
                   app.profile.label("division", w.division) or w.division, w.since, w.area_m2,
                   round(w.area_m2 * 15 / 10_000, 4) if w.area_m2 is not None else None, w.detail])
    return table.close()
