"""Administration pages: web users, API tokens, and the code tables and profile as read-only reference.

Users and tokens are changed by the account functions the CLI uses (`ymt user …`, `ymt token …`), run in the
unit of work after the policy allowed `account.manage` (the one check; a role without it reads the refusal in
Chinese). Disabling a user and revoking a token are irreversible for whoever depends on them: they take a reason
and a confirmation, and the reason goes into the access audit (访问审计) with who did it and from where."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

import yimatong.web.forms.common as common
from yimatong.accounts import tokens, users
from yimatong.accounts.passwords import PasswordPolicy
from yimatong.api.routes import subscriptions
from yimatong.core.context import ROLES, App
from yimatong.delivery import worker
from yimatong.delivery.queue import Job
from yimatong.domain.enums import Role
from yimatong.domain.events import EVENT_LABELS
from yimatong.domain.policy import ACTION_LABELS, Action
from yimatong.errors import AppError, NotFound, invalid
from yimatong.ledger import audit
from yimatong.uow import UnitOfWork, run
from yimatong.web import auth
from yimatong.web.forms.common import FieldErrors, form_route, text

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
USER_LABELS = {"username": "用户名", "display_name": "姓名", "role": "角色", "password": "初始密码",
               "new_password": "新密码", "divisions": "区县范围", "sections": "科室", "reason": "原因"}
TOKEN_LABELS = {"name": "令牌名称", "role": "角色", "expires_in": "有效天数", "divisions": "区县范围", "division": "区县范围",
                "sections": "科室", "section": "科室", "reason": "原因"}
SPLIT = re.compile(r"[\s,，、;；]+")


def managed(action: Action, fn: Callable[[Session], T]) -> Callable[[UnitOfWork], T]:
    """An account function as a command: the policy decides first, then it runs in the unit of work."""
    def work(uow: UnitOfWork) -> T:
        uow.allow(action)
        return fn(uow.session)

    return work


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _list(value: str | None) -> list[str]:
    return [v for v in SPLIT.split(value or "") if v]


def roles() -> list[tuple[str, str]]:
    labels = Role.labels()
    return [(r, f"{labels.get(r, r)}（{r}）") for r in ROLES]


def _refusal(request: Request, action: Action) -> str | None:
    refused = common.ymt(request).profile.policy.refusal(common.actor_of(request), action)
    return refused[1] if refused else None


def _tabs(active: str) -> list[tuple[str, str, bool]]:
    return [(href, label, href == active) for href, label in (
        ("/admin/users", "用户"), ("/admin/tokens", "接口令牌"), ("/admin/subscriptions", "订阅推送"),
        ("/admin/code-tables", "代码表"), ("/admin/profile", "城市配置"))]


def admin_render(request: Request, template: str, tab: str, status: int = 200, **ctx: Any) -> Response:
    return common.render(request, template, status, active="admin", tabs=_tabs(tab), **ctx)


@router.get("/admin")
@form_route(Action.READ)
def admin_home(request: Request) -> Response:
    common.actor_of(request)
    return RedirectResponse("/admin/users", status_code=303)


# --- users -------------------------------------------------------------------------------------------------

def _users_page(request: Request, status: int = 200, errors: FieldErrors | None = None,
                values: dict[str, Any] | None = None, **ctx: Any) -> Response:
    app = common.ymt(request)
    refusal = _refusal(request, Action.ACCOUNT_MANAGE)
    rows: list[dict[str, Any]] = []
    if refusal is None:
        with app.db.read() as session:
            rows = users.listing(session, app)
    return admin_render(request, "admin/users.html", "/admin/users", 403 if refusal else status, rows=rows,
                        refusal=refusal, errors=errors or FieldErrors(), values=values or {"role": "viewer"},
                        roles=roles(), divisions=[(e.value, e.label) for e in app.profile.issuable("division")],
                        sections=_sections(app), done=request.query_params.get("done"), **ctx)


@router.get("/admin/users")
@form_route(Action.ACCOUNT_MANAGE)
def users_page(request: Request) -> Response:
    common.actor_of(request)
    return _users_page(request)


async def _admin_form(request: Request) -> FormData:
    common.actor_of(request)
    return await common.read_form(request)


def _scope(form: FormData) -> tuple[list[str], list[str]]:
    """Divisions and sections as the form sends them: ticked boxes (several fields of one name) — a field may
    also hold several codes separated by 、 or commas (the compact row editor, older bookmarks)."""
    sections = [v for raw in form.getlist("sections") if isinstance(raw, str) for v in _list(raw)]
    return [str(v) for v in form.getlist("divisions") if v], sections


def _sections(app: Any) -> list[tuple[str, str]]:
    return [(s.value, s.label) for s in app.profile.sections]


@router.post("/admin/users")
@form_route(Action.ACCOUNT_MANAGE)
async def user_create(request: Request) -> Response:
    form = await _admin_form(request)
    actor, app = common.actor_of(request), common.ymt(request)
    values: dict[str, Any] = {k: text(form, k) for k in ("username", "display_name", "role")}
    values["divisions"], values["sections"] = _scope(form)
    password = str(form.get("password") or "")
    divisions, sections = _scope(form)
    policy = PasswordPolicy.of(app.settings)
    try:
        await common.run(lambda: run(app, actor, managed(Action.ACCOUNT_MANAGE, lambda s: users.create(
            s, values["username"] or "", password, values["role"] or "", values["display_name"], policy=policy,
            profile=app.profile, divisions=divisions, sections=sections, created_by=actor.name))))
    except AppError as exc:
        errors = FieldErrors.of(exc, USER_LABELS)
        return _users_page(request, errors.status, errors, values)
    return RedirectResponse(f"/admin/users?done=created:{values['username']}", status_code=303)


def _user_action(kind: str) -> None:
    @router.post(f"/admin/users/{{username}}/{kind}", name=f"user_{kind}")
    @form_route(Action.ACCOUNT_MANAGE, back="/admin/users")
    async def act(request: Request, username: str) -> Response:
        form = await _admin_form(request)
        try:
            return await USER_ACTIONS[kind](request, username, form)
        except AppError as exc:
            errors = FieldErrors.of(exc, USER_LABELS)
            return _users_page(request, errors.status, errors, target=username)


async def _update(request: Request, username: str, form: FormData) -> Response:
    actor, app = common.actor_of(request), common.ymt(request)
    divisions, sections = _scope(form)
    role, name = text(form, "role"), text(form, "display_name")
    await common.run(lambda: run(app, actor, managed(Action.ACCOUNT_MANAGE, lambda s: users.update(
        s, actor.name, username, profile=app.profile, role=role, display_name=name, divisions=divisions,
        sections=sections))))
    return RedirectResponse(f"/admin/users?done=updated:{username}", status_code=303)


async def _password(request: Request, username: str, form: FormData) -> Response:
    actor, app = common.actor_of(request), common.ymt(request)
    new = str(form.get("new_password") or "")
    app.profile.policy.check(actor, Action.ACCOUNT_MANAGE)
    # hashing (argon2) stays outside any transaction: users.reset_password opens its own
    await common.run(lambda: users.reset_password(app, actor.name, username, new))
    return RedirectResponse(f"/admin/users?done=password:{username}", status_code=303)


async def _disable(request: Request, username: str, form: FormData) -> Response:
    """Two steps: the reason, then the confirmation; the account's sessions end at once."""
    actor, app = common.actor_of(request), common.ymt(request)
    reason = text(form, "reason")
    me = auth.current_user(request)
    if me is not None and me.username == username:
        raise invalid("username", "不能停用自己正在使用的账号")
    if not reason or form.get("confirmed") != "yes":
        errors = FieldErrors()
        if (form.get("confirmed") == "yes" or "reason" in form) and not reason:
            errors.add("reason", "必填：请写明停用原因", USER_LABELS)
        return admin_render(request, "admin/confirm.html", "/admin/users", 422 if errors else 200,
                            title=f"停用账号 {username}", errors=errors, values={"reason": reason},
                            action=f"/admin/users/{username}/disable", ready=bool(reason) and not errors,
                            consequence="停用后该账号立即退出所有设备，不能再登录；可以随时重新启用。",
                            button="确认停用")

    def work(s: Session) -> None:
        users.disable(s, actor.name, username)
        audit.record(s, actor, "admin.user.disable", f"user:{username}；原因：{reason}", "web", _address(request))

    await common.run(lambda: run(app, actor, managed(Action.ACCOUNT_MANAGE, work)))
    return RedirectResponse(f"/admin/users?done=disabled:{username}", status_code=303)


