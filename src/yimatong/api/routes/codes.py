"""Codes: parse a code; the code tables and the stage catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import CodeOut, CodeTables, responses
from yimatong.core.context import Actor, App
from yimatong.domain.codes import parse_code
from yimatong.domain.policy import Action

router = APIRouter(prefix="/api/v1", tags=["项目码 Codes"])


@router.get("/codes/{code}", response_model=CodeOut, responses=responses(401, 422),
            summary="解析项目码",
            description="把 28 位项目码拆分为各段并给出代码表中的中文名称。仅解析：格式正确但未登记的码也返回 200；"
                        "格式错误返回 422，errors[0].field 为第一个出错的段。")
def get_code(code: str, app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    return parse_code(app.profile, code).as_dict()


@router.get("/code-tables", response_model=CodeTables, responses=responses(401),
            summary="代码表与阶段目录",
            description="项目码各编码段的代码表（行政区划、批准类型、项目类型、供地类型、出让用途、地区特色编码）"
                        "以及生命周期阶段目录（批供用补查登）。")
def code_tables(app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    profile = app.profile
    out: dict[str, Any] = {name: [{"value": e.value, "label": e.label} for e in entries]
                           for name, entries in profile.tables.items()}
    out["stages"] = [{"key": s.key, "name": s.name, "group": s.group} for s in profile.stages]
    return out
