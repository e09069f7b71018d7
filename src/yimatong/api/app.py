"""The ASGI application: REST API v1, OGC API - Features, web pages, all from one process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI, Request, Response

from yimatong.api import openapi, problems
from yimatong.api.input_guard import InputGuard
from yimatong.api.ogc import routes as ogc
from yimatong.api.request_context import RequestContext
from yimatong.api.routes import audit as audit_routes
from yimatong.api.routes import chain, codes, events, imports, ops, parcels, projects, results, stages, subscriptions
from yimatong.api.routes import joint as joint_routes
from yimatong.api.routes import ledger as ledger_routes
from yimatong.api.routes import supervision as supervision_routes
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.delivery import worker as delivery
from yimatong.domain.profile import digits_only
from yimatong.ledger import sequencer
from yimatong.ops import gc
from yimatong.parcels import cells
from yimatong.profiles.loader import load_profile
from yimatong.supervision import service as supervision
from yimatong.web import audit_page, forms, pages, public

DESCRIPTION = """
**一码通 yimatong**：市自然资源和规划局项目库与“一码通”枢纽。每个用地项目在入库时获得一个 28 位项目码，
其来源、批供用补查登各阶段、各阶段成果与所在地块都挂在这个码下。一体化审批系统、不动产登记平台与国土空间
基础信息平台（一张图）通过本接口按码读写。

认证：`Authorization: Bearer <令牌>`；错误统一为 `application/problem+json`（RFC 9457）。
"""

# The areas of the contract, mounted in this order. Imported explicitly: a router that fails to import stops
# the service at start (it used to be skipped, which could switch an interface off without a word).
ROUTERS: tuple[ModuleType, ...] = (ops, codes, projects, chain, stages, joint_routes, results, parcels, events, ledger_routes,
                                   audit_routes, subscriptions, imports, supervision_routes, ogc, public, forms,
                                   pages, audit_page)  # forms first: /projects/new before any /projects/{x} page


def create_app(settings: Settings | None = None, ymt: App | None = None) -> FastAPI:
    settings = settings or Settings()
    ymt = ymt or App(settings, load_profile(settings.profile))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background = _start_background(ymt)
        try:
            yield
        finally:
            for stop in background:
                await stop()
            ymt.close()

    # /docs is web/api_docs.py (Swagger UI vendored, no CDN); ReDoc would need a CDN and is not offered
    app = FastAPI(title="一码通 yimatong API", version="1.0.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.ymt = ymt
    problems.install(app)
    # inside the size check and metrics installed next (middleware added later wraps what came before)
    app.add_middleware(InputGuard, max_bytes=settings.max_json_bytes)
    _install_limits(app, settings)
    app.add_middleware(RequestContext, header=settings.request_id_header)  # outermost: ids and access log
    for module in ROUTERS:
        install = getattr(module, "install", None)
        if install is not None:
            install(app)
        else:
            app.include_router(module.router)
    openapi.install(app)
    return app


def _start_background(ymt: App) -> list[Callable[[], Awaitable[None]]]:
    """Background work of `ymt serve`: warm the supervision warnings and the map's dot cells, the ledger
    sequencer (PostgreSQL), collect leftover files (issue 10.8), and deliver webhooks (by default)."""
    supervision.refresh_in_background(ymt)
    cells.refresh_in_background(ymt)
    background = [stop for stop in (sequencer.start_in_process(ymt),) if stop is not None]
    background.append(gc.start_in_process(ymt))
    if ymt.settings.deliver_webhooks:
        background.append(delivery.start_in_process(ymt))
    return background


def _install_limits(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def limits_and_metrics(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        ctype = request.headers.get("content-type", "")
        limit = settings.max_upload_bytes if ctype.startswith("multipart/") else settings.max_json_bytes
        if length and digits_only(length) and int(length) > limit:
            return problems.problem(413, f"请求体超过上限 {limit} 字节", [("body", "请求体过大")])
        start = time.perf_counter()
        response = await call_next(request)
        ops.LATENCY.labels(request.method).observe(time.perf_counter() - start)
        ops.REQUESTS.labels(request.method, str(response.status_code)).inc()
        return response
