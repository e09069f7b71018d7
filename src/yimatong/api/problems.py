"""application/problem+json (RFC 9457) for every error: ours, FastAPI's validation and Starlette's 404/405."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from yimatong.domain.codes import CodeError
from yimatong.domain.lifecycle import LifecycleError
from yimatong.errors import AppError
from yimatong.ops.logs import REQUEST_ID
from yimatong.storage.blob_backends import BlobStoreError
from yimatong.storage.db import is_busy

PROBLEM = "application/problem+json"
TITLES = {400: "请求格式错误", 401: "未认证", 403: "无权操作", 404: "资源不存在", 405: "方法不允许",
          409: "冲突", 413: "内容过大", 415: "不支持的媒体类型", 422: "输入数据无效", 429: "请求过多",
          503: "系统正忙"}


def problem(status: int, detail: str, errors: list[tuple[str, str]] | None = None, title: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://yimatong.local/problems/{status}", "title": title or TITLES.get(status, "错误"),
        "status": status, "detail": detail,
        "errors": [{"field": f, "message": m} for f, m in (errors or [])],
    }
    body.update(extra)
    rid = REQUEST_ID.get()
    if rid is not None:  # the id of the request (api/request_context.py): quoted to the operator, found in the logs
        body.setdefault("request_id", rid)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "form"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(exc.status, exc.detail, exc.errors, exc.title, headers=headers, **exc.extra)

    @app.exception_handler(BlobStoreError)
    async def _store_down(_: Request, exc: BlobStoreError) -> JSONResponse:
        # the object store did not answer (or refused): nothing was recorded, the client may retry
        return problem(503, f"文件存储暂不可用，请稍后重试（{exc}）", [("files", "文件存储不可用")],
                       headers={"Retry-After": "10"})

    @app.exception_handler(CodeError)
    async def _code_error(_: Request, exc: CodeError) -> JSONResponse:
        return problem(422, exc.message, [(exc.field, exc.message)])

    @app.exception_handler(LifecycleError)
    async def _lifecycle_error(_: Request, exc: LifecycleError) -> JSONResponse:
        return problem(422, exc.message, [(exc.field, exc.message)])

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "请求体不是合法的 JSON", [("body", "JSON 解析失败")])
        pairs = [(_loc_to_field(tuple(e.get("loc", ()))), _message(e)) for e in errors]
        return problem(422, "；".join(f"{f}: {m}" for f, m in pairs[:5]), pairs)

    @app.exception_handler(OperationalError)
    async def _busy(_: Request, exc: OperationalError) -> JSONResponse:
        if not is_busy(exc):
            raise exc  # a real fault: the server error it is
        return problem(503, "系统正忙：另一项写入（例如大批量导入）正在进行，请稍后重试", [("", "请稍后重试")],
                       headers={"Retry-After": "10"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "错误")
        if exc.status_code == 404 and detail == "Not Found":
            detail = "请求的资源不存在"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            detail = "该路径不支持此方法"
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem(exc.status_code, detail, headers=headers or None)


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "缺少必填字段"
    if kind == "extra_forbidden":
        return "不允许的字段"
    return f"{err.get('msg', '无效')}"


def allowed_methods(request: Request) -> list[str]:
    """Starlette names only the first route of a path in Allow; a path served by several routes has more.
    The OpenAPI paths are the full list, so match the request path against them."""
    methods: set[str] = set()
    for template, ops in request.app.openapi().get("paths", {}).items():
        regex, _, _ = compile_path(template)
        if regex.match(request.url.path):
            methods |= {m.upper() for m in ops}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
