"""Request ids and access logs (issue 16.5): the outermost middleware.

Every request gets an id: a well-formed `X-Request-Id` from the client or the proxy in front (nginx's
`$request_id`) is kept, otherwise one is generated. It is echoed in the response header, carried by every log
line written while the request is served (ops.logs.REQUEST_ID) and by problem+json bodies (`request_id`).
One access line per request: method, path (never the query string, which may carry search terms of people),
status, duration, client address. An unhandled exception is logged with its traceback and answered as a
problem+json 500 naming the request id, never a bare text page."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yimatong.api import problems
from yimatong.ops.logs import REQUEST_ID

WELL_FORMED = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
log = logging.getLogger("yimatong.access")


def request_id_of(scope: Scope, header: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == header:
            text = value.decode("latin-1")
            if WELL_FORMED.match(text):
                return text
    return uuid.uuid4().hex


class RequestContext:
    def __init__(self, app: ASGIApp, header: str = "X-Request-Id") -> None:
        self.app, self.header = app, header
        self._key = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope, self._key)
        REQUEST_ID.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        start, status, started = time.perf_counter(), 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != self._key]
                message = {**message, "headers": [*headers, (self._key, rid.encode("latin-1"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid, "fields": _where(scope)})
            if started:
                raise
            status = 500
            await problems.problem(500, f"服务器内部错误（请求编号 {rid}），已记录日志，请联系管理员")(
                scope, receive, send_with_id)
        finally:
            log.info("request", extra={"request_id": rid, "fields": {**_where(scope), "status": status,
                                                  "ms": round((time.perf_counter() - start) * 1000, 1)}})


def _where(scope: Scope) -> dict[str, Any]:
    client = scope.get("client")
    return {"method": scope.get("method"), "path": scope.get("path"), "client": client[0] if client else None}
