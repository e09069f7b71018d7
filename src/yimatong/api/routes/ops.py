"""Operations: liveness, readiness, Prometheus metrics (the ledger endpoints are in routes/ledger.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from yimatong.api.deps import get_app
from yimatong.core.context import App
from yimatong.delivery import metrics as delivery_metrics
from yimatong.ops import metrics as ops_metrics

router = APIRouter(tags=["运维 Operations"])

REQUESTS = Counter("ymt_http_requests_total", "HTTP requests", ["method", "status"])
LATENCY = Histogram("ymt_http_request_seconds", "HTTP request latency", ["method"])


@router.get("/healthz", summary="进程存活", description="进程在运行即返回 200。")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="就绪检查", description="数据库可连接时返回 200，否则 503。")
def readyz(app: App = Depends(get_app)) -> Response:
    try:
        app.db.ping()
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        return JSONResponse({"status": "unavailable", "detail": str(exc)[:200]}, status_code=503)
    return JSONResponse({"status": "ready", "database": app.db.dialect})


@router.get("/metrics", summary="Prometheus 指标", response_class=Response,
            description="本进程的请求指标，以及从数据库算出的 webhook 投递队列指标（ymt_webhook_*：待投递、挂起、"
                        "最久待投递时长、成功与失败次数），数据库、文件与导入指标（ymt_db_*、ymt_projects、ymt_blob*、"
                        "ymt_imports*，见 ops/metrics.py）。")
def metrics(app: App = Depends(get_app)) -> Response:
    return Response(generate_latest() + delivery_metrics.exposition(app) + ops_metrics.exposition(app),
                    media_type=CONTENT_TYPE_LATEST)
