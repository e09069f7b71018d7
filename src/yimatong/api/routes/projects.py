"""Projects (项目列表接口): register and issue codes, list, read, change, void, merge, split."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import (
    MergeIn,
    ProjectIn,
    ProjectOut,
    ProjectPage,
    ProjectPatch,
    SplitIn,
    VoidIn,
    responses,
)
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.errors import invalid
from yimatong.formats import geometry_check
from yimatong.parcels import store as parcels
from yimatong.projects import listing as project_list
from yimatong.projects import registry
from yimatong.uow import Idempotency, run, run_idempotent

router = APIRouter(prefix="/api/v1", tags=["项目 Projects"])


@router.post("/projects", status_code=201, response_model=ProjectOut,
             responses=responses(400, 401, 403, 409, 413, 422), summary="登记项目并赋码",
             description="登记一个项目并原子地签发 28 位项目码（计数器、项目记录与台账事件同一事务提交）。"
                         "投资项目代码已登记时返回 409，并在 existing_code 中给出已有项目码。"
                         "支持 Idempotency-Key：同键同内容重放首次响应，同键不同内容返回 409。")
def register_project(body: ProjectIn, app: App = Depends(get_app),
                     actor: Actor = Depends(requires(Action.PROJECT_REGISTER)),
                     idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    data = body.model_dump()
    data["year"] = data["year"] or dt.date.today().year
    geoms = parcels.parse_features(data.pop("parcels"),  # validated before the transaction opens
                                   budget=geometry_check.budget_of(app.settings))
    idem = Idempotency(idempotency_key, "projects.register", body.model_dump(mode="json"))
    status, out = run_idempotent(app, actor, idem, lambda uow: (201, parcels.register_with_parcels(
        uow, data, list(zip(geoms, body.parcels, strict=True)))))
    return JSONResponse(out, status_code=status)


@router.get("/projects", response_model=ProjectPage, responses=responses(401, 422), summary="项目列表",
            description="按行政区划、年度、当前阶段、状态、来源、关键字（名称或项目码）、空间范围、更新时间筛选；"
                        "游标分页（keyset），并发新增时逐页遍历不重不漏。")
def list_projects(
    app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ)),
    division: str | None = Query(None, description="行政区划代码"),
    year: int | None = Query(None, ge=1, le=9999, description="年度"),
    stage: str | None = Query(None, description="当前阶段 key"),
    status: str | None = Query(None, pattern="^(active|void|merged)$", description="状态"),
    source: str | None = Query(None, description="来源类别"),
    q: str | None = Query(None, max_length=200, description="名称或项目码片段；也可给出完整的交叉引用号（投资项目代码、电子监管号、不动产单元号、批准文号、证书号）"),
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat：地块与之相交的项目"),
    updated_since: str | None = Query(None, description="RFC 3339 时间（带时区）：此后更新的项目",
                                      json_schema_extra={"format": "date-time"}),
    limit: int = Query(50, ge=1, le=1000, description="每页条数，1–1000"),
    cursor: str | None = Query(None, description="上一页返回的 next_cursor"),
) -> dict[str, Any]:
    if stage is not None and app.profile.stage(stage) is None:
        raise invalid("stage", f"未知阶段 {stage!r}")
    f = project_list.ProjectFilter(division=division, year=year, stage=stage, status=status, source=source, q=q,
                                   bbox=project_list.parse_bbox(bbox),
                                   updated_since=parse_rfc3339(updated_since, "updated_since"))
    with app.db.read() as session:
        return project_list.page(session, View.of(app, actor), f, limit, cursor)


def parse_rfc3339(text: str | None, field: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or "T" not in text.upper():
        raise invalid(field, f"{field} 应为带时区的 RFC 3339 时间，如 2026-01-01T00:00:00+08:00")
    return value


@router.get("/projects/{code}", response_model=ProjectOut, responses=responses(401, 404),
            summary="按项目码查询项目",
            description="返回项目当前属性；已合并的项目码返回被合并项目本身，merged_into 指向保留项目。")
def get_project(code: str, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))
                ) -> dict[str, Any]:
    with app.db.read() as session:
        return registry.project_dict(session, registry.get(session, code, View.of(app, actor)))


@router.patch("/projects/{code}", response_model=ProjectOut, responses=responses(400, 401, 403, 404, 409, 422),
              summary="修改项目属性",
              description="修改项目属性，项目码永不改变；编码属性与码不一致时 code_outdated 置为 true。")
def patch_project(code: str, body: ProjectPatch, app: App = Depends(get_app),
                  actor: Actor = Depends(requires(Action.PROJECT_UPDATE))) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "division", "year", "approval_type", "project_type", "supply_type", "land_use"):
        if key in changes and changes[key] is None:
            raise invalid(key, f"{key} 不能为空")
    return run(app, actor, lambda uow: registry.project_dict(uow.session, registry.update(uow, code, changes)))


@router.post("/projects/{code}/void", response_model=ProjectOut, responses=responses(400, 401, 403, 404, 409, 422),
             summary="作废项目码", description="作废错误签发的项目码（须给出原因）；作废的码不再复用。")
def void_project(code: str, body: VoidIn, app: App = Depends(get_app),
                 actor: Actor = Depends(requires(Action.PROJECT_VOID))) -> dict[str, Any]:
    return run(app, actor, lambda uow: registry.project_dict(uow.session, registry.void(uow, code, body.reason)))


@router.post("/projects/{code}/merge", response_model=ProjectOut,
             responses=responses(400, 401, 403, 404, 409, 422), summary="合并项目码",
             description="同一项目有两个码时合并：被合并的码指向保留的码（into），其来源与交叉引用并入保留项目。")
def merge_project(code: str, body: MergeIn, app: App = Depends(get_app),
                  actor: Actor = Depends(requires(Action.PROJECT_MERGE))) -> dict[str, Any]:
    return run(app, actor, lambda uow: registry.project_dict(
        uow.session, registry.merge(uow, code, body.into, body.reason)))


@router.post("/projects/{code}/split", status_code=201, response_model=list[ProjectOut],
             responses=responses(400, 401, 403, 404, 409, 422), summary="拆分项目",
             description="项目拆分为多个：为每个子项目签发新码，并以 parent_code 关联原项目。")
def split_project(code: str, body: SplitIn, app: App = Depends(get_app),
                  actor: Actor = Depends(requires(Action.PROJECT_SPLIT))) -> list[dict[str, Any]]:
    parts = [p.model_dump(exclude_none=True) for p in body.parts]
    return run(app, actor, lambda uow: [registry.project_dict(uow.session, c)
                                        for c in registry.split(uow, code, parts, body.reason)])
