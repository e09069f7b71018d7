"""The one-code query (一码查询) and the project's QR codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import ChainOut, responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.onecode import chain
from yimatong.projects import registry

router = APIRouter(prefix="/api/v1", tags=["一码查询 Chain"])


@router.get("/projects/{code}/chain", response_model=ChainOut, responses=responses(401, 404),
            summary="一码查询：业务链",
            description="一个项目码下的全部业务：项目、阶段、按时间排序的事件、调用方有权看到的成果、地块（FeatureCollection）。")
def get_chain(code: str, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return chain.chain(session, app, View.of(app, actor), code)


def qr_response(app: App, request: Request, code: str, kind: str) -> Response:
    with app.db.read() as session:
        registry.get(session, code)
    body = chain.qr(chain.public_url(app, str(request.base_url), code), kind)
    media = "image/svg+xml" if kind == "svg" else "image/png"
    return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=86400"})


QR_RESPONSES = responses(401, 404) | {200: {"description": "二维码图片",
                                            "content": {"image/svg+xml": {}, "image/png": {}}}}


@router.get("/projects/{code}/qr.svg", responses=QR_RESPONSES, response_class=Response, summary="项目二维码（SVG）",
            description="二维码内容为该项目公开的一码查询页 /p/{code} 的地址。")
def qr_svg(code: str, request: Request, app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> Response:
    return qr_response(app, request, code, "svg")


@router.get("/projects/{code}/qr.png", responses=QR_RESPONSES, response_class=Response, summary="项目二维码（PNG）",
            description="二维码内容为该项目公开的一码查询页 /p/{code} 的地址。")
def qr_png(code: str, request: Request, app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> Response:
    return qr_response(app, request, code, "png")
