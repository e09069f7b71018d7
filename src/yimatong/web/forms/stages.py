"""阶段办理: set a stage's status, case number, dates and note — `stages.set_stage` (or, for the repeatable
执法监察, `stages.add_inspection`), the command of `PUT /api/v1/projects/{code}/stages/{key}`.

The form offers only the stages the policy lets this person write on this project; when a prerequisite rule
refuses the change, the page says which rule, what it requires and where the project stands."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

import yimatong.web.forms.common as common
from yimatong.api.schemas import InspectionIn, StagePut
from yimatong.core.context import App
from yimatong.core.visibility import View
from yimatong.domain.enums import StageStatus
from yimatong.domain.policy import Action
from yimatong.errors import AppError
from yimatong.joint import readiness
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.uow import run
from yimatong.web.forms.common import FieldErrors, form_route, text

router = APIRouter(include_in_schema=False)
FIELDS = ("status", "case_no", "department", "started_at", "finished_at", "note")
LABELS = {"key": "阶段", "status": "办理状态", "case_no": "案卷号", "department": "经办科室或部门",
          "started_at": "开始日期", "finished_at": "办结日期", "note": "备注", "code": "项目码"}


def _load(app: App, actor: Any, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with app.db.read() as session:
        view = View.of(app, actor)
        project = registry.get(session, code, view)
        return registry.project_dict(session, project, view=view), stages.stage_list(session, app, project)


def writable(app: App, actor: Any, project: dict[str, Any]) -> list[str]:
    """The stages the policy lets this person write on this project (role, stage writers, district)."""
    return [s.key for s in app.profile.stages
            if app.profile.policy.may(actor, Action.STAGE_WRITE, stage=s.key, division=project["division"])]


def rules_of(app: App, key: str, current: dict[str, str]) -> list[dict[str, Any]]:
    """The prerequisite rules of a stage in words, each requirement with where the project stands now."""
    names = {s.key: s.name for s in app.profile.stages}
    labels = StageStatus.labels()
    out = []
    for rule in app.profile.prerequisites:
        if rule.stage != key:
            continue
        needs = [{"stage": names.get(k, k), "allowed": "或".join(labels.get(v, v) for v in allowed),
                  "now": labels.get(current.get(k, "pending"), current.get(k, "pending")),
                  "met": current.get(k, "pending") in allowed} for k, allowed in rule.requires.items()]
        out.append({"id": rule.id, "message": rule.message, "applies_to": "、".join(labels.get(v, v) for v in rule.applies_to),
                    "conditional": bool(rule.when), "needs": needs})
    return out


def _page(request: Request, project: dict[str, Any], rows: list[dict[str, Any]], key: str | None,
          values: dict[str, Any], errors: FieldErrors, status: int = 200, broken: str | None = None) -> Response:
    app = common.ymt(request)
    actor = common.actor_of(request)
    allowed = writable(app, actor, project)
    current = {r["key"]: r["status"] for r in rows}
    rules = rules_of(app, key, current) if key else []
    refusal = None
    if not allowed:
        refused = app.profile.policy.refusal(actor, Action.STAGE_WRITE, division=project["division"])
        refusal = refused[1] if refused else "您的角色不能办理本项目的任何阶段"
    return common.render(request, "forms/stage.html", status, project=project, rows=rows, key=key, values=values,
                         errors=errors, allowed=allowed, rules=rules,
                         stage_options=[(r["key"], f"{r['group'] or '码'} · {r['name']}") for r in rows if r["key"] in allowed], broken=broken, refusal=refusal,
                         statuses=list(StageStatus.labels().items()), field_labels=LABELS)


@router.get("/code/{code}/stage")
@form_route(Action.STAGE_WRITE)
def stage_form(request: Request, code: str, key: str | None = None) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    try:
        project, rows = _load(app, actor, code)
    except AppError as exc:
        return common.refused_page(request, exc)
    allowed = writable(app, actor, project)
    if key not in allowed:
        key = next((r["key"] for r in rows if r["key"] in allowed and r["status"] != "done"),
                   allowed[0] if allowed else None)
    row = next((r for r in rows if r["key"] == key), {})
    values = {f: row.get(f) for f in FIELDS}
    for f in ("started_at", "finished_at"):  # a date input shows YYYY-MM-DD
        values[f] = (values[f] or "")[:10] or None
    return _page(request, project, rows, key, values, FieldErrors(), 200 if allowed else 403)


@router.post("/code/{code}/stage")
@form_route(Action.STAGE_WRITE)
async def stage_save(request: Request, code: str) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    form = await common.read_form(request)
    project, rows = await common.run(lambda: _load(app, actor, code))
    key = text(form, "key") or ""
    values = {f: text(form, f) for f in FIELDS}
    model_cls = InspectionIn if key == "inspection" else StagePut
    model, errors = common.validate(model_cls, {k: v for k, v in values.items() if v is not None}, LABELS)
    if model is None:
        return _page(request, project, rows, key, values, errors, 422)
    body = {f: getattr(model, f) for f in FIELDS}  # every field: one cleared on the form is cleared
    if key == "inspection":
        command = lambda uow: stages.add_inspection(uow, code, body)  # noqa: E731
    else:
        command = lambda uow: readiness.set_stage(uow, code, key, body)  # noqa: E731  # the API's command
    try:
        await common.run(lambda: run(app, actor, command))
    except AppError as exc:
        errors = FieldErrors.of(exc, LABELS)
        broken = exc.extra.get("rule") if isinstance(exc.extra.get("rule"), str) else None
        if broken:  # the rule is explained in words beside the form; its id is for the API's clients
            errors.general = []
        return _page(request, project, rows, key, values, errors, errors.status, broken=broken)
    return RedirectResponse(f"/code/{code}/stage?key={key}&done=1", status_code=303)
