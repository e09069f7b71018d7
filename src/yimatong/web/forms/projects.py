"""登记项目, 修改项目, 作废 / 合并 / 拆分: the registry's commands (projects/registry.py) behind forms.

Registering runs exactly what `POST /api/v1/projects` runs (the request model `ProjectIn`, the idempotent
unit of work, `parcels.register_with_parcels`); the form carries a one-time Idempotency-Key so that a double
click registers one project. The irreversible commands (void, merge, split) take a reason and a second step that
shows what will happen before anything is written."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

import yimatong.web.forms.common as common
from yimatong.api.routes.projects import with_warnings
from yimatong.api.schemas import MergeIn, ProjectIn, ProjectPatch, SplitIn, VoidIn
from yimatong.core.context import App, local_today
from yimatong.core.visibility import View
from yimatong.domain import codes
from yimatong.domain.enums import SourceKind
from yimatong.domain.policy import Action
from yimatong.errors import AppError
from yimatong.parcels import store as parcels
from yimatong.projects import registry
from yimatong.storage.models import Project
from yimatong.uow import Idempotency, run, run_idempotent
from yimatong.web.forms.common import FieldErrors, form_route, number, text

router = APIRouter(include_in_schema=False)
CODED_FIELDS = ("division", "approval_type", "project_type", "supply_type", "land_use")
LABELS = {"name": "项目名称", "division": "行政区划", "zone": "功能区", "year": "年度", "approval_type": "项目批准类型",
          "project_type": "项目类型", "supply_type": "供地类型", "land_use": "出让用途", "builder": "建设单位",
          "investment_code": "投资项目代码", "area_m2": "用地面积（平方米）", "source_kind": "来源",
          "source_ref": "来源编号", "code": "项目码"}
RENAME = {"sources.0.kind": "source_kind", "sources.0.ref": "source_ref", "sources": "source_kind"}


def options(app: App) -> dict[str, list[tuple[str, str]]]:
    """The choices of each coded field: the values codes may be issued with now (current edition, not retired)."""
    out = {name: [(e.value, f"{e.value} {e.label}") for e in app.profile.issuable(name)] for name in CODED_FIELDS}
    out["zone"] = [(z.value, f"{z.label}（{app.profile.label('division', z.division) or z.division}）")
                   for z in app.profile.zones]
    out["source_kind"] = list(SourceKind.labels().items())
    return out


def code_preview(app: App) -> dict[str, Any]:
    """What forms.js needs to show the code segments as the person chooses: each segment's name, label and
    length, the region constant, and the zones' divisions."""
    return {"segments": [{"name": s.name, "label": s.label, "length": s.length, "kind": s.kind}
                         for s in app.profile.code.segments],
            "region": app.profile.code.region, "region_label": app.profile.label("region", app.profile.code.region),
            "zones": {z.value: z.division for z in app.profile.zones}}


def project_values(form: FormData) -> dict[str, Any]:
    return {k: text(form, k) for k in (*LABELS, "idem")}


