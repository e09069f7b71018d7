"""Error pages for people: a browser (a request that accepts text/html) outside /api/ and /ogc/ gets a Chinese
HTML page with the same status (404, 403, 405, 422, 500 …) and a way back; API clients, and every /api/ and /ogc/
path whatever they accept, keep application/problem+json (RFC 9457) from api/problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from yimatong.api import problems
from yimatong.domain.codes import CodeError
from yimatong.domain.lifecycle import LifecycleError
from yimatong.errors import AppError
from yimatong.web import auth
from yimatong.web.templating import TEMPLATES

MACHINE_PREFIXES = ("/api/", "/ogc/", "/ogc")
HEADINGS = {400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "页面不存在", 405: "不支持的操作",
            409: "操作冲突", 413: "内容过大", 422: "输入有误", 429: "操作太频繁", 500: "系统出错了", 503: "系统正忙"}
HINTS = {404: "地址可能输错了，或者该页面已经移走。", 403: "您的账号没有这项权限；如需开通请联系管理员。",
         500: "系统遇到了意外错误，已记录在日志中。请稍后重试；如仍出现请联系管理员。",
         503: "另一项操作正在进行，请稍后重试。"}


def wants_page(request: Request) -> bool:
    """A person's browser, not an API client: it asks for HTML, on a path that is not a machine interface."""
    path = request.url.path
    if path == "/ogc" or path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The error page itself (also for pages that refuse something on their own, e.g. a stale form)."""
    ctx: dict[str, Any] = {"status": status, "heading": HEADINGS.get(status, "出错了"), "detail": detail,
                           "hint": HINTS.get(status, ""), "active": "", "csrf": "", "user": None}
    try:  # the page shows who is logged in when that can still be found out (not when the database is down)
        ymt = request.app.state.ymt
        ctx |= {"profile": ymt.profile, "user": auth.current_user(request), "csrf": auth.csrf_token(request)}
        return TEMPLATES.TemplateResponse(request, "error.html", ctx, status_code=status, headers=headers)
    except Exception:  # noqa: BLE001 - the error page must not fail in turn: plain HTML then
        body = f"<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{ctx['heading']}</title>" \
               f"<h1>{ctx['heading']}</h1><p>{problems_escape(detail)}</p><p><a href=\"/\">返回首页</a></p></html>"
        return HTMLResponse(body, status_code=status, headers=headers)


def problems_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


Handler = Callable[[Request, Any], Awaitable[Response]]


def _either(api: Handler, detail: Callable[[Any], tuple[int, str]]) -> Handler:
    """The API's handler for API clients, the error page for a browser."""

    async def handle(request: Request, exc: Any) -> Response:
        if not wants_page(request):
            return await api(request, exc)
        status, text = detail(exc)
        headers = None
        if status == 405:
            headers = {"Allow": ", ".join(problems.allowed_methods(request))}
        return error_page(request, status, text, headers)

    return handle


def _http_detail(exc: StarletteHTTPException) -> tuple[int, str]:
    text = exc.detail if isinstance(exc.detail, str) else ""
    text = problems.ENGLISH_DETAILS.get(text, text) or problems.TITLES.get(exc.status_code, "出错了")
    if exc.status_code == 404:
        text = "您要找的页面不存在。"
    return exc.status_code, text


def _validation_detail(exc: RequestValidationError) -> tuple[int, str]:
    parts = [f"{problems.field_of(e)}：{problems.message_of(e)}" for e in exc.errors()[:5]]
    return 422, "请求参数有误：" + "；".join(parts)


def install(app: FastAPI) -> None:
    """After problems.install: these wrap its handlers (the last registration for a type wins)."""
    app.add_exception_handler(StarletteHTTPException, _either(problems.http_error, _http_detail))
    app.add_exception_handler(RequestValidationError, _either(problems.validation_error, _validation_detail))
    app.add_exception_handler(AppError, _either(problems.app_error, lambda e: (e.status, e.detail)))
    app.add_exception_handler(CodeError, _either(problems.code_error, lambda e: (422, e.message)))
    app.add_exception_handler(LifecycleError, _either(problems.lifecycle_error, lambda e: (422, e.message)))
    app.add_exception_handler(Exception, _either(problems.server_error,
                                                 lambda _: (500, "服务器内部错误")))