# One-click account changes: (the account function, the `done=` word the page shows). A lost authenticator
# (totp) is enrolled again at the next login; totp and logout end the person's sessions.
SIMPLE_ACTIONS: dict[str, tuple[Callable[[Session, str, str], Any], str]] = {
    "enable": (users.enable, "enabled"), "unlock": (users.unlock, "unlocked"),
    "totp": (users.reset_totp, "totp"), "logout": (users.logout_everywhere, "logout")}


def _simple(kind: str) -> Callable[[Request, str, FormData], Any]:
    fn, done = SIMPLE_ACTIONS[kind]

    async def handle(request: Request, username: str, _form: FormData) -> Response:
        actor, app = common.actor_of(request), common.ymt(request)
        await common.run(lambda: run(app, actor, managed(Action.ACCOUNT_MANAGE,
                                                         lambda s: fn(s, actor.name, username))))
        return RedirectResponse(f"/admin/users?done={done}:{username}", status_code=303)

    return handle


USER_ACTIONS = {"update": _update, "password": _password, "disable": _disable,
                **{kind: _simple(kind) for kind in SIMPLE_ACTIONS}}
for _kind in USER_ACTIONS:
    _user_action(_kind)


# --- API tokens ---------------------------------------------------------------------------------------------

def _tokens_page(request: Request, status: int = 200, errors: FieldErrors | None = None,
                 values: dict[str, Any] | None = None, **ctx: Any) -> Response:
    app = common.ymt(request)
    refusal = _refusal(request, Action.ACCOUNT_MANAGE)
    rows: list[dict[str, Any]] = []
    if refusal is None:
        with app.db.read() as session:
            rows = tokens.listing(session)
    values = values or {"role": "viewer", "expires_in": str(app.settings.token_default_days)}
    return admin_render(request, "admin/tokens.html", "/admin/tokens", 403 if refusal else status, rows=rows,
                        refusal=refusal, errors=errors or FieldErrors(), values=values, roles=roles(), sections=_sections(app),
                        divisions=[(e.value, e.label) for e in app.profile.issuable("division")],
                        max_days=app.settings.token_max_days, done=request.query_params.get("done"), **ctx)


