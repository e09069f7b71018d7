"""The change feed (变更流) from the ledger, filtered by what the caller may see."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.ledger import feed

router = APIRouter(prefix="/api/v1", tags=["变更流 Events"])


class EventOut(BaseModel):
    seq: int
    type: str
    code: str | None
    at: str
    actor: str
    data: dict[str, Any]
    hash: str
    prev_hash: str


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


@router.get("/events", response_model=EventPage, responses=responses(401, 422), summary="变更流",
            description="台账事件按 seq 升序；after 为上次读到的 seq（或上一页的 next_cursor）。受限成果的事件对无权角色不出现，"
                        "因此这些角色看到的 seq 有空缺，无法靠 prev_hash 校验链条连续（只有看得到全部事件的 admin、registrar 可以）。"
                        "任何角色都可以用包含证明（GET /api/v1/ledger/proof/inclusion?seq=&size=）对照签名树头"
                        "（GET /api/v1/ledger/tree-head，叶子为各事件 hash 的 32 字节原始值）逐条证明所见事件在台账中，"
                        "与中间隐藏的事件无关；SDK 的 event_included 离线完成此校验。")
def events(after: int = Query(0, ge=0, le=2**53, description="从此 seq 之后开始"), limit: int = Query(50, ge=1, le=1000, description="每页条数，1–1000"),
           cursor: str | None = Query(None, description="上一页的 next_cursor（与 after 等价）"),
           type: str | None = Query(None, description="只要此类型，如 stage.changed"),
           code: str | None = Query(None, description="只要此项目码"),
           app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return feed.page(session, View.of(app, actor), after, limit, cursor, type, code)
