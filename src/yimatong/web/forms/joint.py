"""联合审查（会签）in the browser: open a joint review of a stage, and each section's opinion form — the commands
of `POST /api/v1/projects/{code}/stages/{key}/joint-reviews` and `PUT /api/v1/joint-reviews/{id}/opinions/{s}`
(`joint.reviews.open_review` / `sign`). The page shows each review opinion by opinion and the stage's materials
(要件) with what is missing; a person sees a signing form only for the sections the policy says they act for."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

import yimatong.web.forms.common as common
from yimatong.core.context import App
from yimatong.core.visibility import View
from yimatong.domain import joint as rules
from yimatong.domain.policy import Action
from yimatong.errors import AppError
from yimatong.joint import materials, reviews
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.uow import run
from yimatong.web.forms.common import FieldErrors, form_route, text

router = APIRouter(include_in_schema=False)
LABELS = {"status": "意见", "text": "意见说明", "conditions": "条件", "sections": "会签科室", "key": "阶段",
          "due": "期限"}


class OpinionForm(BaseModel):
    """The opinion as the form sends it (the same limits as the API's OpinionIn)."""

    model_config = ConfigDict(extra="forbid")
    status: str = Field(min_length=1)
    text: str | None = Field(None, max_length=5000)
    conditions: str | None = Field(None, max_length=5000)


def _load(app: App, actor: Any, code: str, key: str | None) -> dict[str, Any]:
    with app.db.read() as session:
        view = View.of(app, actor)
        project = registry.get(session, code, view)
        rows = stages.stage_list(session, app, project)
        return {"project": registry.project_dict(session, project, view=view), "rows": rows,
                "reviews": reviews.for_stage(session, app, view, code, key, with_materials=False) if key else [],
                "materials": materials.catalogue(session, app, view, project, key) if key else []}


def _stage_keys(app: App) -> list[str]:
    """The stages a review can be opened for: those the profile sends to sections by default, then the others."""
    configured = list(app.profile.joint_reviews)
    return configured + [s.key for s in app.profile.stages if s.key not in configured]


def _page(request: Request, code: str, key: str | None, errors: FieldErrors, status: int = 200,
          values: dict[str, Any] | None = None, target: tuple[int, str] | None = None) -> Response:
    app, actor = common.ymt(request), common.actor_of(request)
    try:
        data = _load(app, actor, code, key)
    except AppError as exc:
        return common.refused_page(request, exc)
    project = data["project"]
    spec = app.profile.joint_reviews.get(key or "")
    default_sections = spec.sections if spec else []
    may_open = app.profile.policy.may(actor, Action.JOINT_REVIEW_OPEN, division=project["division"])
    signable = {(r["id"], o["section"]) for r in data["reviews"] if r["status"] == "open"
                for o in r["opinions"] if app.profile.policy.may(actor, Action.OPINION_SIGN, section=o["section"],
                                                                    division=project["division"])}
    names = {s.key: s.name for s in app.profile.stages}
    return common.render(
        request, "forms/joint.html", status, project=project, key=key, stage_name=names.get(key or "", key),
        stage_options=[(k, names.get(k, k)) for k in _stage_keys(app)], reviews=data["reviews"],
        sections=[(s.value, s.label) for s in app.profile.sections], default_sections=default_sections,
        materials=data["materials"], may_open=may_open, signable=signable, errors=errors, values=values or {}, target=target,
        opinion_labels=rules.OPINION_LABELS, review_labels=rules.REVIEW_LABELS,
        signed_statuses=[(s, rules.OPINION_LABELS[s]) for s in rules.SIGNED_STATUSES],
        has_open=any(r["status"] == "open" for r in data["reviews"]))


@router.get("/code/{code}/joint")
@form_route(Action.READ)
def joint_page(request: Request, code: str, key: str | None = None) -> Response:
    app = common.ymt(request)
    if key is not None and app.profile.stage(key) is None:
        key = None
    return _page(request, code, key or _stage_keys(app)[0], FieldErrors())


@router.post("/code/{code}/joint/open")
@form_route(Action.JOINT_REVIEW_OPEN, back="/code/{code}/joint")
async def joint_open(request: Request, code: str) -> Response:
    app, actor = common.ymt(request), common.actor_of(request)
    form = await common.read_form(request)
    key = text(form, "key") or ""
    body: dict[str, Any] = {"sections": [str(s) for s in form.getlist("sections")]}
    if not body["sections"]:
        errors = FieldErrors()
        errors.add("sections", "请至少选择一个会签科室", LABELS)
        return _page(request, code, key, errors, 422)
    if text(form, "due"):
        body["due"] = text(form, "due")
    try:
        await common.run(lambda: run(app, actor, lambda uow: reviews.open_review(uow, code, key, body)))
    except AppError as exc:
        errors = FieldErrors.of(exc, LABELS)
        return _page(request, code, key, errors, errors.status)
    return RedirectResponse(f"/code/{code}/joint?key={key}&opened=1", status_code=303)


@router.post("/code/{code}/joint/{review_id}/{section}")
@form_route(Action.OPINION_SIGN, back="/code/{code}/joint")
async def joint_sign(request: Request, code: str, review_id: int, section: str) -> Response:
    app, actor = common.ymt(request), common.actor_of(request)
    form = await common.read_form(request)
    key = text(form, "key")
    values = {f: text(form, f) for f in ("status", "text", "conditions")}
    model, errors = common.validate(OpinionForm, {k: v for k, v in values.items() if v is not None}, LABELS)
    if model is None:
        return _page(request, code, key, errors, 422, values, (review_id, section))
    body = model.model_dump(exclude_none=True)
    try:
        await common.run(lambda: run(app, actor, lambda uow: reviews.sign(uow, review_id, section, body)))
    except AppError as exc:
        errors = FieldErrors.of(exc, LABELS)
        return _page(request, code, key, errors, errors.status, values, (review_id, section))
    return RedirectResponse(f"/code/{code}/joint?key={key}&signed={section}", status_code=303)
