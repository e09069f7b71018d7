"""Request dependencies: the service container and the authenticated actor."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from yimatong.accounts import tokens
from yimatong.core.context import Actor, App
from yimatong.errors import Forbidden, Unauthorized

bearer = HTTPBearer(auto_error=False, description="令牌：`ymt token create --name 系统名 --role 角色` 生成")


def get_app(request: Request) -> App:
    return request.app.state.ymt


def get_actor(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Actor:
    """A bearer token, or (for the web pages calling the API) a logged-in session."""
    session_actor = getattr(request.state, "session_actor", None)
    if creds is None:
        if session_actor is not None:
            return session_actor
        raise Unauthorized("缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
    app = get_app(request)
    with app.db.read() as session:
        actor = tokens.authenticate(session, creds.credentials)
    if actor is None:
        raise Unauthorized("令牌无效或已吊销")
    return actor


def require_roles(*roles: str):  # type: ignore[no-untyped-def]
    def dep(actor: Actor = Depends(get_actor)) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"角色 {actor.role} 无权执行此操作", [("role", f"需要角色：{', '.join(roles)}")])
        return actor

    return dep
