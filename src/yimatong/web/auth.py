"""Web sessions, CSRF, security headers, and the bridge that lets the pages call the REST API as the
logged-in person.

The cookie `ymt_session` holds a random id, signed (itsdangerous) with the service's session secret; the
session itself is a row of `web_sessions` (accounts/sessions.py), so logout, disabling, a password change
and "log out everywhere" end it at once in every process. The CSRF token of a session is an HMAC of its id
under the same secret, and before login an HMAC of a signed random nonce (`ymt_pre`): nothing lives in one
process's memory. Cookies are HttpOnly, SameSite=Strict, and Secure when the request came over TLS (directly
or through a trusted proxy's X-Forwarded-Proto) or `YMT_COOKIE_SECURE=always` says so."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from itsdangerous import BadSignature, Signer
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from yimatong.accounts import logins, sessions, totp, users
from yimatong.api.problems import problem
from yimatong.core.context import Actor, App
from yimatong.storage.files import read_or_create_secret
from yimatong.web.security import Headers

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
COOKIE = "ymt_session"
PRE_COOKIE = "ymt_pre"
SECRET_FILE = "session-secret"
NO_SESSION = ("/static/", "/healthz", "/readyz", "/metrics", "/p/", "/openapi.json", "/docs", "/redoc")
# where each unfinished login step is done (everything else sends the person there)
STEP_PAGES = {"totp": "/login/totp", "password": "/account/password", "totp_enrol": "/account/totp"}


@dataclass(frozen=True)
class WebUser:
    """The person of a request's session. `pending`: a login step still due (then `actor` may not act)."""

    session_id: int
    user_id: int
    username: str
    name: str
    role: str
    actor: Actor
    csrf: str
    pending: str | None
    touch: bool = False  # last_seen is due to be written (after the answer)


