"""Supervision over the whole library: warnings and statistics computed with set-based queries, and the
warnings exported to Excel."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.context import App, local_today
from yimatong.core.visibility import View
from yimatong.domain import supervision as rules
from yimatong.errors import invalid
from yimatong.formats.xlsx_out import Column, Table, filter_text
from yimatong.storage.models import Project
from yimatong.supervision import stored
from yimatong.supervision.facts import _facts, _spatial_issues

GROUPS = ("division", "stage", "year", "supply_type", "zone", "approved_not_supplied")


def all_warnings(session: Session, app: App, view: View, kind: str | None = None, division: str | None = None,
                 today: dt.date | None = None) -> list[rules.Warning]:
    """Every warning the reader may see (of a kind, of a division), as stored for every process and brought up to
    date first (`stored.refresh`). A `today` other than the local date is computed afresh (a view of another
    day). A reader limited to some divisions sees theirs only, as with projects."""
    if kind is not None and kind not in rules.KINDS:
        raise invalid("kind", f"kind 应为 {', '.join(rules.KINDS)}")
    if today is not None and today != local_today(app.profile):
        return [w for w in compute(session, app, kind, division, today) if _in(view, w)]
    stored.refresh(app)
    with app.db.read() as fresh:  # a session that began after the update (SQLite's snapshot is per transaction)
        return stored.load(fresh, kind, division, divisions=view.divisions)


def _in(view: View, w: rules.Warning) -> bool:
    return view.divisions is None or w.division in view.divisions


def ready_warnings(session: Session, app: App, view: View, wait: float = 0.0,  # noqa: ARG001 - read afresh
                   code: str | None = None) -> tuple[list[rules.Warning] | None, bool]:
    """The stored warnings the reader may see (of one project: `code`) and whether they are current. When they
    are not, they are brought up to date in the background and awaited for at most `wait` seconds (an
    incremental update is done by then; the first full computation of a large library is not); after that the
    stored ones are returned as they are, or None if there are none yet. For pages."""
    current = _ready(app, wait)
    with app.db.read() as fresh:
        if not current and not stored.ever_computed(fresh):
            return None, False
        return stored.load(fresh, divisions=view.divisions, code=code), current


def ready_counts(app: App, view: View) -> tuple[dict[str, int] | None, bool]:
    """Warnings by kind the reader may see, as `ready_warnings` without waiting — counted in the database, not
    by loading every warning (the dashboard, at 160 000 warnings)."""
    current = _ready(app, 0.0)
    with app.db.read() as fresh:
        if not current and not stored.ever_computed(fresh):
            return None, False
        return stored.counts(fresh, view.divisions), current


def _ready(app: App, wait: float) -> bool:
    with app.db.read() as fresh:
        current = stored.is_current(fresh, app)
    if not current:
        refresh_in_background(app).join(wait)
        with app.db.read() as fresh:
            current = stored.is_current(fresh, app)
    return current


def count_by_kind(items: list[rules.Warning]) -> dict[str, int]:
    counts = dict.fromkeys(rules.KINDS, 0)
    for w in items:
        counts[w.kind] += 1
    return counts


_THREADS: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


def refresh_in_background(app: App) -> threading.Thread:
    """Bring the stored warnings up to date in a thread (one at a time per database), e.g. at start-up: the
    first computation of a library; returns the thread doing it, already running or new."""
    def run() -> None:
        with contextlib.suppress(Exception):  # a failed update is retried by the next reader
            stored.refresh(app)

    with _LOCK:
        running = _THREADS.get(app.db.url)
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(target=run, name="ymt-warnings", daemon=True)
        _THREADS[app.db.url] = thread
        thread.start()
    return thread


def compute(session: Session, app: App, kind: str | None, division: str | None, today: dt.date
            ) -> list[rules.Warning]:
    """Every warning computed from the data now, without the store (another day; the tests' reference)."""
    return _compute(session, app, kind, division, today)


def _compute(session: Session, app: App, kind: str | None, division: str | None, today: dt.date
             ) -> list[rules.Warning]:
    out: list[rules.Warning] = []
    if kind != "spatial_conflict":
        for f in _facts(session, app, division).values():
            out += [w for w in rules.evaluate(f, today, app.profile.supervision) if kind in (None, w.kind)]
    if kind in (None, "spatial_conflict"):
        out += _spatial(session, app, division)
    return sorted(out, key=lambda w: (rules.KINDS.index(w.kind), -w.level, w.since or dt.date.max, w.code))


def _spatial(session: Session, app: App, division: str | None) -> list[rules.Warning]:
    return _spatial_issues(session, app, division)


def page(session: Session, app: App, view: View, kind: str | None, division: str | None,  # noqa: ARG001
         limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of the stored warnings, read with LIMIT/OFFSET (not the whole list) after bringing them up to
    date: what every process answers right after a change."""
    pagination.check_limit(limit)
    if kind is not None and kind not in rules.KINDS:
        raise invalid("kind", f"kind 应为 {', '.join(rules.KINDS)}")
    start = pagination.decode_id(cursor) or 0
    stored.refresh(app)
    with app.db.read() as fresh:
        chunk = stored.load(fresh, kind, division, offset=start, limit=limit + 1, divisions=view.divisions)
    more, chunk = len(chunk) > limit, chunk[:limit]
    return {"items": [w.as_dict() for w in chunk], "next_cursor": pagination.encode(start + limit) if more else None}


def stats(session: Session, app: App, view: View, group_by: str) -> dict[str, Any]:
    """Active projects the reader may see (their divisions only, when limited), counted and summed by a key."""
    if group_by not in GROUPS:
        raise invalid("group_by", f"group_by 应为 {', '.join(GROUPS)}")
    if group_by == "approved_not_supplied":
        return approved_not_supplied_stock(session, app, view)
    column: Any = {"division": Project.division, "stage": Project.current_stage, "year": Project.year,
                   "supply_type": Project.supply_type, "zone": Project.zone}[group_by]
    stmt = (select(column, func.count(Project.id), func.coalesce(func.sum(Project.area_m2), 0.0))
            .where(Project.status == "active", view.projects()).group_by(column).order_by(column))
    rows = session.execute(stmt).all()
    items: list[dict[str, Any]] = [{"key": "" if k is None else str(k), "label": _label(app, group_by, k),
                                    "count": int(n), "area_m2": round(float(a), 2)} for k, n, a in rows]
    if group_by == "stage":
        order = {s.key: i for i, s in enumerate(app.profile.stages)}
        items.sort(key=lambda i: order.get(i["key"], 99))
    return {"group_by": group_by, "items": items, "total": {"count": sum(i["count"] for i in items),
                                                             "area_m2": round(sum(i["area_m2"] for i in items), 2)}}


def approved_not_supplied_stock(session: Session, app: App, view: View, today: dt.date | None = None
                                ) -> dict[str, Any]:
    """批而未供 stock by the approval's age (≤ 2 years, 2–5, > 5 by the profile's bands): count and area."""
    facts = [f for f in _facts(session, app, None).values() if view.divisions is None or f.division in view.divisions]
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


def export_warnings(app: App, view: View, path: Path, kind: str | None = None, division: str | None = None,
                    items: list[rules.Warning] | None = None, shown_filters: dict[str, str] | None = None) -> int:
    """The warnings the reader may see (all, or those given — the web page's filtered list) into xlsx with a
    title row naming the filter and the local export time, a frozen header, an autofilter, dates and areas typed."""
    if items is None:
        with app.db.read() as session:
            items = all_warnings(session, app, view, kind, division)
        shown_filters = shown_filters or {"预警类型": rules.KIND_LABELS.get(kind or "", ""),
                                          "行政区划": app.profile.label("division", division or "") or (division or "")}
    table = Table(str(path), "预警清单", f"{app.profile.city}预警清单", filter_text(shown_filters or {}, {}),
                  WARNING_COLUMNS, app.profile.tz, header_color="#FCE4D6")
    for w in items:
        table.row([rules.KIND_LABELS[w.kind], w.level, w.code, w.name,
                   app.profile.label("division", w.division) or w.division, w.since, w.area_m2,
                   round(w.area_m2 * 15 / 10_000, 4) if w.area_m2 is not None else None, w.detail])
    return table.close()
