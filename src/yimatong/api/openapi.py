"""Complete the generated OpenAPI with the error responses every operation can give, so the document says
exactly what clients receive (checked by the schemathesis run in the tests)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status", "detail", "errors"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"},
                   "errors": {"type": "array", "items": {"type": "object", "properties": {
                       "field": {"type": "string"}, "message": {"type": "string"}}}}},
    "additionalProperties": True,
}
TEXT = {400: "请求体无法解析", 401: "缺少或无效令牌", 403: "角色无权执行", 404: "资源不存在（或调用方无权看到）",
        409: "冲突：违反生命周期规则或重复提交", 413: "请求体或文件超过上限", 422: "字段校验失败（errors 指出字段）",
        503: "系统正忙：另一项写入（如大批量导入）正在进行，按 Retry-After 稍后重试"}
WRITES = ("post", "put", "patch", "delete")
PUBLIC_PREFIXES = ("/p/", "/healthz", "/readyz", "/metrics")


def problem_response(status: int) -> dict[str, Any]:
    return {"description": TEXT[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}


def install(app: FastAPI) -> None:
    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                          tags=app.openapi_tags)
        doc.setdefault("components", {}).setdefault("schemas", {})["ProblemDetails"] = PROBLEM_SCHEMA
        doc["components"].setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        for path, ops in doc.get("paths", {}).items():
            for method, op in ops.items():
                _complete(path, method, op)
        app.openapi_schema = doc
        return doc

    app.openapi = custom_openapi  # type: ignore[method-assign]


def _complete(path: str, method: str, op: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    needed: set[int] = set()
    if not path.startswith(PUBLIC_PREFIXES):
        needed.add(401)
        op["security"] = [{"bearer": []}]
    if op.get("parameters") or op.get("requestBody"):
        needed.add(422)
    if "{" in path:
        needed.add(404)
    if op.get("requestBody"):
        needed |= {400, 413}
    if method in WRITES and not path.startswith(PUBLIC_PREFIXES):
        needed.add(503)  # a write waits a bounded time behind another (Database.write)
    if path == "/p/{code}":
        responses["404"] = {"description": "未找到项目（HTML 页面）", "content": {"text/html": {}}}
        needed.discard(404)
    for status in needed:
        key = str(status)
        if key not in responses:
            responses[key] = problem_response(status)
        else:
            responses[key].setdefault("content", {}).setdefault(
                "application/problem+json", {"schema": {"$ref": "#/components/schemas/ProblemDetails"}})
            responses[key]["content"].pop("application/json", None)
            responses[key].setdefault("description", TEXT[status])