@router.get("/admin/tokens")
@form_route(Action.ACCOUNT_MANAGE)
def tokens_page(request: Request) -> Response:
    common.actor_of(request)
    return _tokens_page(request)


def _days(value: str | None) -> float:
    number = common.number(value)
    if not isinstance(number, float):
        raise invalid("expires_in", "应为天数，如 365")
    return number


@router.post("/admin/tokens")
@form_route(Action.ACCOUNT_MANAGE)
async def token_create(request: Request) -> Response:
    form = await _admin_form(request)
    actor, app = common.actor_of(request), common.ymt(request)
    values: dict[str, Any] = {k: text(form, k) for k in ("name", "role", "expires_in")}
    values["divisions"], values["sections"] = _scope(form)
    divisions, sections = _scope(form)
    limits = tokens.TokenLimits.of_app(app)
    try:
        expiry = tokens.expiry_in_days(_days(values["expires_in"]), limits)

        def work(s: Session) -> str:
            secret = tokens.create(s, values["name"] or "", values["role"] or "", owner=actor.name,
                                   expires_at=expiry, divisions=divisions, sections=sections, limits=limits)
            audit.record(s, actor, "admin.token.create", f"token:{values['name']}（{values['role']}）", "web",
                         _address(request))
            return secret

        secret = await common.run(lambda: run(app, actor, managed(Action.ACCOUNT_MANAGE, work)))
    except AppError as exc:
        errors = FieldErrors.of(exc, TOKEN_LABELS)
        return _tokens_page(request, errors.status, errors, values)
    # the secret is on this answer only (pages are Cache-Control: no-store); only its hash is kept
    return _tokens_page(request, 201, secret=secret, created=values["name"])


@router.post("/admin/tokens/{name}/rotate")
@form_route(Action.ACCOUNT_MANAGE, back="/admin/tokens")
async def token_rotate(request: Request, name: str) -> Response:
    """A new secret under the same name, role and scope, shown once; the old one stops at once."""
    await _admin_form(request)
    actor, app = common.actor_of(request), common.ymt(request)

    def work(s: Session) -> str:
        secret = tokens.rotate(s, name)
        audit.record(s, actor, "admin.token.rotate", f"token:{name}", "web", _address(request))
        return secret

    try:
        secret = await common.run(lambda: run(app, actor, managed(Action.ACCOUNT_MANAGE, work)))
    except AppError as exc:
        errors = FieldErrors.of(exc, TOKEN_LABELS)
        return _tokens_page(request, errors.status, errors)
    return _tokens_page(request, 201, secret=secret, created=name, rotated=True)


