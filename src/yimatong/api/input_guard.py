"""Text no part of the system can store: NUL characters (PostgreSQL refuses them in text, SQLite would keep
them) and non-finite numbers in JSON (NaN, Infinity, 1e400: not JSON, yet Python's parser takes them). Refused
at the door with a 4xx naming the parameter or field, for every route — the API, OGC and the pages — instead
of a 500 from the database on one path and a stored NUL on the other."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yimatong.api import problems
from yimatong.errors import Invalid

NUL_MESSAGE = "含有 NUL 字符（\\u0000），请删除后重试"
# Deeper JSON than this is refused at the door, bodies and the `meta` of results alike: nothing the contract
# describes nests beyond a handful of levels, and a value stored 300 levels deep could be written but not
# served again (the serialiser gives up), breaking the project's /results and /chain for everyone.
MAX_JSON_DEPTH = 32


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _no_constant(text: str) -> float:
    raise ValueError(text)


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """The dotted path where `value` nests deeper than `limit`, or None (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return path or "body"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for k, v in pairs:
                stack.append((v, f"{path}.{k}" if path else str(k), depth + 1))
    return None


def find_nul(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a NUL, or None."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k).replace("\x00", "\\u0000")  # the path names the key, visibly
            here = f"{path}.{key}" if path else key
            if "\x00" in str(k):
                return here
            found = find_nul(v, here)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = find_nul(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def loads_strict(text: str | bytes, field: str = "body") -> Any:
    """json.loads that refuses what cannot be stored; errors name `field` (and the path inside it)."""
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise Invalid(f"{field} 嵌套过深", [(field, "JSON 嵌套层数过多")]) from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise Invalid(f"{field} 不是合法的 JSON", [(field, "JSON 解析失败")]) from None
        raise Invalid(f"{field} 中有非有限数值（NaN、Infinity 或超出范围）", [(field, "数值必须是有限数")]) from None
    deep = too_deep(value)
    if deep:
        name = field if deep == "body" else (deep if field == "body" else f"{field}.{deep}")
        message = f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层"
        raise Invalid(f"{name}：{message}", [(name, message)])
    where = find_nul(value)
    if where:
        name = field if where == "body" else (where if field == "body" else f"{field}.{where}")
        raise Invalid(f"{name} {NUL_MESSAGE}", [(name, NUL_MESSAGE)])
    return value


class InputGuard:
    """Pure ASGI middleware: checks the path, the query string and JSON or form bodies before any route."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = _check_url(scope)
        body: bytes | None = None
        kind = _body_kind(scope)
        if error is None and kind:
            body = await _read_body(receive, self.max_bytes)
            error = (413, f"请求体超过上限 {self.max_bytes} 字节", [("body", "请求体过大")]) if body is None \
                else _check_body(kind, body)
        if error is not None:
            status, detail, errors = error
            await problems.problem(status, detail, errors)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive) if body is not None else receive, send)


def _check_url(scope: Scope) -> tuple[int, str, list[tuple[str, str]]] | None:
    if "\x00" in scope.get("path", ""):
        return 404, f"路径{NUL_MESSAGE}", [("path", NUL_MESSAGE)]
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                return 422, f"参数 {key.replace(chr(0), '')} {NUL_MESSAGE}", [(key.replace("\x00", ""), NUL_MESSAGE)]
    return None


def _body_kind(scope: Scope) -> str | None:
    if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return None
    ctype = next((v.decode("latin-1").lower() for k, v in scope.get("headers", []) if k == b"content-type"), "")
    if ctype.startswith("application/json") or "+json" in ctype.split(";")[0]:
        return "json"
    if ctype.startswith("application/x-www-form-urlencoded"):
        return "form"
    return None


async def _read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body, or None past max_bytes (a chunked body has no Content-Length to refuse it by)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > max_bytes:
            return None
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _check_body(kind: str, body: bytes) -> tuple[int, str, list[tuple[str, str]]] | None:
    if kind == "form":
        if b"%00" in body:
            for key, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
                if "\x00" in key or "\x00" in value:
                    return 422, f"表单字段 {key} {NUL_MESSAGE}", [(key.replace("\x00", ""), NUL_MESSAGE)]
        return None
    if not body.strip():
        return None  # the route says what it needs
    try:
        loads_strict(body)
    except Invalid as exc:
        # Malformed JSON stays the route's 400/422 (FastAPI's own message); only what it would let through
        # unsafely is refused here.
        if exc.errors and exc.errors[0][1] == "JSON 解析失败":
            return None
        return 422, exc.detail, exc.errors
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
