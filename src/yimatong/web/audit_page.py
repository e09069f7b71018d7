"""The admin's audit page (访问审计): the read-audit records with filters (actor, action, date), paging newest
first, and an xlsx export in Chinese (itself audited)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from yimatong.api.deps import declares
from yimatong.domain.policy import Action
from yimatong.formats.xlsx_out import Column, Table, filter_text
from yimatong.ledger import audit
from yimatong.web.errors import error_page
from yimatong.web.pages import _actor, _ymt, page, render

router = APIRouter(include_in_schema=False)
ZONE = ZoneInfo("Asia/Shanghai")  # times shown to people: the profile's time zone
INTERFACES = {"api": "接口", "web": "网页", "cli": "命令行"}
PAGE = 50
EXPORT_MAX = 100_000
AUDIT_COLUMNS = [Column("序号", 8, "int"), Column("时间（北京时间）", 20, "datetime"), Column("操作者", 24),
                 Column("动作", 16), Column("对象", 48), Column("途径", 8), Column("来源地址", 18)]


def _utc_bound(day: str | None, after_days: int = 0) -> str | None:
    """A local date (YYYY-MM-DD) as the RFC 3339 UTC text the records are stored in (they compare as text)."""
    if not day:
        return None
    try:
        d = dt.date.fromisoformat(day)
    except ValueError:
        return None
    start = dt.datetime.combine(d + dt.timedelta(days=after_days), dt.time(), ZONE).astimezone(dt.UTC)
    return start.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _filter(actor: str | None, action: str | None, since: str | None, until: str | None) -> audit.Filter:
    return audit.Filter(actor=actor or None, action=action or None, since=_utc_bound(since),
                        until=_utc_bound(until, after_days=1))


def local(at: str) -> str:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _admin(request: Request) -> Any:
    actor = _actor(request)
    return actor if _ymt(request).profile.policy.may(actor, Action.AUDIT_READ) else None


@router.get("/audit", response_class=HTMLResponse)
@declares(Action.AUDIT_READ)
@page
def audit_page(request: Request, actor: str | None = Query(None, max_length=100),
               action: str | None = Query(None, max_length=40), since: str | None = Query(None, max_length=10),
               until: str | None = Query(None, max_length=10), before: int | None = Query(None, ge=1, le=2**62)
               ) -> Response:
    if _admin(request) is None:
        return error_page(request, 403, "访问审计仅管理员可见")
    with _ymt(request).db.read() as session:
        rows = audit.newest_first(session, _filter(actor, action, since, until), before, PAGE + 1)
    more, rows = len(rows) > PAGE, rows[:PAGE]
    query = {k: v for k, v in {"actor": actor, "action": action, "since": since, "until": until}.items() if v}
    return render(request, "audit.html", "audit", rows=rows, local=local, actions=audit.ACTIONS,
                  interfaces=INTERFACES, f=query, export_query=urlencode(query),
                  next_query=urlencode(query | {"before": rows[-1].seq}) if more else None, newer=before is not None)


@router.get("/audit.xlsx")
@declares(Action.AUDIT_READ)
@page
def audit_xlsx(request: Request, actor: str | None = Query(None, max_length=100),
               action: str | None = Query(None, max_length=40), since: str | None = Query(None, max_length=10),
               until: str | None = Query(None, max_length=10)) -> Response:
    admin = _admin(request)
    if admin is None:
        return error_page(request, 403, "访问审计仅管理员可见")
    app = _ymt(request)
    with app.db.read() as session:
        rows = audit.newest_first(session, _filter(actor, action, since, until), None, EXPORT_MAX)
    shown = {"操作者": actor or "", "动作": audit.ACTIONS.get(action or "", action or ""), "自": since or "",
             "至": until or ""}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.xlsx"
        table = Table(str(path), "访问审计", "访问审计记录", filter_text(shown, {}), AUDIT_COLUMNS, app.profile.tz)
        for r in rows:
            table.row([r.seq, r.at, r.actor, audit.ACTIONS.get(r.action, r.action), r.object,
                       INTERFACES.get(r.interface, r.interface), r.address or ""])
        table.close()
        data = path.read_bytes()
    audit.record(app, admin, "export.audit", f"audit.xlsx?{request.url.query}", "web",
                 request.client.host if request.client else None)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=\"audit.xlsx\"; "
                                                    "filename*=UTF-8''%E8%AE%BF%E9%97%AE%E5%AE%A1%E8%AE%A1.xlsx"})
