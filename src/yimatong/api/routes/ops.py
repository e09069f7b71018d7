"""Operations: liveness, readiness, Prometheus metrics, ledger verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from yimatong.api.deps import get_app, requires
from yimatong.core.context import Actor, App
from yimatong.delivery import metrics as delivery_metrics
from yimatong.domain.policy import Action
from yimatong.ledger import checkpoints
from yimatong.ledger import log as ledger

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
                        "最久待投递时长、成功与失败次数）。")
def metrics(app: App = Depends(get_app)) -> Response:
    return Response(generate_latest() + delivery_metrics.exposition(app), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/ledger/verify", tags=["台账 Ledger"], summary="校验台账哈希链",
            description="重新计算事件哈希链与全部成果文件的 SHA-256，返回第一个被改动的事件序号。")
def verify_ledger(app: App = Depends(get_app), _: Actor = Depends(requires(Action.LEDGER_ADMIN))) -> dict[str, Any]:
    with app.db.read() as session:
        report = ledger.verify(session, app.blobs)
    return {k: v for k, v in report.as_dict().items() if k in ("ok", "length", "head", "first_bad_seq", "reason")}


@router.get("/api/v1/ledger/checkpoint", tags=["台账 Ledger"], summary="签名的台账检查点",
            description="返回当前链头（seq、hash、时间）及服务端 Ed25519 签名；"
                        "各部门保存后可用于证明其所见台账未被改写。")
def ledger_checkpoint(app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return checkpoints.create(session, app.settings.data_dir)