@router.post("/admin/tokens/{name}/revoke")
@form_route(Action.ACCOUNT_MANAGE, back="/admin/tokens")
async def token_revoke(request: Request, name: str) -> Response:
    form = await _admin_form(request)
    actor, app = common.actor_of(request), common.ymt(request)
    reason = text(form, "reason")
    if not reason or form.get("confirmed") != "yes":
        errors = FieldErrors()
        if "reason" in form and not reason:
            errors.add("reason", "必填：请写明吊销原因", TOKEN_LABELS)
        return admin_render(request, "admin/confirm.html", "/admin/tokens", 422 if errors else 200,
                            title=f"吊销接口令牌 {name}", errors=errors, values={"reason": reason},
                            action=f"/admin/tokens/{name}/revoke", ready=bool(reason) and not errors,
                            consequence="吊销后使用该令牌的系统立即无法访问接口，此操作不可撤销（需要时可新建令牌）。",
                            button="确认吊销")

    def work(s: Session) -> bool:
        done = tokens.revoke(s, name)
        if not done:
            raise invalid("name", f"令牌 {name} 不存在或已吊销")
        audit.record(s, actor, "admin.token.revoke", f"token:{name}；原因：{reason}", "web", _address(request))
        return done

    try:
        await common.run(lambda: run(app, actor, managed(Action.ACCOUNT_MANAGE, work)))
    except AppError as exc:
        errors = FieldErrors.of(exc, TOKEN_LABELS)
        return _tokens_page(request, errors.status, errors)
    return RedirectResponse(f"/admin/tokens?done=revoked:{name}", status_code=303)


# --- reference: code tables and the profile -----------------------------------------------------------------

@router.get("/admin/code-tables")
@form_route(Action.READ)
def code_tables(request: Request, table: str | None = None) -> Response:
    common.actor_of(request)
    profile = common.ymt(request).profile
    names = {s.table: s.label for s in profile.coded_segments if s.table}
    names |= {t: t for t in profile.tables if t not in names}
    names["land_use_gbt21010"] = "土地利用现状分类（GB/T 21010）" if "land_use_gbt21010" in profile.tables else ""
    names = {k: v for k, v in names.items() if v}
    table = table if table in profile.tables else next(iter(names))
    return admin_render(request, "admin/code_tables.html", "/admin/code-tables", names=names, table=table,
                        entries=profile.tables[table], zones=profile.zones)


@router.get("/admin/profile")
@form_route(Action.READ)
def profile_page(request: Request) -> Response:
    common.actor_of(request)
    app: App = common.ymt(request)
    p = app.profile
    policy = p.policy
    grants = [(Role.labels().get(r, r), r, [ACTION_LABELS.get(a, a) for a in sorted(acts)])
              for r, acts in policy.grants.items()]
    writers = {r: [s.name for s in p.stages if policy.writes_stage(r, s.key)] for r in ROLES}
    return admin_render(request, "admin/profile.html", "/admin/profile", p=p, grants=grants, writers=writers,
                        privileged=sorted(policy.privileged), stage_names={s.key: s.name for s in p.stages},
                        settings=_shown_settings(app))


def _shown_settings(app: App) -> list[tuple[str, Any]]:
    """Settings people ask about (never a secret or a path)."""
    s = app.settings
    return [("上传文件上限（字节）", s.max_upload_bytes), ("接口令牌默认有效天数", s.token_default_days),
            ("接口令牌最长有效天数", s.token_max_days), ("会话最长时间（小时）", s.session_max_hours),
            ("管理员两步验证", "必须" if s.admin_totp == "required" else "可选"),
            ("密码最短长度", s.password_min_length), ("推送 webhook", "是" if s.deliver_webhooks else "否")]



# --- webhook subscriptions and their deliveries ---------------------------------------------------------------
# The pages call the subscription endpoints' own functions (api/routes/subscriptions.py: scope, target check,
# limits, the queue's redeliver and purge) with the logged-in person as the actor: one implementation.

SUB_LABELS = {"url": "接收地址", "types": "事件类型", "secret": "签名密钥", "role": "按角色过滤", "divisions": "区县范围",
              "reason": "原因", "id": "订阅"}
