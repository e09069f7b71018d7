"""Stages (项目阶段接口): how the approval system and the registration platform feed status back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import InspectionIn, StageOut, StagePut, StageRecordOut, responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.joint import limits, readiness
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.uow import run

router = APIRouter(prefix="/api/v1", tags=["阶段 Stages"])


@router.get("/projects/{code}/stages", response_model=list[StageOut], responses=responses(401, 404),
            summary="项目阶段（项目阶段接口）",
            description="返回阶段目录中每个阶段（入库赋码、批、供、用、补、查、登）的状态、案卷号、经办部门、起止日期与最后修改人。")
def list_stages(code: str, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))
                ) -> list[dict[str, Any]]:
    with app.db.read() as session:
        project = registry.get(session, code, View.of(app, actor))
        return limits.with_times(session, app, project, stages.stage_list(session, app, project))


@router.put("/projects/{code}/stages/{key}", response_model=StageOut,
            responses=responses(400, 401, 403, 404, 409, 422), summary="回写阶段状态",
            description="一体化审批系统、不动产登记平台回写阶段办理状态。违反前置规则（如供地前须完成农转用征收审批）"
                        "返回 409，并在 rule 中给出规则编号。审批系统可写除不动产登记外的所有阶段，登记平台只能写登记阶段。")
def put_stage(code: str, key: str, body: StagePut, app: App = Depends(get_app),
              actor: Actor = Depends(requires(Action.STAGE_WRITE))) -> dict[str, Any]:
    # [joint] the registration rule (done without readiness needs a reason) and the registration.ready event
    return run(app, actor, lambda uow: readiness.set_stage(uow, code, key, body.model_dump(exclude_unset=True)))


@router.post("/projects/{code}/stages/inspection/records", status_code=201, response_model=StageRecordOut,
             responses=responses(400, 401, 403, 404, 409, 422), summary="登记执法监察记录",
             description="执法监察（查）可在任何时间多次发生，每次记录均保留。")
def add_inspection(code: str, body: InspectionIn, app: App = Depends(get_app),
                   actor: Actor = Depends(requires(Action.STAGE_WRITE))) -> dict[str, Any]:
    return run(app, actor, lambda uow: stages.add_inspection(uow, code, body.model_dump(exclude_unset=True)))


@router.get("/projects/{code}/stages/{key}/history", response_model=list[StageRecordOut],
            responses=responses(401, 404), summary="阶段变更记录",
            description="某阶段的全部变更与监察记录：谁在何时改成了什么。")
def stage_history(code: str, key: str, app: App = Depends(get_app),
                  actor: Actor = Depends(requires(Action.READ))) -> list[dict[str, Any]]:
    with app.db.read() as session:
        return stages.history(session, app, View.of(app, actor), code, key)
