"""Joint review (联合审批/会签), materials (要件), registration readiness, typed result kinds and the clock of a
stage (API.md, "Additions to v1 (2026-12)")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.errors import NotFound
from yimatong.joint import limits, materials, readiness, reviews
from yimatong.projects import registry
from yimatong.storage.models import Project
from yimatong.uow import Idempotency, UnitOfWork, run, run_idempotent

router = APIRouter(prefix="/api/v1", tags=["联合审查 Joint review"])


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sections: list[str] | None = Field(None, description="会签科室（默认：配置中该阶段的科室）")
    due: str | None = Field(None, max_length=10, description="期限 YYYY-MM-DD（默认按配置的工作日时限计算）")
    note: str | None = Field(None, max_length=5000, description="说明")


class OpinionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(description="agree | agree_with_conditions | disagree | returned")
    text: str | None = Field(None, max_length=5000, description="意见")
    conditions: str | None = Field(None, max_length=5000, description="条件（有条件同意时必填）")
    result_ids: list[int] | None = Field(None, description="附件：本项目的成果 id")


class SuspensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="中止类型：correction（补正材料）、hearing（听证）、publicity（公示）…")
    start: str = Field(max_length=10, description="中止开始日 YYYY-MM-DD（当日不计入期限）")
    end: str | None = Field(None, max_length=10, description="中止最后一日 YYYY-MM-DD（空：仍在中止）")
    note: str | None = Field(None, max_length=5000)


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    end: str = Field(max_length=10, description="中止最后一日 YYYY-MM-DD")


def _review_body(uow: UnitOfWork, review: Any) -> dict[str, Any]:
    project = uow.session.get(Project, review.project_id)
    assert project is not None
    return reviews.review_dict(uow.session, uow.app, uow.view, review, project)


@router.post("/projects/{code}/stages/{key}/joint-reviews", status_code=201,
             responses=responses(400, 401, 403, 404, 409, 422), summary="发起联合审查（会签）",
             description="把一个阶段（案件）送多个科室会签。sections 默认取配置中该阶段的会签科室；due 为期限（不得早于"
                         "今天），缺省按配置的工作日时限计算。返回审查及各科室待签意见和该阶段的要件。支持 Idempotency-Key。")
def open_review(code: str, key: str, body: ReviewIn, app: App = Depends(get_app),
                actor: Actor = Depends(requires(Action.JOINT_REVIEW_OPEN)),
                idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    data = body.model_dump(exclude_unset=True)

    def work(uow: UnitOfWork) -> tuple[int, dict[str, Any]]:
        return 201, _review_body(uow, reviews.open_review(uow, code, key, data))

    idem = Idempotency(idempotency_key, f"joint_review.open:{code}:{key}", data)
    status, out = run_idempotent(app, actor, idem, work)
    return JSONResponse(out, status_code=status)


@router.get("/projects/{code}/stages/{key}/joint-reviews", responses=responses(401, 404),
            summary="阶段的联合审查", description="该阶段的全部联合审查（含已办结），逐科室意见。")
def list_reviews(code: str, key: str, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))
                 ) -> dict[str, Any]:
    with app.db.read() as session:
        return {"items": reviews.for_stage(session, app, View.of(app, actor), code, key), "next_cursor": None}


@router.get("/joint-reviews/{review_id}", responses=responses(401, 404, 422), summary="一个联合审查")
def get_review(review_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))
               ) -> dict[str, Any]:
    with app.db.read() as session:
        return reviews.get(session, app, View.of(app, actor), review_id)


@router.put("/joint-reviews/{review_id}/opinions/{section}", responses=responses(400, 401, 403, 404, 409, 422),
            summary="签署科室意见",
            description="只有代表该科室的令牌或用户（或 admin）可以签署，否则 403。全部科室同意（含有条件同意）则审查通过；"
                        "任一科室不同意或退回则审查退回。每条意见记入台账。")
def sign_opinion(section: str, body: OpinionIn, review_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
                 actor: Actor = Depends(requires(Action.OPINION_SIGN))) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    return run(app, actor, lambda uow: _review_body(uow, reviews.sign(uow, review_id, section, data)))


@router.get("/projects/{code}/stages/{key}/materials", responses=responses(401, 404), summary="阶段要件清单",
            description="该阶段所需的每项要件及满足它的成果（id、文件、SHA-256），result_id 为 null 表示缺少。")
def stage_materials(code: str, key: str, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))
                    ) -> dict[str, Any]:
    view = View.of(app, actor)
    with app.db.read() as session:
        project = registry.get(session, code, view)
        if app.profile.stage(key) is None:
            raise NotFound(f"阶段 {key} 不在阶段目录中", [("key", "未知阶段")])
        return {"items": materials.catalogue(session, app, view, project, key)}


@router.get("/projects/{code}/registration-readiness", responses=responses(401, 404),
            summary="不动产登记就绪情况（零材料登记）",
            description="ready 为 true 表示登记所需的成果与数据都已在项目码下；否则 missing 列出缺少的要件或数据项。")
def registration_readiness(code: str, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))
                           ) -> dict[str, Any]:
    view = View.of(app, actor)
    with app.db.read() as session:
        project = registry.get(session, code, view)
        return readiness.readiness(session, app, view, project)


@router.get("/result-kinds", responses=responses(401), summary="成果类型及其数据规范（JSON Schema）")
def result_kinds(app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    return {"items": [{"kind": k, "stage": v.stage, "schema": v.schema_}
                      for k, v in app.profile.result_kinds.items()]}


@router.post("/projects/{code}/stages/{key}/suspensions", status_code=201,
             responses=responses(400, 401, 403, 404, 409, 422), summary="中止计时（补正、听证、公示）",
             description="中止期间的工作日不计入办理期限。end 为空表示仍在中止，之后以 resume 结束。")
def suspend(code: str, key: str, body: SuspensionIn, app: App = Depends(get_app),
            actor: Actor = Depends(requires(Action.STAGE_WRITE))) -> JSONResponse:
    data = body.model_dump(exclude_unset=True)
    return JSONResponse(run(app, actor, lambda uow: limits.suspend(uow, code, key, data)), status_code=201)


@router.post("/projects/{code}/stages/{key}/suspensions/{suspension_id}/resume",
             responses=responses(400, 401, 403, 404, 409, 422), summary="恢复计时")
def resume(code: str, key: str, body: ResumeIn, suspension_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
           actor: Actor = Depends(requires(Action.STAGE_WRITE))) -> dict[str, Any]:
    data = body.model_dump()
    return run(app, actor, lambda uow: limits.resume(uow, code, key, suspension_id, data))