class Keys:
    """The session secret and what is derived from it."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.session_signer = Signer(secret, salt="ymt-session")
        self.pre_signer = Signer(secret, salt="ymt-pre")

    def csrf_for(self, purpose: str, value: str) -> str:
        mac = hmac.new(self.secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def unsign(self, signer: Signer, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return signer.unsign(value).decode()
        except (BadSignature, UnicodeDecodeError):
            return None


def session_secret(app: App) -> bytes:
    if app.settings.session_secret:
        return app.settings.session_secret.encode()
    path = Path(app.settings.data_dir) / SECRET_FILE
    return read_or_create_secret(path, lambda: secrets.token_urlsafe(48).encode()).strip()


# --- what the pages use ------------------------------------------------------------------------------------


def current_user(request: Request) -> WebUser | None:
    """The logged-in person with every login step done, or None."""
    web = request.scope.get("state", {}).get("web")
    return web if isinstance(web, WebUser) and web.pending is None else None


def pending_user(request: Request) -> WebUser | None:
    """The person of the session whatever step is due (the step pages use it)."""
    web = request.scope.get("state", {}).get("web")
    return web if isinstance(web, WebUser) else None


def current_actor(request: Request) -> Actor | None:
    user = current_user(request)
    return user.actor if user else None


def login_redirect(request: Request, target: str) -> str:
    """Where a page sends someone not (fully) logged in: the due step, else the login page."""
    web = pending_user(request)
    page = STEP_PAGES.get(web.pending or "", "/login") if web else "/login"
    return f"{page}?next={quote(target)}"


def csrf_token(request: Request) -> str:
    keys: Keys = request.app.state.ymt_keys
    web = pending_user(request)
    if web is not None:
        return web.csrf
    state = request.scope.setdefault("state", {})
    nonce = state.get("pre_nonce")
    if nonce is None:
        nonce = state["pre_nonce"] = secrets.token_urlsafe(24)
        state["pre_new"] = True  # the middleware sets the cookie on the way out
    return keys.csrf_for("pre", nonce)


def csrf_ok(request: Request, supplied: str | None) -> bool:
    keys: Keys = request.app.state.ymt_keys
    web = pending_user(request)
    if web is not None:
        expected = web.csrf
    else:
        nonce = request.scope.get("state", {}).get("pre_nonce")
        if not nonce or request.scope.get("state", {}).get("pre_new"):
            return False  # no nonce came with the request: the form was not ours
        expected = keys.csrf_for("pre", nonce)
    return bool(supplied and hmac.compare_digest(expected, supplied))


def client_of(request: Request) -> logins.Client:
    return logins.Client(request.client.host if request.client else None, request.headers.get("user-agent"))


def cookie_secure(request: Request) -> bool:
    mode = request.app.state.ymt.settings.cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def set_session_cookie(request: Request, response: Response, raw_id: str) -> None:
    keys: Keys = request.app.state.ymt_keys
    max_age = int(request.app.state.ymt.settings.session_max_hours * 3600)
    response.set_cookie(COOKIE, keys.session_signer.sign(raw_id).decode(), max_age=max_age, path="/",
                        secure=cookie_secure(request), httponly=True, samesite="strict")
    response.delete_cookie(PRE_COOKIE, path="/", secure=cookie_secure(request), httponly=True, samesite="strict")


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=cookie_secure(request), httponly=True, samesite="strict")


def raw_session_id(request: Request) -> str | None:
    keys: Keys = request.app.state.ymt_keys
    return keys.unsign(keys.session_signer, request.cookies.get(COOKIE))


# --- the middleware ---------------------------------------------------------------------------------------


class WebAuth:
    """Resolves the session of each request (in a worker thread: it reads the database), guards the API
    bridge with CSRF, adds the security headers and the cookies the middleware owns."""

    def __init__(self, app: ASGIApp, ymt: App, keys: Keys) -> None:
        self.app, self.ymt, self.keys = app, ymt, keys
        self.headers = Headers(ymt.settings.tile_url)
        self.limits = sessions.SessionLimits.of(ymt.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = scope.setdefault("state", {})
        path: str = scope["path"]
        api = path.startswith(("/api/", "/ogc"))
        bearer = "authorization" in request.headers
        raw = None if path.startswith(NO_SESSION) or (api and bearer) else \
            self.keys.unsign(self.keys.session_signer, request.cookies.get(COOKIE))
        web = await run_in_threadpool(self._resolve, raw) if raw else None
        state["web"] = web
        state["pre_nonce"] = self.keys.unsign(self.keys.pre_signer, request.cookies.get(PRE_COOKIE))
        # a cookie that no longer names a live session (ended, forged, expired): the browser forgets it
        stale = (raw is None and COOKIE in request.cookies and not path.startswith(NO_SESSION)
                 and not (api and bearer)) or (raw is not None and web is None)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.headers.apply(message, path, https)
                self._cookies(message, state, stale, https)
            await send(message)

        if api and not bearer and web is not None and web.pending is None:
            if scope["method"] in UNSAFE and not _same(web.csrf, request.headers.get("x-csrf-token")):
                await problem(403, "缺少或无效的 CSRF 令牌", [("X-CSRF-Token", "请刷新页面后重试")])(
                    scope, receive, send_with_headers)
                return
            state["session_actor"] = web.actor
        await self.app(scope, receive, send_with_headers)
        if web is not None and web.touch:  # the answer is out: the person never waits for this write
            await run_in_threadpool(self._touch, web.session_id)

    def _resolve(self, raw: str) -> WebUser | None:
        with self.ymt.db.read() as s:
            found = sessions.lookup(s, raw, self.limits)
        if found is None:
            return None
        ws, user = found
        pending = "totp" if ws.mfa_pending else "password" if user.must_change_password else \
            "totp_enrol" if totp.required_for(user, self.ymt.settings.admin_totp) and not totp.enrolled(user) \
            else None
        return WebUser(ws.id, user.id, user.username, user.display_name, user.role, users.actor_of(user),
                       self.keys.csrf_for("csrf", ws.token_hash), pending, sessions.touch_due(ws))

    def _touch(self, session_id: int) -> None:
        try:
            with self.ymt.db.write(exclusive=False) as s:
                sessions.touch(s, session_id)
        except OperationalError:  # the database is busy (a long import): a later request touches it
            pass

    def _cookies(self, message: Message, state: dict, stale: bool, https: bool) -> None:
        headers = MutableHeaders(scope=message)
        already = " ".join(v for k, v in headers.items() if k == "set-cookie")
        secure = self.ymt.settings.cookie_secure == "always" or (self.ymt.settings.cookie_secure == "auto" and https)
        flags = "; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
        if stale and f"{COOKIE}=" not in already:  # an ended session: the browser forgets the cookie
            headers.append("set-cookie", f'{COOKIE}=""; Max-Age=0{flags}')
        if state.get("pre_new") and f"{PRE_COOKIE}=" not in already:
            value = self.keys.pre_signer.sign(state["pre_nonce"]).decode()
            headers.append("set-cookie", f"{PRE_COOKIE}={value}; Max-Age=86400{flags}")


def _same(expected: str, supplied: str | None) -> bool:
    return bool(supplied) and hmac.compare_digest(expected, supplied or "")


def install(app: FastAPI, ymt: App) -> None:
    keys = Keys(session_secret(ymt))
    app.state.ymt_keys = keys
    app.add_middleware(WebAuth, ymt=ymt, keys=keys)
    trusted = [h.strip() for h in ymt.settings.trusted_proxies.split(",") if h.strip()]
    if trusted:  # added last, so it runs first: the session sees the real client address and scheme
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
