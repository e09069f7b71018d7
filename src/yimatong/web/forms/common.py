"""What every form shares: the login and CSRF gate, running the area's command as the logged-in person, and
turning what a command or a request model refused into a Chinese message next to the form field it is about.

A form never checks a role: it runs the same command as the API (`uow.run(app, actor, lambda uow: ...)`), and
the policy inside the command refuses; the page shows the refusal (403) in Chinese. Errors name fields by the
API's dotted paths (`investment_code`, `meta.stage`, `parts.1.name`); `FieldErrors.of` maps them to the form's
field names and labels, so the person reads “项目名称：不能为空” beside the input."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from yimatong.api.deps import declares
from yimatong.core.context import Actor, App
from yimatong.domain.codes import CodeError
from yimatong.domain.enums import Confidentiality, ProjectStatus, Role, StageStatus
from yimatong.domain.lifecycle import LifecycleError
from yimatong.domain.policy import Action
from yimatong.errors import AppError
from yimatong.web import auth
from yimatong.web.templating import TEMPLATES

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
EXPIRED = "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重新提交"
Handler = Callable[..., Awaitable[Response]]
API_NAME = re.compile(r"（[a-z_.0-9]+）")
LEADING_NAME = re.compile(r"^[a-z_.0-9]+ (?=[^\x00-\x7f])")


class LoginRequired(Exception):
    pass


def ymt(request: Request) -> App:
    return request.app.state.ymt


def actor_of(request: Request) -> Actor:
    actor = auth.current_actor(request)
    if actor is None:
        raise LoginRequired
    return actor


def may(request: Request, action: str, **where: Any) -> bool:
    """For templates: whether the logged-in person may do `action` (asks the one policy; only to decide which
    links to show — the command checks again)."""
    actor = auth.current_actor(request)
    return actor is not None and ymt(request).profile.policy.may(actor, Action(action), **where)


TEMPLATES.env.globals["may"] = may


def form_route(action: Action, back: str | None = None) -> Callable[[Callable[..., Any]], Handler]:
    """A form endpoint (a POST is async: it reads its body itself, so a malformed one is a Chinese page, never
    FastAPI's English 422; a GET that only reads is a plain function run in the thread pool): declares its action
    for the route guard and sends people who are not logged in to the login page and back. What a handler does
    not answer itself becomes a whole-page refusal here: an expired form (CSRF) with a link `back` to the form (a
    template of the path parameters; default: this path), a service refusal (no such project, no right to it)."""
    def wrap(fn: Callable[..., Any]) -> Handler:
        @functools.wraps(fn)
        async def inner(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                if inspect.iscoroutinefunction(fn):
                    return await fn(request, *args, **kwargs)
                # a page that only reads: off the event loop, like FastAPI's own sync endpoints
                return await run_in_threadpool(fn, request, *args, **kwargs)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(auth.login_redirect(request, target), status_code=303)
            except CsrfRefused as exc:
                to = back.format(**request.path_params) if back else request.url.path
                return refused_page(request, exc, to)
            except AppError as exc:
                return refused_page(request, exc)

        return declares(action)(inner)

    return wrap


async def read_form(request: Request) -> FormData:
    """The posted form, CSRF-checked (403 page otherwise)."""
    form = await request.form(max_part_size=ymt(request).settings.max_upload_bytes)
    if not auth.csrf_ok(request, str(form.get("csrf") or "")):
        raise CsrfRefused
    return form


class CsrfRefused(Exception):
    pass


def text(form: FormData | Mapping[str, Any], name: str) -> str | None:
    """A text field, stripped; empty is None (an optional field left blank)."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def render(request: Request, template: str, status_code: int = 200, active: str = "projects",
           **ctx: Any) -> HTMLResponse:
    app = ymt(request)
    return TEMPLATES.TemplateResponse(request, template, {
        "active": active, "user": auth.current_user(request), "csrf": auth.csrf_token(request),
        "profile": app.profile, "labels": LABELS, **ctx}, status_code=status_code)


def refused_page(request: Request, exc: AppError | CsrfRefused, back: str | None = None) -> HTMLResponse:
    """A whole-page refusal (CSRF, no right to the form at all, the project does not exist)."""
    if isinstance(exc, CsrfRefused):
        return render(request, "forms/refused.html", 403, title="页面已过期", message=EXPIRED, back=back)
    return render(request, "forms/refused.html", exc.status, title=exc.title, message=exc.detail, back=back)


