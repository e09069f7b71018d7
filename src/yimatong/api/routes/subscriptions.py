"""Webhook subscriptions: who gets which events, signed with a shared secret.

Any token may subscribe; the subscription sees exactly what that token may see (its role, sections and
divisions are stored with it) and belongs to it: a client system lists and manages its own subscriptions, the
admin every one (and may narrow a subscription to another role or to divisions)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import responses
from yimatong.core import pagination
from yimatong.core.context import ROLES, Actor, App, aware, now, rfc3339
from yimatong.delivery import queue, targets
from yimatong.delivery.worker import own_endpoints
from yimatong.domain.policy import Action
from yimatong.errors import Conflict, Forbidden, NotFound, invalid
from yimatong.storage.models import Delivery, DeliveryAttempt, Subscription

router = APIRouter(prefix="/api/v1", tags=["订阅 Webhooks"])
# A subscription is the change feed pushed: whoever may read subscribes for itself. Managing every subscription
# (and narrowing one to another role) is SUBSCRIPTION_MANAGE.
reader = requires(Action.READ)
EVENT_TYPES = ("project.registered", "project.updated", "project.voided", "project.merged", "project.split",
               "stage.changed", "result.added", "parcel.attached", "review.opened", "review.resolved",
               "import.completed")
MAX_OVERLAP_SECONDS = 7 * 24 * 3600
SubId = Annotated[int, Path(ge=1, le=2**53, description="订阅编号")]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=500, description="接收方地址（http 或 https，不含用户名密码；默认拒绝回环、链路本地和本服务自身的地址，"
                                 "`YMT_WEBHOOK_ALLOW` 可放行）")
    types: list[str] = Field(default_factory=list, max_length=50, description="事件类型；空表示全部")
    secret: str = Field(min_length=16, max_length=200,
                        description="HMAC-SHA256 签名密钥（至少 16 个字符）；创建后不再返回")
    role: str | None = Field(None, description="按此角色的权限过滤事件；默认为创建者的角色，只有管理员可指定其他角色")
    divisions: list[str] | None = Field(None, max_length=50,
                                        description="只接收这些行政区的项目事件；默认为创建者令牌的范围（空为全市）")

    @field_validator("types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        for t in v:
            if t not in EVENT_TYPES:
                raise ValueError(f"未知事件类型 {t!r}")
        return v

    @field_validator("role")
    @classmethod
    def _role(cls, v: str | None) -> str | None:
        if v is not None and v not in ROLES:
            raise ValueError(f"未知角色 {v!r}")
        return v


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str | None = Field(None, min_length=16, max_length=200,
                               description="新密钥；不给则由服务生成并在本次响应中返回一次")
    overlap_seconds: int = Field(86400, ge=0, le=MAX_OVERLAP_SECONDS,
                                 description="重叠期（秒）：期间每次投递同时带新旧两个签名")


def state_of(s: Subscription) -> str:
    if not s.active:
        return "deleted"
    return "paused" if s.paused else "parked" if s.parked else "active"


def sub_dict(session: Session, s: Subscription) -> dict[str, Any]:
    """Never the secret: not even in the create response."""
    pending = session.execute(select(func.count()).select_from(Delivery).where(
        Delivery.subscription_id == s.id, Delivery.state.in_(queue.UNDELIVERED))).scalar_one()
    until = aware(s.previous_secret_until) if s.previous_secret_until else None
    return {"id": s.id, "url": s.url, "types": s.types, "role": s.role, "sections": s.sections,
            "divisions": s.divisions, "state": state_of(s), "active": s.active, "paused": s.paused,
            "parked": s.parked, "pending": pending,
            "previous_secret_valid_until": rfc3339(until) if until and until > now() else None,
            "created_by": s.created_by, "created_at": rfc3339(s.created_at)}


def manages_all(app: App, actor: Actor) -> bool:
    return app.profile.policy.may(actor, Action.SUBSCRIPTION_MANAGE)


def _scope(app: App, actor: Actor, body: SubscriptionIn) -> tuple[str, list[str]]:
    """The subscription's role and divisions: the creator's, narrowed (never widened) on request."""
    admin = manages_all(app, actor)
    role = body.role or actor.role
    if role != actor.role and not admin:
        raise Forbidden("只能按本令牌的角色订阅", [("role", f"本令牌的角色是 {actor.role}")])
    table = app.profile.segment("division").table or "division"
    scoped = app.profile.policy.scoped(actor)
    wanted = body.divisions if body.divisions is not None else sorted(actor.divisions) if scoped else []
    for i, d in enumerate(wanted):
        if not app.profile.has_value(table, d):
            raise invalid(f"divisions.{i}", f"未知行政区代码 {d!r}")
        if scoped and d not in actor.divisions:
            raise Forbidden("订阅范围不能超出本令牌的行政区", [(f"divisions.{i}", f"本令牌无权查看行政区 {d}")])
    if scoped and not wanted:
        wanted = sorted(actor.divisions)
    return role, sorted(set(wanted))


def check_target(app: App, url: str) -> None:
    try:
        targets.check(url, targets.parse_allow(app.settings.webhook_allow), own_endpoints(app))
    except targets.TargetRefused as exc:
        raise invalid("url", exc.message) from None


@router.post("/subscriptions", status_code=201, responses=responses(400, 401, 403, 409, 422),
             summary="创建 webhook 订阅",
             description="事件以 POST 推送，头部 X-Ymt-Event-Id（= seq）与 X-Ymt-Signature: sha256=<HMAC-SHA256(secret, body)>；"
                         "密钥轮换的重叠期内另带 X-Ymt-Signature-Previous（旧密钥的签名）。失败按指数退避重试，超过时限后挂起，"
                         "可手动重投。同一项目的事件按顺序送达。订阅只收到创建它的令牌有权看到的事件（角色、科室、行政区）。"
                         "目标地址在创建时与每次投递前解析并检查，不跟随重定向；被拒绝的地址返回 422（字段 url）。")
def create(body: SubscriptionIn, app: App = Depends(get_app), actor: Actor = Depends(reader)) -> JSONResponse:
    role, divisions = _scope(app, actor, body)
    check_target(app, body.url)
    with app.db.write(exclusive=False) as session:  # subscriptions take no lock writers of projects take
        held = session.execute(select(func.count()).select_from(Subscription).where(
            Subscription.created_by == actor.name, Subscription.active.is_(True))).scalar_one()
        if held >= app.settings.webhook_max_subscriptions:
            raise Conflict(f"每个令牌最多 {app.settings.webhook_max_subscriptions} 个订阅",
                           [("url", "订阅数已达上限，请先删除不用的订阅")])
        sub = Subscription(url=body.url, types=body.types, secret=body.secret, role=role,
                           sections=sorted(actor.sections), divisions=divisions, active=True, paused=False,
                           parked=False, created_by=actor.name, created_at=now())
        session.add(sub)
        session.flush()
        return JSONResponse(sub_dict(session, sub), status_code=201)


@router.get("/subscriptions", responses=responses(401, 403), summary="订阅列表",
            description="管理员看到全部订阅，其他令牌只看到自己创建的。")
def list_subs(app: App = Depends(get_app), actor: Actor = Depends(reader)) -> dict[str, Any]:
    with app.db.read() as session:
        stmt = select(Subscription).order_by(Subscription.id)
        if not manages_all(app, actor):
            stmt = stmt.where(Subscription.created_by == actor.name)
        return {"items": [sub_dict(session, s) for s in session.execute(stmt).scalars()], "next_cursor": None}


def _get(session: Session, app: App, sid: int, actor: Actor) -> Subscription:
    sub = session.get(Subscription, sid)
    if sub is None or (sub.created_by != actor.name and not manages_all(app, actor)):
        raise NotFound(f"订阅 {sid} 不存在", [("id", "不存在")])
    return sub


def _live(session: Session, app: App, sid: int, actor: Actor) -> Subscription:
    sub = _get(session, app, sid, actor)
    if not sub.active:
        raise Conflict(f"订阅 {sid} 已删除", [("id", "订阅已删除")])
    return sub


@router.get("/subscriptions/{sid}", responses=responses(401, 403, 404, 422), summary="订阅")
def get_sub(sid: SubId, app: App = Depends(get_app), actor: Actor = Depends(reader)) -> dict[str, Any]:
    with app.db.read() as session:
        return sub_dict(session, _get(session, app, sid, actor))


@router.delete("/subscriptions/{sid}", status_code=204, responses=responses(401, 403, 404, 422), summary="删除订阅",
               description="停止投递（不再排队，也不再发送）；未送达的投递保留，可用 purge 清除。")
def delete_sub(sid: SubId, app: App = Depends(get_app), actor: Actor = Depends(reader)) -> None:
    with app.db.write(exclusive=False) as session:
        _get(session, app, sid, actor).active = False


@router.post("/subscriptions/{sid}/pause", responses=responses(401, 403, 404, 409, 422), summary="暂停订阅",
             description="暂停投递；事件照常排队，恢复后按顺序送达。")
def pause(sid: SubId, app: App = Depends(get_app), actor: Actor = Depends(reader)) -> dict[str, Any]:
    with app.db.write(exclusive=False) as session:
        sub = _live(session, app, sid, actor)
        sub.paused = True
        return sub_dict(session, sub)


@router.post("/subscriptions/{sid}/resume", responses=responses(401, 403, 404, 409, 422), summary="恢复订阅",
             description="恢复暂停的订阅（挂起的订阅用 redeliver 恢复）。")
def resume(sid: SubId, app: App = Depends(get_app), actor: Actor = Depends(reader)) -> dict[str, Any]:
    with app.db.write(exclusive=False) as session:
        sub = _live(session, app, sid, actor)
        sub.paused = False
        return sub_dict(session, sub)


@router.post("/subscriptions/{sid}/purge", responses=responses(401, 403, 404, 422), summary="清除未送达的投递",
             description="丢弃此订阅全部未送达（pending、parked）的投递并解除挂起，分批提交，不长时间占用写锁；"
                         "已删除的订阅也可清除。返回 {\"purged\": 条数}。")
def purge(sid: SubId, app: App = Depends(get_app), actor: Actor = Depends(reader)) -> dict[str, Any]:
    with app.db.read() as session:
        _get(session, app, sid, actor)
    return {"purged": queue.purge(app, sid, app.settings.webhook_purge_batch)}


@router.post("/subscriptions/{sid}/rotate-secret", responses=responses(400, 401, 403, 404, 409, 422),
             summary="轮换签名密钥",
             description="换用新密钥。重叠期（overlap_seconds，默认 1 天，最长 7 天）内每次投递带两个签名："
                         "X-Ymt-Signature（新密钥）与 X-Ymt-Signature-Previous（旧密钥），接收方可先后切换。"
                         "新密钥由调用方给出时不再返回；不给则由服务生成，只在本次响应的 secret 中出现一次。")
def rotate_secret(sid: SubId, body: RotateIn | None = None, app: App = Depends(get_app),
                  actor: Actor = Depends(reader)) -> dict[str, Any]:
    body = body or RotateIn()
    new = body.secret or secrets.token_urlsafe(32)
    with app.db.write(exclusive=False) as session:
        sub = _live(session, app, sid, actor)
        if new == sub.secret:
            raise invalid("secret", "新密钥不能与当前密钥相同")
        sub.previous_secret, sub.secret = sub.secret, new
        sub.previous_secret_until = now() + timedelta(seconds=body.overlap_seconds)
        out = sub_dict(session, sub)
    return out | ({"secret": new} if body.secret is None else {})


@router.get("/subscriptions/{sid}/deliveries", responses=responses(401, 403, 404, 422), summary="投递记录",
            description="每个事件的投递状态（pending、done、parked）、尝试次数、最后的状态码与错误类别，以及每次尝试。"
                        "错误只记类别（connect_error、timeout、tls_error、dns_error、blocked_target、protocol_error 或 "
                        "HTTP 状态码），不记对方的任何细节。")
def deliveries(sid: SubId, state: str | None = Query(None, pattern="^(pending|done|parked)$"),
               limit: int = Query(50, ge=1, le=1000), cursor: str | None = Query(None),
               app: App = Depends(get_app), actor: Actor = Depends(reader)) -> dict[str, Any]:
    after = pagination.decode_id(cursor)
    with app.db.read() as session:
        _get(session, app, sid, actor)
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


@router.post("/subscriptions/{sid}/redeliver", responses=responses(401, 403, 404, 409, 422),
             summary="重投挂起的事件",
             description="接收方恢复后，把挂起的投递重新排队（保持原顺序），并恢复订阅。")
def redeliver(sid: SubId, app: App = Depends(get_app), actor: Actor = Depends(reader)) -> dict[str, Any]:
    with app.db.write(exclusive=False) as session:
        _live(session, app, sid, actor)
        return {"requeued": queue.redeliver(session, sid)}