STATE_TEXT = {"active": "正常", "paused": "已暂停", "parked": "已挂起（多次失败）", "deleted": "已删除"}
DELIVERY_TEXT = {"pending": "待投递", "done": "已送达", "parked": "已挂起"}


def _subs_page(request: Request, status: int = 200, errors: FieldErrors | None = None,
               values: dict[str, Any] | None = None, **ctx: Any) -> Response:
    actor, app = common.actor_of(request), common.ymt(request)
    refusal = _refusal(request, Action.SUBSCRIPTION_MANAGE)
    rows = [] if refusal else subscriptions.list_subs(app=app, actor=actor)["items"]
    values = values or {"role": "viewer", "secret": secrets.token_urlsafe(32)}
    return admin_render(request, "admin/subscriptions.html", "/admin/subscriptions", 403 if refusal else status,
                        rows=rows, refusal=refusal, errors=errors or FieldErrors(), values=values, roles=roles(),
                        types=[(t, EVENT_LABELS.get(t, t)) for t in subscriptions.EVENT_TYPES],
                        divisions=[(e.value, e.label) for e in app.profile.issuable("division")],
                        state_text=STATE_TEXT, done=request.query_params.get("done"), **ctx)


@router.get("/admin/subscriptions")
@form_route(Action.SUBSCRIPTION_MANAGE)
def subs_page(request: Request) -> Response:
    common.actor_of(request)
    return _subs_page(request)


@router.post("/admin/subscriptions")
@form_route(Action.SUBSCRIPTION_MANAGE)
async def sub_create(request: Request) -> Response:
    form = await _admin_form(request)
    actor, app = common.actor_of(request), common.ymt(request)
    values: dict[str, Any] = {k: text(form, k) for k in ("url", "secret", "role")}
    values["types"] = [str(t) for t in form.getlist("types")]
    values["divisions"] = [str(d) for d in form.getlist("divisions")]
    body = {"url": values["url"] or "", "secret": values["secret"] or "", "types": values["types"],
            "role": values["role"], "divisions": values["divisions"] or None}
    model, errors = common.validate(subscriptions.SubscriptionIn, body, SUB_LABELS)
    if model is None:
        return _subs_page(request, 422, errors, values)
    try:
        app.profile.policy.check(actor, Action.SUBSCRIPTION_MANAGE)
        created = await common.run(lambda: subscriptions.create(model, app=app, actor=actor))
    except AppError as exc:
        errors = FieldErrors.of(exc, SUB_LABELS)
        return _subs_page(request, errors.status, errors, values)
    sid = json.loads(bytes(created.body))["id"]
    return RedirectResponse(f"/admin/subscriptions?done=created:{sid}", status_code=303)


def ping(app: App, sub: Any) -> tuple[int | None, str | None, float]:
    """A signed test event (`ping`, X-Ymt-Event-Id 0) posted as the worker posts deliveries: target checked
    again, no redirects. Nothing is queued or recorded."""
    body = json.dumps({"type": "ping", "subscription": sub.id, "message": "一码通推送测试"}, ensure_ascii=False).encode()
    job = Job(subscription_id=sub.id, key="ping", seq=0, delivery_id=0, url=sub.url, secret=sub.secret,
              previous_secret=None, body=body, type="ping", attempt=1, worker="admin-test",
              deadline=time.monotonic() + app.settings.webhook_timeout_seconds)
    clients = worker.Clients()
    try:
        return worker.post(app, clients, job)
    finally:
        clients.close()


async def _sub_test(request: Request, sid: int, _form: FormData) -> Response:
    actor, app = common.actor_of(request), common.ymt(request)
    app.profile.policy.check(actor, Action.SUBSCRIPTION_MANAGE)
    with app.db.read() as session:
        sub = subscriptions._live(session, app, sid, actor)
        session.expunge(sub)
    status, error, ms = await common.run(lambda: ping(app, sub))
    ok = error is None
    text_ = f"测试推送成功：HTTP {status}，{ms:.0f} 毫秒" if ok else f"测试推送失败：{ERROR_TEXT.get(error or '', error)}"
    return _subs_page(request, tested=sid, test_ok=ok, test_text=text_)


ERROR_TEXT = {"connect_error": "无法连接", "timeout": "超时", "tls_error": "TLS 证书或握手失败", "dns_error": "域名无法解析",
              "blocked_target": "目标地址不允许（回环、内网或本服务自身）", "protocol_error": "对方应答不是合法的 HTTP"}


