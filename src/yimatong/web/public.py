"""The public one-code page `/p/{code}` opened by scanning a project's QR code: no token, public fields only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yimatong.api.routes.chain import qr_response
from yimatong.core.context import App
from yimatong.domain import codes, localtime
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
    project = view["project"]
    land_use, edition = codes.attribute_reading(p, "land_use", project["land_use"], project["code"],
                                                project.get("edition"))
    zone = p.zone(project["zone"]) if project.get("zone") else None
    labels = {
        "division": p.label("division", project["division"]),
        "zone": zone.label if zone else None,
        "supply_type": p.label("supply_type", project["supply_type"]),
        "land_use": (land_use or project["land_use"]) + codes.edition_mark(p, edition),
        "current_stage": (p.stage(project["current_stage"]) or p.stages[0]).name,
    }
    return TEMPLATES.TemplateResponse(request, "public/project.html", {
        "view": view, "labels": labels, "status_text": STATUS_TEXT, "city": p.city, "profile": p,
        "witnessed": witnessed,
        "witnessed_at": localtime.format_local(witnessed["timestamp"], p.tz) if witnessed else None})


@router.get("/p/{code}/qr.svg", response_class=Response, summary="公开二维码（SVG）")
def public_qr_svg(code: str, request: Request) -> Response:
    return qr_response(_app(request), request, code, "svg")


@router.get("/p/{code}/qr.png", response_class=Response, summary="公开二维码（PNG）")
def public_qr_png(code: str, request: Request) -> Response:
    return qr_response(_app(request), request, code, "png")
