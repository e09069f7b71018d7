"""Login, the second factor, logout, and the person's own account: password change (forced after a password
someone else chose), TOTP enrolment, the open sessions and "log out everywhere"."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yimatong.accounts import logins, sessions, totp, users
from yimatong.core.context import App
from yimatong.errors import AppError
from yimatong.storage.models import User
from yimatong.web import auth
from yimatong.web.templating import TEMPLATES

router = APIRouter(include_in_schema=False)
EXPIRED_FORM = "页面已过期，请重新输入"


def _ymt(request: Request) -> App:
    return request.app.state.ymt


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template, {
        "active": "account", "user": auth.current_user(request), "pending_user": auth.pending_user(request),
        "csrf": auth.csrf_token(request), "profile": _ymt(request).profile, **ctx}, status_code=status_code)


def safe_next(target: str | None) -> str:
    """Only a path of this site (not `//host`, not `/\\host`) may follow a login."""
    target = target or "/"
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _then(web: auth.WebUser | None, target: str) -> RedirectResponse:
    """After a step: the next due step, or where the person was going."""
    if web is not None and web.pending is not None:
        return RedirectResponse(f"{auth.STEP_PAGES[web.pending]}?next={quote(target)}", status_code=303)
    return RedirectResponse(target, status_code=303)


def _start(request: Request, user_id: int, target: str, mfa_pending: bool = False) -> Response:
    """A new session (a new id: the one before, if any, is revoked) and the cookie for it."""
    app = _ymt(request)
    client = auth.client_of(request)
    old = auth.raw_session_id(request)
    with app.db.write(exclusive=False) as s:
        if old:
            sessions.revoke(s, old, "replaced")
        raw = sessions.start(s, user_id, client.address, client.user_agent, mfa_pending=mfa_pending)
        sessions.purge(s, sessions.SessionLimits.of(app.settings))
        user = s.get(User, user_id)
        assert user is not None
        must_change, needs_enrol = user.must_change_password, \
            totp.required_for(user, app.settings.admin_totp) and not totp.enrolled(user)
    step = "totp" if mfa_pending else "password" if must_change else "totp_enrol" if needs_enrol else None
    response = RedirectResponse(f"{auth.STEP_PAGES[step]}?next={quote(target)}" if step else target, status_code=303)
    auth.set_session_cookie(request, response, raw)
    return response


# --- login, second factor, logout --------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    if auth.current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""),
          next: str = Form("/")) -> Response:
    target = safe_next(next)
    if not auth.csrf_ok(request, csrf):
        return render(request, "login.html", 403, next=target, error=EXPIRED_FORM, username=username[:64])
    if not username.strip() or not password:
        return render(request, "login.html", 422, next=target, error="请输入用户名和密码", username=username[:64])
    app = _ymt(request)
    outcome = logins.attempt(app, username, password, auth.client_of(request))
    if not outcome.ok or outcome.user_id is None:
        return render(request, "login.html", 401, next=target, error=outcome.message, username=username[:64])
    with app.db.read() as s:
        user = s.get(User, outcome.user_id)
        second = user is not None and totp.enrolled(user)
    return _start(request, outcome.user_id, target, mfa_pending=second)


@router.get("/login/totp", response_class=HTMLResponse)
def totp_form(request: Request, next: str = "/") -> Response:
    web = auth.pending_user(request)
    if web is None or web.pending != "totp":
        return _then(web, safe_next(next)) if web else RedirectResponse("/login", status_code=303)
    return render(request, "login_totp.html", next=safe_next(next), error=None)


@router.post("/login/totp")
def totp_login(request: Request, code: str = Form(""), csrf: str = Form(""), next: str = Form("/")) -> Response:
    web = auth.pending_user(request)
    target = safe_next(next)
    if web is None or web.pending != "totp":
        return RedirectResponse("/login", status_code=303)
    if not auth.csrf_ok(request, csrf):
        return render(request, "login_totp.html", 403, next=target, error=EXPIRED_FORM)
    outcome = logins.second_factor(_ymt(request), web.user_id, code, auth.client_of(request))
    if not outcome.ok:
        return render(request, "login_totp.html", 401, next=target, error=outcome.message)
    return _start(request, web.user_id, target)


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    response = RedirectResponse("/login", status_code=303)
    raw = auth.raw_session_id(request)
    if raw and auth.csrf_ok(request, csrf):
        with _ymt(request).db.write(exclusive=False) as s:
            sessions.revoke(s, raw, "logout")
        auth.clear_session_cookie(request, response)
    return response


# --- the person's account --------------------------------------------------------------------------------


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> Response:
    web = auth.current_user(request)
    if web is None:
        return RedirectResponse(auth.login_redirect(request, "/account"), status_code=303)
    app = _ymt(request)
    with app.db.read() as s:
        user = s.get(User, web.user_id)
        assert user is not None
        info = users.describe(s, None, user)
        live = sessions.active(s, web.user_id, sessions.SessionLimits.of(app.settings))
    return render(request, "account.html", info=info, sessions=live, current=web.session_id,
                  totp_mode=app.settings.admin_totp, done=request.query_params.get("done"))


@router.post("/account/logout-all")
def logout_all(request: Request, csrf: str = Form("")) -> Response:
    web = auth.current_user(request)
    if web is None or not auth.csrf_ok(request, csrf):
        return RedirectResponse("/login", status_code=303)
    with _ymt(request).db.write(exclusive=False) as s:
        users.logout_everywhere(s, web.actor.name, web.username)
    response = RedirectResponse("/login", status_code=303)
    auth.clear_session_cookie(request, response)
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, next: str = "/") -> Response:
    web = auth.pending_user(request)
    if web is None or web.pending not in (None, "password"):
        return RedirectResponse(auth.login_redirect(request, "/account/password"), status_code=303)
    return render(request, "password.html", next=safe_next(next), error=None, forced=web.pending == "password",
                  policy=_policy_text(_ymt(request)))


@router.post("/account/password")
def password_change(request: Request, old_password: str = Form(""), password: str = Form(""),
                    password2: str = Form(""), csrf: str = Form(""), next: str = Form("/")) -> Response:
    web = auth.pending_user(request)
    target = safe_next(next)
    if web is None or web.pending not in (None, "password"):
        return RedirectResponse("/login", status_code=303)
    app = _ymt(request)

    def again(error: str, status: int) -> Response:
        return render(request, "password.html", status, next=target, error=error, forced=web.pending == "password",
                      policy=_policy_text(app))

    if not auth.csrf_ok(request, csrf):
        return again(EXPIRED_FORM, 403)
    if password != password2:
        return again("两次输入的新密码不一致", 422)
    try:
        users.change_password(app, web.user_id, old_password, password, auth.client_of(request))
    except AppError as exc:
        return again(exc.detail, exc.status)
    return _start(request, web.user_id, target if target != "/account/password" else "/")


@router.get("/account/totp", response_class=HTMLResponse)
def totp_enrol_form(request: Request, next: str = "/") -> Response:
    web = auth.pending_user(request)
    if web is None or web.pending not in (None, "totp_enrol"):
        return RedirectResponse(auth.login_redirect(request, "/account/totp"), status_code=303)
    app = _ymt(request)
    with app.db.write(exclusive=False) as s:
        user = s.get(User, web.user_id)
        assert user is not None
        if totp.enrolled(user):
            return render(request, "totp_enrol.html", enrolled=True, next=safe_next(next), error=None)
        secret = totp.begin(s, web.user_id)
    shown = totp.provisioning(secret, web.username, f"一码通 {app.profile.city}")
    return render(request, "totp_enrol.html", enrolled=False, enrol=shown, next=safe_next(next), error=None,
                  forced=web.pending == "totp_enrol")


@router.post("/account/totp")
def totp_enrol(request: Request, code: str = Form(""), csrf: str = Form(""), next: str = Form("/")) -> Response:
    web = auth.pending_user(request)
    target = safe_next(next)
    if web is None or web.pending not in (None, "totp_enrol"):
        return RedirectResponse("/login", status_code=303)
    app = _ymt(request)
    if not auth.csrf_ok(request, csrf):
        return RedirectResponse(f"/account/totp?next={quote(target)}", status_code=303)
    with app.db.write(exclusive=False) as s:
        ok = totp.confirm(s, web.user_id, code)
        if ok:
            logins.record(s, "totp_enrolled", web.username, web.user_id, auth.client_of(request))
        user = s.get(User, web.user_id)
        assert user is not None and user.totp_secret is not None
        secret = user.totp_secret
    if not ok:
        shown = totp.provisioning(secret, web.username, f"一码通 {app.profile.city}")
        return render(request, "totp_enrol.html", 422, enrolled=False, enrol=shown, next=target,
                      error=logins.BAD_CODE, forced=web.pending == "totp_enrol")
    # enrolled because asked to: on to where the person was going; of their own accord: back to the account
    return _start(request, web.user_id, target if web.pending == "totp_enrol" else "/account?done=totp")


def _policy_text(app: App) -> str:
    s = app.settings
    return (f"至少 {s.password_min_length} 位，包含小写字母、大写字母、数字、其他字符中的至少 {s.password_min_classes} 类，"
            f"不含用户名，且不能与最近 {s.password_history} 次使用过的密码相同。")
