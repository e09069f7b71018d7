"""Web sessions: a signed cookie (Starlette's SessionMiddleware), CSRF tokens, and the bridge that lets the
pages call the REST API with the logged-in person's role."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.middleware.sessions import SessionMiddleware

from yimatong.api.problems import problem
from yimatong.core.context import Actor, App

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def session_secret(app: App) -> str:
    if app.settings.session_secret:
        return app.settings.session_secret
    path = Path(app.settings.data_dir) / "session-secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, supplied: str | None) -> bool:
    expected = request.session.get("csrf")
    return bool(expected and supplied and hmac.compare_digest(expected, supplied))


def current_actor(request: Request) -> Actor | None:
    user = request.session.get("user")
    return Actor(user["actor"], user["role"], frozenset(user.get("sections") or [])) if user else None


def install(app: FastAPI, ymt: App) -> None:
    @app.middleware("http")
    async def session_bridge(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """API calls without a bearer token act as the logged-in person; unsafe ones need the CSRF header."""
        if "authorization" not in request.headers and request.url.path.startswith(("/api/", "/ogc")):
            actor = current_actor(request)
            if actor is not None:
                if request.method in UNSAFE and not csrf_ok(request, request.headers.get("x-csrf-token")):
                    return problem(403, "缺少或无效的 CSRF 令牌", [("X-CSRF-Token", "请刷新页面后重试")])
                request.state.session_actor = actor
        return await call_next(request)

    # Added last, so it runs first: the session is decoded before the bridge reads it.
    app.add_middleware(SessionMiddleware, secret_key=session_secret(ymt), session_cookie="ymt_session",
                       same_site="strict", max_age=8 * 3600)
