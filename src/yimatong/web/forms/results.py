"""上传成果: one result of a stage with several files, its kind, document number, date, issuer and
confidentiality — submitted through `results.submit`, the same submission as `POST /api/v1/projects/{code}/results`
(checks and the stage writer before any file is stored, one idempotent unit of work; the form's one-time key: a
second click of a slow upload records one result)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

import yimatong.web.forms.common as common
from yimatong.core.context import App
from yimatong.core.visibility import View
from yimatong.domain.enums import Confidentiality
from yimatong.domain.policy import Action
from yimatong.errors import AppError, NotFound
from yimatong.joint import readiness
from yimatong.results import service as results
from yimatong.web.forms.common import FieldErrors, form_route, text
from yimatong.web.forms.stages import _load

router = APIRouter(include_in_schema=False)
META = ("stage", "kind", "doc_no", "issued_at", "issuer", "confidentiality")
LABELS = {"stage": "阶段", "kind": "成果类型", "doc_no": "文号", "issued_at": "发证（印发）日期", "issuer": "发证（印发）机关",
          "confidentiality": "密级", "files": "文件", "code": "项目码"}
RENAME = {f"meta.{k}": k for k in META} | {"meta": "kind"}
KINDS = ("建设项目用地预审与选址意见书", "农用地转用和土地征收批复", "国有建设用地使用权出让合同", "划拨决定书",
         "建设用地规划许可证", "建设工程规划许可证", "施工许可证", "规划核实意见", "土地核验意见", "不动产权证书",
         "勘测定界报告", "执法监察记录")


def typed_fields(app: App, kind: str | None) -> list[dict[str, Any]]:
    """The data fields of a result kind the profile gives a schema (出让合同: 电子监管号, 面积, 价款, dates …), as the
    form shows them: `data.<name>`, the Chinese label, the input type. None for a free-form kind."""
    spec = app.profile.result_kinds.get(kind or "")
    if spec is None:
        return []
    out = []
    for name, prop in spec.schema_.get("properties", {}).items():
        kind_of = prop.get("type", "string")
        html = "date" if prop.get("format") == "date" else "number" if kind_of in ("number", "integer") else "text"
        out.append({"name": f"data.{name}", "key": name, "label": prop.get("x-label", name), "type": kind_of,
                    "input": html})
    return out


def typed_data(fields: list[dict[str, Any]], form: FormData) -> tuple[dict[str, Any], FieldErrors]:
    """The typed fields as the schema's JSON types; a field left empty is left out (it shows as missing in the
    registration readiness, never refuses the result); a number that is not one is named beside its field."""
    data: dict[str, Any] = {}
    errors = FieldErrors()
    for f in fields:
        raw = text(form, f["name"])
        if raw is None:
            continue
        if f["type"] == "boolean":
            data[f["key"]] = raw == "yes"
        elif f["type"] in ("number", "integer"):
            try:
                number = float(raw.replace(",", "").replace("，", ""))
            except ValueError:
                errors.add(f["name"], "应为数字", {f["name"]: f["label"]})
                continue
            if f["type"] == "integer" and not number.is_integer():
                errors.add(f["name"], "应为整数", {f["name"]: f["label"]})
                continue
            data[f["key"]] = int(number) if f["type"] == "integer" else number
        else:
            data[f["key"]] = raw
    return data, errors


def writable(app: App, actor: Any, project: dict[str, Any]) -> list[str]:
    return [s.key for s in app.profile.stages
            if app.profile.policy.may(actor, Action.RESULT_ADD, stage=s.key, division=project["division"])]


def _page(request: Request, project: dict[str, Any], values: dict[str, Any], errors: FieldErrors,
          status: int = 200) -> Response:
    app = common.ymt(request)
    actor = common.actor_of(request)
    allowed = writable(app, actor, project)
    refusal = None
    if not allowed:
        refused = app.profile.policy.refusal(actor, Action.RESULT_ADD, division=project["division"])
        refusal = refused[1] if refused else "您的角色不能为本项目的任何阶段提交成果"
    typed = [k for k in app.profile.result_kinds]
    return common.render(request, "forms/result.html", status if allowed else 403, project=project, values=values,
                         errors=errors, refusal=refusal, kinds=typed + [k for k in KINDS if k not in typed],
                         typed_kinds=typed, fields=typed_fields(app, values.get("kind")),
                         stage_options=[(s.key, f"{s.group or '码'} · {s.name}") for s in app.profile.stages
                                        if s.key in allowed],
                         levels=list(Confidentiality.labels().items()))


@router.get("/code/{code}/results/new")
@form_route(Action.RESULT_ADD)
def result_form(request: Request, code: str, stage: str | None = None, kind: str | None = None) -> Response:
    app = common.ymt(request)
    try:
        project, _ = _load(app, common.actor_of(request), code)
    except AppError as exc:
        return common.refused_page(request, exc)
    spec = app.profile.result_kinds.get(kind or "")
    stage = stage or (spec.stage if spec else None)  # a typed kind belongs to one stage
    values = {"stage": stage, "kind": kind, "confidentiality": "internal", "idem": secrets.token_urlsafe(18)}
    return _page(request, project, values, FieldErrors())


def uploads_of(form: FormData) -> list[UploadFile]:
    """The files chosen (a file input left empty sends one part without a name)."""
    return [f for f in form.getlist("files") if isinstance(f, UploadFile) and (f.filename or f.size)]


@router.post("/code/{code}/results/new")
@form_route(Action.RESULT_ADD)
async def result_save(request: Request, code: str) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    form = await common.read_form(request)
    project, _ = await common.run(lambda: _load(app, actor, code))
    values = {k: text(form, k) for k in (*META, "idem")}
    meta: dict[str, Any] = {k: values[k] for k in META if values[k] is not None}
    meta.setdefault("kind", "")
    fields = typed_fields(app, meta["kind"])
    data, bad = typed_data(fields, form)
    values |= {f["name"]: text(form, f["name"]) for f in fields}
    if bad:
        return _page(request, project, values, bad, 422)
    if data:
        meta["data"] = data
    files = uploads_of(form)
    try:
        app.profile.policy.check(actor, Action.RESULT_ADD, division=project["division"])
        # the API's submission: checks, staged files, one idempotent unit of work, nothing left on disk
        _, out = await common.run(lambda: results.submit(
            app, actor, code, meta, [results.Upload(f.filename or "", f.file) for f in files],
            values.get("idem"), then=readiness.after_result))
    except AppError as exc:
        labels = LABELS | {f["name"]: f["label"] for f in fields}
        errors = FieldErrors.of(exc, labels, RENAME | {f"meta.{f['name']}": f["name"] for f in fields})
        return _page(request, project, values, errors, errors.status)
    return RedirectResponse(f"/code/{code}/results/{out['id']}/added", status_code=303)


@router.get("/code/{code}/results/{result_id}/added")
@form_route(Action.READ)
def result_added(request: Request, code: str, result_id: int) -> Response:
    app = common.ymt(request)
    view = View.of(app, common.actor_of(request))
    try:
        with app.db.read() as session:
            result, owner = results.get_visible(session, view, result_id)
            if owner != code:
                raise NotFound(f"项目 {code} 没有成果 {result_id}", [("result_id", "不存在")])
            out = results.as_dicts(session, view, [result], {result.project_id: owner})[0]
    except AppError as exc:
        return common.refused_page(request, exc)
    return common.render(request, "forms/result_added.html", result=out, code=owner,
                         stage=app.profile.stage(out["stage"]))