async def run(work: Callable[[], T]) -> T:
    """Run a command (a function that calls `uow.run`) off the event loop; its AppError goes to the caller."""
    return await run_in_threadpool(work)


# --- errors next to their fields -------------------------------------------------------------------------------

@dataclass
class FieldErrors:
    """What went wrong, by form field: `fields` (form field → message), `general` (the rest), `status`."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    status: int = 422
    extra: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, name: str, message: str, labels: Mapping[str, str]) -> None:
        # “出让用途（land_use）…”, “finished_at 应为…”: people read the label, not the API name
        message = LEADING_NAME.sub("", API_NAME.sub("", message))
        label = labels.get(name)
        if label is None and "." in name:  # `files.2`: the file input
            name = name.split(".")[0]
            label = labels.get(name)
        if label is None:
            self.general.append(message)
        elif name not in self.fields:
            self.fields[name] = message if message.startswith(label) else f"{label}：{message}"

    @classmethod
    def of(cls, exc: Exception, labels: Mapping[str, str], rename: Mapping[str, str] | None = None) -> FieldErrors:
        """From an AppError, a CodeError/LifecycleError or a pydantic ValidationError; `labels`: the form's
        fields and their Chinese names; `rename`: API field → form field (longest prefix wins)."""
        out = cls()
        pairs: list[tuple[str, str]]
        if isinstance(exc, ValidationError):
            pairs = [(".".join(str(p) for p in e["loc"]), chinese(e)) for e in exc.errors()]
        elif isinstance(exc, (CodeError, LifecycleError)):
            pairs = [(exc.field, exc.message)]
        elif isinstance(exc, AppError):
            out.status = exc.status
            out.extra = dict(exc.extra)
            pairs = list(exc.errors)
            if exc.status in (403, 409) or not pairs:  # a refusal: the whole message on top, too
                out.general.append(exc.detail)
        else:
            raise TypeError(exc)
        for api_field, message in pairs:
            out.add(form_field(api_field, rename or {}), message, labels)
        if isinstance(exc, AppError) and exc.status in (403, 409):  # said once on top; keep the field marks
            out.general = list(dict.fromkeys(out.general))
        return out


def form_field(api_field: str, rename: Mapping[str, str]) -> str:
    for prefix in sorted(rename, key=len, reverse=True):
        if api_field == prefix or api_field.startswith(prefix + "."):
            return rename[prefix] + api_field[len(prefix):]
    return api_field


def validate(model: type[M], data: dict[str, Any], labels: Mapping[str, str],
             rename: Mapping[str, str] | None = None) -> tuple[M | None, FieldErrors]:
    """The API's own request model over the form's values: the same limits, the messages in Chinese."""
    try:
        return model.model_validate(data), FieldErrors()
    except ValidationError as exc:
        return None, FieldErrors.of(exc, labels, rename)


_PYDANTIC = {
    "missing": "必填", "string_too_short": "不能为空", "int_parsing": "应为整数", "int_type": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字", "literal_error": "取值无效",
    "string_pattern_mismatch": "格式不正确", "string_type": "应为文字", "extra_forbidden": "不允许的字段",
    "list_type": "应为列表", "bool_parsing": "应为是或否", "finite_number": "应为有限的数字",
}


def chinese(err: Mapping[str, Any]) -> str:
    """A pydantic error in natural Chinese (our own validators already speak Chinese: `Value error, …`)."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length", 1) > 1:
        return f"至少 {ctx['min_length']} 个字符"
    if kind == "string_too_long":
        return f"不超过 {ctx.get('max_length')} 个字符"
    if kind in ("greater_than_equal", "greater_than"):
        return f"应不小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"应不大于 {ctx.get('le', ctx.get('lt'))}"
    if kind == "too_short":
        return f"至少 {ctx.get('min_length')} 项"
    if kind == "too_long":
        return f"最多 {ctx.get('max_length')} 项"
    if kind == "value_error":
        return re.sub(r"^Value error, ", "", str(err.get("msg", "")))
    return _PYDANTIC.get(kind, "取值无效")


LABELS = {
    "stage_status": StageStatus.labels(), "project_status": ProjectStatus.labels(),
    "confidentiality": Confidentiality.labels(), "role": Role.labels(),
}


def number(value: str | None) -> float | str | None:
    """A number typed by a person (全角 digits and thousands separators allowed); text that is not one is given
    to the model as it is, which names the field."""
    if value is None:
        return None
    cleaned = value.translate(str.maketrans("０１２３４５６７８９．，", "0123456789.,")).replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return value