def register_body(values: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {k: values.get(k) for k in ("name", "division", "approval_type", "project_type",
                                                        "supply_type", "land_use", "builder", "investment_code",
                                                        "zone")}
    body = {k: v for k, v in body.items() if v is not None}
    for k in ("name", "division", "approval_type", "project_type", "supply_type", "land_use"):
        body.setdefault(k, "")
    if values.get("year"):
        body["year"] = values["year"]
    if values.get("area_m2"):
        body["area_m2"] = number(values["area_m2"])
    body["sources"] = [{"kind": values.get("source_kind") or "manual", "ref": values.get("source_ref")}]
    return body


def _form(request: Request, template: str, status: int = 200, **ctx: Any) -> Response:
    app = common.ymt(request)
    return common.render(request, template, status, options=options(app), preview=code_preview(app),
                         field_labels=LABELS, **ctx)


# --- 登记项目 ------------------------------------------------------------------------------------------------

@router.get("/projects/new")
@form_route(Action.PROJECT_REGISTER)
def new_project(request: Request) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    refusal = app.profile.policy.refusal(actor, Action.PROJECT_REGISTER)
    values = {"year": str(local_today(app.profile).year), "source_kind": "manual", "idem": secrets.token_urlsafe(18)}
    return _form(request, "forms/project_new.html", 403 if refusal else 200, values=values, errors=FieldErrors(),
                 refusal=refusal[1] if refusal else None)


@router.post("/projects/new")
@form_route(Action.PROJECT_REGISTER)
async def register_project(request: Request) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    form = await common.read_form(request)
    values = project_values(form)
    model, errors = common.validate(ProjectIn, register_body(values), LABELS, RENAME)
    if model is not None:
        body = model
        data = body.model_dump()
        data["year"] = data["year"] or local_today(app.profile).year
        idem = Idempotency(values.get("idem"), "projects.register", body.model_dump(mode="json"))
        try:
            _, out = await common.run(lambda: run_idempotent(
                app, actor, idem, lambda uow: (201, with_warnings(app, parcels.register_with_parcels(uow, data, [])))))
        except AppError as exc:
            errors = FieldErrors.of(exc, LABELS, RENAME)
        else:
            return RedirectResponse(f"/code/{out['code']}/registered", status_code=303)
    return _form(request, "forms/project_new.html", errors.status, values=values, errors=errors,
                 existing=errors.extra.get("existing_code"))


@router.get("/code/{code}/registered")
@form_route(Action.READ)
def registered(request: Request, code: str) -> Response:
    """After registering: the code issued, its segments, and any warning about the references."""
    actor = common.actor_of(request)
    app = common.ymt(request)
    try:
        with app.db.read() as session:
            view = View.of(app, actor)
            project = registry.project_dict(session, registry.get(session, code, view), view=view)
    except AppError as exc:
        return common.refused_page(request, exc)
    segments = codes.parse_code(app.profile, code, project.get("edition")).segments
    warnings = with_warnings(app, project)["warnings"]
    return common.render(request, "forms/project_registered.html", project=project, segments=segments,
                         warnings=warnings)


# --- 修改项目 ------------------------------------------------------------------------------------------------

def _current(request: Request, code: str) -> dict[str, Any]:
    app = common.ymt(request)
    with app.db.read() as session:
        view = View.of(app, common.actor_of(request))
        return registry.project_dict(session, registry.get(session, code, view), view=view)


def _edit_values(project: dict[str, Any]) -> dict[str, Any]:
    values = {k: project.get(k) for k in LABELS if k in project}
    values["year"] = str(project["year"])
    values["area_m2"] = f"{project['area_m2']:g}" if project.get("area_m2") is not None else None
    return values


@router.get("/code/{code}/edit")
@form_route(Action.PROJECT_UPDATE)
def edit_project(request: Request, code: str) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    try:
        project = _current(request, code)
    except AppError as exc:
        return common.refused_page(request, exc)
    refusal = app.profile.policy.refusal(actor, Action.PROJECT_UPDATE, division=project["division"])
    return _form(request, "forms/project_edit.html", 403 if refusal else 200, project=project,
                 values=_edit_values(project), errors=FieldErrors(), refusal=refusal[1] if refusal else None)


def changes_of(project: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Only what the person changed (a PATCH): a field emptied is sent as empty and refused by name."""
    before = _edit_values(project)
    out: dict[str, Any] = {}
    for key in ("name", "division", "zone", "year", "approval_type", "project_type", "supply_type", "land_use",
                "builder", "investment_code", "area_m2"):
        new = values.get(key)
        if (new or None) == (str(before.get(key)) if before.get(key) is not None else None):
            continue
        if key == "area_m2":
            out[key] = number(new)
        elif key in ("zone", "builder", "investment_code"):
            out[key] = new
        else:
            out[key] = new if new is not None else ""
    return out


@router.post("/code/{code}/edit")
@form_route(Action.PROJECT_UPDATE)
async def update_project(request: Request, code: str) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    form = await common.read_form(request)
    project = await common.run(lambda: _current(request, code))
    values = project_values(form)
    changes = changes_of(project, values)
    model, errors = common.validate(ProjectPatch, changes, LABELS)
    if model is not None and not changes:
        errors.general.append("没有修改任何内容")
    elif model is not None:
        patch = model.model_dump(exclude_unset=True)
        for key in ("name", "division", "year", "approval_type", "project_type", "supply_type", "land_use"):
            if key in patch and not patch[key]:
                errors.add(key, "不能为空", LABELS)
        if not errors:
            try:
                out = await common.run(lambda: run(app, actor, lambda uow: registry.project_dict(
                    uow.session, registry.update(uow, code, patch), view=uow.view)))
            except AppError as exc:
                errors = FieldErrors.of(exc, LABELS)
            else:
                return RedirectResponse(f"/code/{out['code']}/edited", status_code=303)
    return _form(request, "forms/project_edit.html", errors.status if errors.status != 422 or errors.fields else 422,
                 project=project, values=values, errors=errors, refusal=None)


@router.get("/code/{code}/edited")
@form_route(Action.READ)
def edited(request: Request, code: str) -> Response:
    try:
        project = _current(request, code)
    except AppError as exc:
        return common.refused_page(request, exc)
    app = common.ymt(request)
    current = {k: str(project[k]) for k in registry.CODED}
    stale = codes.outdated_segments(app.profile, code, current)
    return common.render(request, "forms/project_edited.html", project=project,
                         stale=[app.profile.segment(s).label for s in stale])


# --- 作废 / 合并 / 拆分 ---------------------------------------------------------------------------------------

IRREVERSIBLE = {
    "void": (Action.PROJECT_VOID, "作废项目码", "作废后项目码不再有效，也不会再分配给其他项目。此操作不可撤销。"),
    "merge": (Action.PROJECT_MERGE, "合并项目码",
              "合并后本项目码指向保留的项目码，来源与交叉引用并入保留项目；本项目不再可修改。此操作不可撤销。"),
    "split": (Action.PROJECT_SPLIT, "拆分项目", "为每个子项目签发新的项目码并关联本项目；本项目保留为历史记录。此操作不可撤销。"),
}
CHANGE_LABELS = {"reason": "原因", "into": "保留的项目码", "parts": "子项目", "code": "项目码"}
SPLIT_ROWS = 4


def _split_parts(form: FormData | dict[str, Any]) -> list[dict[str, Any]]:
    parts = []
    for i in range(SPLIT_ROWS):
        name, area = text(form, f"part_name_{i}"), text(form, f"part_area_{i}")
        if name or area:
            part: dict[str, Any] = {"name": name or ""}
            if area:
                part["area_m2"] = number(area)
            parts.append(part)
    return parts


def _change_labels() -> dict[str, str]:
    out = dict(CHANGE_LABELS)
    for i in range(SPLIT_ROWS):
        out[f"part_name_{i}"] = f"第 {i + 1} 个子项目的名称"
        out[f"part_area_{i}"] = f"第 {i + 1} 个子项目的面积"
    return out


def _change_rename(form: FormData | dict[str, Any]) -> dict[str, str]:
    """`parts.N.x` of the request is the N-th filled row of the form (empty rows are skipped)."""
    filled = [i for i in range(SPLIT_ROWS) if text(form, f"part_name_{i}") or text(form, f"part_area_{i}")]
    out = {}
    for n, i in enumerate(filled):
        out[f"parts.{n}.name"] = f"part_name_{i}"
        out[f"parts.{n}.area_m2"] = f"part_area_{i}"
    return out


def _check(kind: str, form: FormData | dict[str, Any]) -> tuple[Any, FieldErrors]:
    reason = text(form, "reason") or ""
    if kind == "void":
        return common.validate(VoidIn, {"reason": reason}, _change_labels())
    if kind == "merge":
        return common.validate(MergeIn, {"into": (text(form, "into") or "").upper(), "reason": reason},
                               _change_labels())
    return common.validate(SplitIn, {"parts": _split_parts(form), "reason": reason}, _change_labels(),
                           _change_rename(form))


def _command(kind: str, code: str, model: Any) -> Any:
    if kind == "void":
        return lambda uow: registry.void(uow, code, model.reason).code
    if kind == "merge":
        return lambda uow: registry.merge(uow, code, model.into, model.reason).code
    parts = [p.model_dump(exclude_none=True) for p in model.parts]
    return lambda uow: [c.code for c in registry.split(uow, code, parts, model.reason)]


def _change_page(request: Request, kind: str, project: dict[str, Any], values: dict[str, Any],
                 errors: FieldErrors, step: str, status: int = 200, **ctx: Any) -> Response:
    action, title, consequence = IRREVERSIBLE[kind]
    return common.render(request, "forms/project_change.html", status, kind=kind, title=title,
                         consequence=consequence, project=project, values=values, errors=errors, step=step,
                         split_rows=SPLIT_ROWS, **ctx)


def _change_route(kind: str) -> None:
    action = IRREVERSIBLE[kind][0]

    @router.get(f"/code/{{code}}/{kind}", name=f"{kind}_form")
    @form_route(action)
    def show(request: Request, code: str) -> Response:
        actor = common.actor_of(request)
        try:
            project = _current(request, code)
        except AppError as exc:
            return common.refused_page(request, exc)
        refusal = common.ymt(request).profile.policy.refusal(actor, action, division=project["division"])
        if refusal is not None:
            return common.render(request, "forms/refused.html", 403, title=IRREVERSIBLE[kind][1],
                                 message=refusal[1], back=f"/code/{code}")
        return _change_page(request, kind, project, {}, FieldErrors(), "fill")

    @router.post(f"/code/{{code}}/{kind}", name=f"{kind}_do")
    @form_route(action)
    async def do(request: Request, code: str) -> Response:
        actor = common.actor_of(request)
        app = common.ymt(request)
        form = await common.read_form(request)
        project = await common.run(lambda: _current(request, code))
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        model, errors = _check(kind, form)
        if model is None:
            return _change_page(request, kind, project, values, errors, "fill", 422)
        other = None
        if kind == "merge":
            try:
                other = await common.run(lambda: _current(request, model.into))
            except AppError as exc:
                errors = FieldErrors.of(exc, _change_labels(), {"code": "into"})
                return _change_page(request, kind, project, values, errors, "fill", errors.status)
        if form.get("confirmed") != "yes":  # the second step: what will happen, then the button that does it
            return _change_page(request, kind, project, values, errors, "confirm", other=other,
                                parts=getattr(model, "parts", None))
        try:
            out = await common.run(lambda: run(app, actor, _command(kind, code, model)))
        except AppError as exc:
            errors = FieldErrors.of(exc, _change_labels(), _change_rename(form))
            return _change_page(request, kind, project, values, errors, "fill", errors.status)
        target = out[0] if isinstance(out, list) else code
        return RedirectResponse(f"/code/{code}/changed?kind={kind}&to={target if kind == 'split' else ''}",
                                status_code=303)


for _kind in IRREVERSIBLE:
    _change_route(_kind)


@router.get("/code/{code}/changed")
@form_route(Action.READ)
def changed(request: Request, code: str, kind: str = "void") -> Response:
    try:
        project = _current(request, code)
    except AppError as exc:
        return common.refused_page(request, exc)
    app = common.ymt(request)
    children: list[dict[str, Any]] = []
    if kind == "split":
        with app.db.read() as session:
            children = _children(session, View.of(app, common.actor_of(request)), code)
    title = IRREVERSIBLE.get(kind, IRREVERSIBLE["void"])[1]
    return common.render(request, "forms/project_changed.html", project=project, kind=kind, title=title,
                         children=children)


def _children(session: Any, view: View, code: str) -> list[dict[str, Any]]:
    """The projects split from `code` that the viewer may see."""
    rows = session.execute(select(Project.code, Project.name).where(Project.parent_code == code, view.projects())
                           .order_by(Project.code)).all()
    return [{"code": c, "name": n} for c, n in rows]
