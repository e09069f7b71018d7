"""The read audit: `GET /api/v1/audit` (admin), and the helper every read path uses to record an access."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import responses
from yimatong.core.context import Actor, App
from yimatong.domain.policy import Action
from yimatong.ledger import audit

router = APIRouter(prefix="/api/v1", tags=["审计 Audit"])
admin_only = requires(Action.AUDIT_READ)


def address(request: Request) -> str | None:
    """The caller's address as the server saw it (a proxy's X-Forwarded-For is not trusted: it is the client's
    word)."""
    return request.client.host if request.client else None


def record(app: App, request: Request, actor: Actor, action: str, obj: str) -> None:
    """One access record for an API route; a logged-in page calling the API (no bearer token) counts as web."""
    web = getattr(request.state, "session_actor", None) is not None and "authorization" not in request.headers
    audit.record(app, actor, action, obj, "web" if web else "api", address(request))


@router.get("/audit", responses=responses(401, 403, 422), summary="访问审计记录（仅管理员）",
            description="每次下载 internal 或 restricted 成果文件、每次下载成果包、每次导出（API、网页、命令行）各一条："
                        "seq、at、actor、action（file.download、package.download、export.projects、export.parcels、"
                        "export.warnings…）、object、interface（api、web、cli）、address。按 seq 升序；after 为上次读到的 seq。"
                        "记录自成哈希链（ymt audit verify 校验）。")
def list_audit(after: int = Query(0, ge=0, le=2**62, description="从此 seq 之后开始"),
               limit: int = Query(50, ge=1, le=1000, description="每页条数，1–1000"),
               cursor: str | None = Query(None, max_length=20, description="上一页的 next_cursor"),
               actor: str | None = Query(None, max_length=100, description="只看此操作者"),
               action: str | None = Query(None, max_length=40, description="只看此动作"),
               app: App = Depends(get_app), _: Actor = Depends(admin_only)) -> dict[str, Any]:
    with app.db.read() as session:
        return audit.page(session, after, limit, cursor, audit.Filter(actor=actor, action=action))
