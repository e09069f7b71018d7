"""Request dependencies: the service container and the authenticated actor."""

from __future__ import annotations

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError

from yimatong.accounts import tokens
from yimatong.core.context import Actor, App
from yimatong.errors import Forbidden, Unauthorized

bearer = HTTPBearer(auto_error=False, description="令牌：`ymt token create --name 系统名 --role 角色` 生成")


def get_app(request: Request) -> App:
    return request.app.state.ymt


def get_actor(request: Request, background: BackgroundTasks,
              creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Actor:
    """A bearer token, or (for the web pages calling the API) a logged-in session. An expired, revoked or
    rotated-away token is a 401 whose detail says which."""
    session_actor = getattr(request.state, "session_actor", None)
    if creds is None:
        if session_actor is not None:
            return session_actor
        raise Unauthorized("缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
    app = get_app(request)
    address = request.client.host if request.client else None
    with app.db.read() as session:
        found = tokens.check(session, creds.credentials, address)
    if found.actor is None:
        raise Unauthorized(found.problem or tokens.UNKNOWN, [("Authorization", found.problem or tokens.UNKNOWN)])
    if found.touch and found.token_id is not None:  # after the answer is sent: never waits for a writer
        background.add_task(_touch, app, found.token_id, address)
    return found.actor


def _touch(app: App, token_id: int, address: str | None) -> None:
    """Last use (time, address), at most once a minute per token: a write outside the writers' lock."""
    try:
        with app.db.write(exclusive=False) as session:
            tokens.touch(session, token_id, address)
    except OperationalError:  # busy (a long import on SQLite): the next request records it
        pass


def require_roles(*roles: str):  # type: ignore[no-untyped-def]
    def dep(actor: Actor = Depends(get_actor)) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"角色 {actor.role} 无权执行此操作", [("role", f"需要角色：{', '.join(roles)}")])
        return actor

    return dep
