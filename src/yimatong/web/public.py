"""The public one-code page `/p/{code}` opened by scanning a project's QR code: no token, public fields only."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yimatong.api.routes.chain import qr_response
from yimatong.core.context import App
from yimatong.domain.enums import StageStatus
from yimatong.errors import NotFound
from yimatong.ledger import treeheads
from yimatong.onecode import chain
from yimatong.web.templating import TEMPLATES

router = APIRouter(tags=["公开页 Public"])

STATUS_TEXT = StageStatus.labels()


def _app(request: Request) -> App:
    return request.app.state.ymt


@router.get("/p/{code}", response_class=HTMLResponse, summary="公开的一码查询页",
            description="扫描项目二维码打开的页面：只显示公开字段与公开成果，无需令牌。")
def public_page(code: str, request: Request) -> Response:
    app = _app(request)
    try:
        with app.db.read() as session:
            view = chain.public_view(session, app, code)
            witnessed = treeheads.witnessed_inclusion(session, code)  # the verifiable log (issue 15.6)
    except NotFound:
        return TEMPLATES.TemplateResponse(request, "public/not_found.html", {"code": code}, status_code=404)
    p = app.profile
    labels = {
        "division": p.label("division", view["project"]["division"]),
        "supply_type": p.label("supply_type", view["project"]["supply_type"]),
        "land_use": p.label("land_use", view["project"]["land_use"]),
        "current_stage": (p.stage(view["project"]["current_stage"]) or p.stages[0]).name,
    }
    return TEMPLATES.TemplateResponse(request, "public/project.html", {
        "view": view, "labels": labels, "status_text": STATUS_TEXT, "city": p.city,
        "witnessed": witnessed, "witnessed_at": _local_time(witnessed["timestamp"]) if witnessed else None})


def _local_time(rfc3339_text: str) -> str:
    """A head's time as people read it: in the city's time zone (Asia/Shanghai)."""
    t = dt.datetime.fromisoformat(rfc3339_text.replace("Z", "+00:00"))
    return t.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


@router.get("/p/{code}/qr.svg", response_class=Response, summary="公开二维码（SVG）")
def public_qr_svg(code: str, request: Request) -> Response:
    return qr_response(_app(request), request, code, "svg")


@router.get("/p/{code}/qr.png", response_class=Response, summary="公开二维码（PNG）")
def public_qr_png(code: str, request: Request) -> Response:
    return qr_response(_app(request), request, code, "png")