async def _sub_simple(request: Request, sid: int, kind: str) -> Response:
    actor, app = common.actor_of(request), common.ymt(request)
    app.profile.policy.check(actor, Action.SUBSCRIPTION_MANAGE)
    fn = {"pause": subscriptions.pause, "resume": subscriptions.resume, "redeliver": subscriptions.redeliver}[kind]
    await common.run(lambda: fn(sid, app=app, actor=actor))
    back = request.query_params.get("back")
    target = f"/admin/subscriptions/{sid}/deliveries" if back == "deliveries" else "/admin/subscriptions"
    return RedirectResponse(f"{target}?done={kind}:{sid}", status_code=303)


async def _sub_final(request: Request, sid: int, form: FormData, kind: str) -> Response:
    """Delete or purge: a reason, a confirmation, the reason in the access audit."""
    actor, app = common.actor_of(request), common.ymt(request)
    app.profile.policy.check(actor, Action.SUBSCRIPTION_MANAGE)
    reason = text(form, "reason")
    title, consequence, button = {
        "delete": (f"删除订阅 {sid}", "删除后不再为该订阅排队和推送事件；未送达的投递保留，可再清除。此操作不可撤销。", "确认删除"),
        "purge": (f"清除订阅 {sid} 未送达的投递", "丢弃该订阅全部待投递与已挂起的事件，对方将收不到这些事件。此操作不可撤销。", "确认清除"),
    }[kind]
    if not reason or form.get("confirmed") != "yes":
        errors = FieldErrors()
        if "reason" in form and not reason:
            errors.add("reason", "必填：请写明原因", SUB_LABELS)
        return admin_render(request, "admin/confirm.html", "/admin/subscriptions", 422 if errors else 200,
                            title=title, errors=errors, values={"reason": reason}, consequence=consequence,
                            action=f"/admin/subscriptions/{sid}/{kind}", ready=bool(reason) and not errors,
                            button=button)
    if kind == "delete":
        await common.run(lambda: subscriptions.delete_sub(sid, app=app, actor=actor))
        out = ""
    else:
        out = str((await common.run(lambda: subscriptions.purge(sid, app=app, actor=actor)))["purged"])
    await common.run(lambda: audit.record(app, actor, f"admin.subscription.{kind}", f"subscription:{sid}；原因：{reason}",
                                          "web", _address(request)))
    return RedirectResponse(f"/admin/subscriptions?done={kind}:{sid}:{out}", status_code=303)


@router.post("/admin/subscriptions/{sid}/{kind}")
@form_route(Action.SUBSCRIPTION_MANAGE, back="/admin/subscriptions")
async def sub_action(request: Request, sid: int, kind: str) -> Response:
    form = await _admin_form(request)
    try:
        if kind == "test":
            return await _sub_test(request, sid, form)
        if kind in ("pause", "resume", "redeliver"):
            return await _sub_simple(request, sid, kind)
        if kind in ("delete", "purge"):
            return await _sub_final(request, sid, form, kind)
        raise NotFound("没有这项操作", [("kind", "未知操作")])
    except AppError as exc:
        errors = FieldErrors.of(exc, SUB_LABELS)
        return _subs_page(request, errors.status, errors)


@router.get("/admin/subscriptions/{sid}/deliveries")
@form_route(Action.SUBSCRIPTION_MANAGE)
def sub_deliveries(request: Request, sid: int, state: str | None = None, cursor: str | None = None) -> Response:
    actor, app = common.actor_of(request), common.ymt(request)
    refusal = _refusal(request, Action.SUBSCRIPTION_MANAGE)
    if refusal:
        return admin_render(request, "admin/deliveries.html", "/admin/subscriptions", 403, refusal=refusal)
    state = state if state in DELIVERY_TEXT else None
    try:
        sub = subscriptions.get_sub(sid, app=app, actor=actor)
        page = subscriptions.deliveries(sid, state=state, limit=50, cursor=cursor or None, app=app, actor=actor)
    except AppError as exc:
        return common.refused_page(request, exc, "/admin/subscriptions")
    return admin_render(request, "admin/deliveries.html", "/admin/subscriptions", sub=sub, page=page, state=state,
                        state_text=STATE_TEXT, delivery_text=DELIVERY_TEXT, error_text=ERROR_TEXT,
                        done=request.query_params.get("done"))
