"""application/problem+json (RFC 9457) for every error: ours, FastAPI's validation and Starlette's 404/405."""

from __future__ import annotations

import collections
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


async def app_error(_: Request, exc: AppError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(exc.status, exc.detail, exc.errors, exc.title, headers=headers, **exc.extra)


async def store_error(_: Request, exc: BlobStoreError) -> JSONResponse:
    # the object store did not answer (or refused): nothing was recorded, the client may retry
    return problem(503, f"文件存储暂不可用，请稍后重试（{exc}）", [("files", "文件存储不可用")],
                   headers={"Retry-After": "10"})


async def code_error(_: Request, exc: CodeError) -> JSONResponse:
    return problem(422, exc.message, [(exc.field, exc.message)])


async def lifecycle_error(_: Request, exc: LifecycleError) -> JSONResponse:
    return problem(422, exc.message, [(exc.field, exc.message)])


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "请求体不是合法的 JSON", [("body", "JSON 解析失败")])
    english = wants_english(request)
    pairs = [(_loc_to_field(tuple(e.get("loc", ()))), _message(e, english)) for e in errors]
    return problem(422, "；".join(f"{f}: {m}" for f, m in pairs[:5]), pairs)


async def busy_error(_: Request, exc: OperationalError) -> JSONResponse:
    if not is_busy(exc):
        raise exc  # a real fault: the server error it is
    return problem(503, "系统正忙：另一项写入（例如大批量导入）正在进行，请稍后重试", [("", "请稍后重试")],
                   headers={"Retry-After": "10"})


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "错误")
    if detail in ENGLISH_DETAILS or (exc.status_code == 404 and detail == "Not Found"):
        detail = ENGLISH_DETAILS.get(detail, "请求的资源不存在")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        detail = "该路径不支持此方法"
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem(exc.status_code, detail, headers=headers or None)


async def server_error(_: Request, __: Exception) -> JSONResponse:
    """An unexpected fault: problem+json like every other answer (the traceback goes to the log, not out)."""
    return problem(500, "服务器内部错误，请稍后重试；如仍出现请联系管理员", title="服务器错误")


# Starlette's stock details for statuses raised without one
ENGLISH_DETAILS = {"Not Found": "请求的资源不存在", "Method Not Allowed": "该路径不支持此方法",
                   "Unauthorized": "未认证", "Forbidden": "无权操作", "Bad Request": "请求格式错误",
                   "Request Entity Too Large": "内容过大", "Unsupported Media Type": "不支持的媒体类型"}


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)  # type: ignore[arg-type]
    app.add_exception_handler(BlobStoreError, store_error)  # type: ignore[arg-type]
    app.add_exception_handler(CodeError, code_error)  # type: ignore[arg-type]
    app.add_exception_handler(LifecycleError, lifecycle_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, busy_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)


def wants_english(request: Request) -> bool:
    """Chinese unless the client's first language is another one (Accept-Language, RFC 9110 §12.5.4; the
    default and any zh tag are Chinese). Only pydantic's messages exist in English; ours are Chinese."""
    first = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip().lower()
    return bool(first) and not first.startswith("zh") and first != "*"


# pydantic's error types (pydantic_core ErrorType) in Chinese; the field name stays in `field`.
# Each a template over the error's ctx (pydantic's own values: lengths, bounds, the expected literals).
MESSAGES: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为文本",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合要求",
    "int_type": "应为整数", "int_parsing": "应为整数",
    "int_from_float": "应为整数，不能带小数", "int_parsing_size": "整数超出范围",
    "float_type": "应为数字", "float_parsing": "应为数字",
    "decimal_type": "应为数字", "decimal_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_type": "应为 true 或 false", "bool_parsing": "应为 true 或 false",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "date_type": "应为日期（YYYY-MM-DD）", "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不含时刻",
    "datetime_type": "应为时间（如 2026-01-01T08:00:00+08:00）",
    "datetime_parsing": "应为时间（如 2026-01-01T08:00:00+08:00）",
    "datetime_from_date_parsing": "应为时间（如 2026-01-01T08:00:00+08:00）",
    "timezone_aware": "时间应带时区（如 +08:00）",
    "literal_error": "应为以下之一：{expected}",
    "enum": "应为以下之一：{expected}",
    "dict_type": "应为对象", "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "list_type": "应为列表", "tuple_type": "应为列表", "set_type": "应为列表",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "json_invalid": "不是合法的 JSON", "json_type": "应为 JSON",
    "url_type": "应为网址", "url_parsing": "网址格式有误", "url_scheme": "网址协议不允许",
    "uuid_type": "应为 UUID", "uuid_parsing": "UUID 格式有误",
    "bytes_type": "应为二进制内容", "bytes_too_long": "内容过长",
    "union_tag_invalid": "类型标记无效", "union_tag_not_found": "缺少类型标记",
    "none_required": "应为空", "is_instance_of": "类型不符",
    "frozen_field": "该字段不可修改", "value_error": "",
    "assertion_error": "",
}


def _custom(err: dict[str, Any]) -> str:
    """A validator's own message (ours are Chinese) without pydantic's English prefix."""
    msg = str(err.get("msg", ""))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg if msg and not msg.isascii() else "取值无效"


def field_of(err: dict[str, Any]) -> str:
    return _loc_to_field(tuple(err.get("loc", ())))


def message_of(err: dict[str, Any]) -> str:
    return _message(err)


def _message(err: dict[str, Any], english: bool = False) -> str:
    if english:
        return str(err.get("msg", "invalid"))
    kind = str(err.get("type", ""))
    if kind in ("value_error", "assertion_error"):
        return _custom(err)
    template = MESSAGES.get(kind)
    if template is None:
        return "取值无效"
    ctx = {k: str(v).replace(" or ", "、") for k, v in (err.get("ctx") or {}).items()}
    return template.format_map(collections.defaultdict(str, ctx))


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
