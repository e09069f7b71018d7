"""Webhook subscriptions (admin): who gets which events, signed with a shared secret."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import responses
from yimatong.core import pagination
from yimatong.core.context import ROLES, Actor, App, now, rfc3339
from yimatong.delivery import worker as delivery
from yimatong.domain.policy import Action
from yimatong.errors import NotFound
from yimatong.storage.models import Delivery, DeliveryAttempt, Subscription

router = APIRouter(prefix="/api/v1", tags=["订阅 Webhooks"])
admin = requires(Action.SUBSCRIPTION_MANAGE)
EVENT_TYPES = ("project.registered", "project.updated", "project.voided", "project.merged", "project.split",
               "stage.changed", "result.added", "parcel.attached", "review.opened", "review.resolved",
               "import.completed", "joint_review.opened", "joint_review.opinion", "joint_review.closed",
               "registration.ready", "stage.suspended")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://", description="接收方地址（http 或 https）")
    types: list[str] = Field(default_factory=list, max_length=50, description="事件类型；空表示全部")
    secret: str = Field(min_length=16, max_length=200, description="HMAC-SHA256 签名密钥（至少 16 个字符）")
    role: str = Field("viewer", description="按此角色过滤受限事件")

    @field_validator("types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        for t in v:
            if t not in EVENT_TYPES:
                raise ValueError(f"未知事件类型 {t!r}")
        return v

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v not in ROLES:
            raise ValueError(f"未知角色 {v!r}")
        return v


def sub_dict(s: Subscription) -> dict[str, Any]:
    return {"id": s.id, "url": s.url, "types": s.types, "role": s.role, "active": s.active, "parked": s.parked,
            "created_by": s.created_by, "created_at": rfc3339(s.created_at)}


@router.post("/subscriptions", status_code=201, responses=responses(400, 401, 403, 422), summary="创建 webhook 订阅",
             description="事件以 POST 推送，头部 X-Ymt-Event-Id（= seq）与 X-Ymt-Signature: sha256=<HMAC-SHA256(secret, body)>；"
                         "失败按指数退避重试，超过时限后挂起，可手动重投。同一项目的事件按顺序送达。")
def create(body: SubscriptionIn, app: App = Depends(get_app), actor: Actor = Depends(admin)) -> JSONResponse:
    with app.db.write() as session:
        sub = Subscription(url=body.url, types=body.types, secret=body.secret, role=body.role, active=True,
                           parked=False, created_by=actor.name, created_at=now())
        session.add(sub)
        session.flush()
        return JSONResponse(sub_dict(sub), status_code=201)


@router.get("/subscriptions", responses=responses(401, 403), summary="订阅列表")
def list_subs(app: App = Depends(get_app), _: Actor = Depends(admin)) -> dict[str, Any]:
    with app.db.read() as session:
        rows = session.execute(select(Subscription).order_by(Subscription.id)).scalars()
        return {"items": [sub_dict(s) for s in rows], "next_cursor": None}


def _get(session: Any, sid: int) -> Subscription:
    sub = session.get(Subscription, sid)
    if sub is None:
        raise NotFound(f"订阅 {sid} 不存在", [("id", "不存在")])
    return sub


@router.get("/subscriptions/{sid}", responses=responses(401, 403, 404, 422), summary="订阅")
def get_sub(sid: int = Path(ge=1, le=2**53), app: App = Depends(get_app), _: Actor = Depends(admin)) -> dict[str, Any]:
    with app.db.read() as session:
        return sub_dict(_get(session, sid))


@router.delete("/subscriptions/{sid}", status_code=204, responses=responses(401, 403, 404, 422), summary="停用订阅")
def delete_sub(sid: int = Path(ge=1, le=2**53), app: App = Depends(get_app), _: Actor = Depends(admin)) -> None:
    with app.db.write() as session:
        _get(session, sid).active = False


@router.get("/subscriptions/{sid}/deliveries", responses=responses(401, 403, 404, 422), summary="投递记录",
            description="每个事件的投递状态（pending、done、parked）、尝试次数、最后的状态码与错误，以及每次尝试。")
def deliveries(sid: int = Path(ge=1, le=2**53), state: str | None = Query(None, pattern="^(pending|done|parked)$"),
               limit: int = Query(50, ge=1, le=1000), cursor: str | None = Query(None),
               app: App = Depends(get_app), _: Actor = Depends(admin)) -> dict[str, Any]:
    after = pagination.decode_id(cursor)
    with app.db.read() as session:
        _get(session, sid)
        stmt = select(Delivery).where(Delivery.subscription_id == sid)
        if state:
            stmt = stmt.where(Delivery.state == state)
        if after is not None:
            stmt = stmt.where(Delivery.seq > after)
        rows = list(session.execute(stmt.order_by(Delivery.seq).limit(limit + 1)).scalars())
        more, rows = len(rows) > limit, rows[:limit]
        attempts: dict[int, list[dict[str, Any]]] = {}
        if rows:
            for a in session.execute(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(
                    [d.id for d in rows])).order_by(DeliveryAttempt.id)).scalars():
                attempts.setdefault(a.delivery_id, []).append({"at": rfc3339(a.at), "status_code": a.status_code,
                                                                "error": a.error, "duration_ms": a.duration_ms})
    items = [{"id": d.id, "seq": d.seq, "code": d.code, "state": d.state, "attempts": d.attempts,
              "last_status": d.last_status, "last_error": d.last_error,
              "delivered_at": rfc3339(d.delivered_at) if d.delivered_at else None,
              "next_attempt_at": rfc3339(d.next_attempt_at), "history": attempts.get(d.id, [])} for d in rows]
    return {"items": items, "next_cursor": pagination.encode(rows[-1].seq) if more else None}


@router.post("/subscriptions/{sid}/redeliver", responses=responses(401, 403, 404, 422), summary="重投挂起的事件",
             description="接收方恢复后，把挂起的投递重新排队（保持原顺序），并恢复订阅。")
def redeliver(sid: int = Path(ge=1, le=2**53), app: App = Depends(get_app), _: Actor = Depends(admin)) -> dict[str, Any]:
    with app.db.write() as session:
        _get(session, sid)
        return {"requeued": delivery.redeliver(session, sid)}
