"""Request dependencies: the service container, the authenticated actor, and the action a route performs.

Every route declares its action once, with `Depends(requires(Action.X))` (or is listed as public in
`PUBLIC_PATHS`); `tests/architecture/test_route_actions.py` fails for a route that declares none. The dependency
authenticates and refuses early (403, before any body is read) a role that may never do the action; the use
case checks it again once with what only it knows (the stage, the project's division, the section).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError

from yimatong.accounts import tokens
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.errors import Unauthorized

F = TypeVar("F", bound=Callable[..., Any])
bearer = HTTPBearer(auto_error=False, description="令牌：`ymt token create --name 系统名 --role 角色` 生成")
# Paths that answer without a token (the contract's list), matched by prefix.
PUBLIC_PATHS = ("/p/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/redoc", "/static/", "/login",
                "/logout", "/favicon", "/account")  # /login*, /account*: the session pages (web/account_pages.py)


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


def requires(action: Action) -> Callable[..., Actor]:
    """The dependency of a route performing `action`: the authenticated actor, refused early when its role may
    never perform it."""
    def dep(request: Request, actor: Actor = Depends(get_actor)) -> Actor:
        get_app(request).profile.policy.check(actor, action)
        return actor

    dep.__ymt_action__ = action  # type: ignore[attr-defined]  # read by the route-action guard test
    return dep


def declares(action: Action) -> Callable[[F], F]:
    """For endpoints that authenticate otherwise (the web pages use the login session): state the action they
    perform, for the route-action guard; the page or its command checks it."""
    def mark(fn: F) -> F:
        fn.__ymt_action__ = action  # type: ignore[attr-defined]
        return fn

    return mark


def view_of(request: Request, actor: Actor) -> View:
    return View.of(get_app(request), actor)


def declared_action(endpoint_dependencies: list[Any]) -> Action | None:
    """The action a route declared (for the guard test and the OpenAPI description)."""
    for dep in endpoint_dependencies:
        action = getattr(dep, "__ymt_action__", None)
        if action is not None:
            return action
    return None
