"""Codes: parse a code; the code tables and the stage catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from yimatong.api.deps import get_app, requires
from yimatong.api.schemas import CodeOut, CodeTables, responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.codes import parse_code
from yimatong.domain.policy import Action
from yimatong.domain.profile import CodeEntry
from yimatong.storage.models import Project

router = APIRouter(prefix="/api/v1", tags=["项目码 Codes"])


@router.get("/codes/{code}", response_model=CodeOut, responses=responses(401, 422), response_model_exclude_unset=True,
            summary="解析项目码",
            description="把 28 位项目码拆分为各段并给出代码表中的中文名称。仅解析：格式正确但未登记的码也返回 200；"
                        "格式错误返回 422，errors[0].field 为第一个出错的段。已登记的码按其签发时的代码表版本解读"
                        "（如 2020 版的 1311 为“干渠”），未登记的码按现行版本；已停用的值仍可解析，段中给出 edition、"
                        "retired 与 replaced_by。")
def get_code(code: str, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    parse_code(app.profile, code)  # a malformed code is 422 before any lookup
    with app.db.read() as session:  # a registered code is read in its own edition
        edition = session.execute(select(Project.edition).where(Project.code == code,
                                                                View.of(app, actor).projects())).scalar()
    return parse_code(app.profile, code, edition).as_dict()


@router.get("/code-tables", response_model=CodeTables, responses=responses(401), response_model_exclude_unset=True,
            summary="代码表与阶段目录",
            description="项目码各编码段的代码表（行政区划、批准类型、项目类型、供地类型、出让用途、地区特色编码），"
                        "每项可带 edition（版本）、retired 与 replaced_by（已停用及替代值）、aliases（别名、简称、曾用名）、"
                        "internal（国标以外的代码，如统计用区划代码 430771）；出让用途含 2023 版用地用海分类的各级类"
                        "（level，仅二级类可写入项目码）；zones 为功能区；以及生命周期阶段目录（批供用补查登）。")
def code_tables(app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    profile = app.profile
    out: dict[str, Any] = {name: [table_entry(e) for e in entries] for name, entries in profile.tables.items()}
    out["zones"] = [{"value": z.value, "label": z.label, "division": z.division, "aliases": list(z.aliases)}
                    for z in profile.zones]
    out["stages"] = [{"key": s.key, "name": s.name, "group": s.group} for s in profile.stages]
    out["sections"] = [{"value": s.value, "label": s.label} for s in profile.sections]  # [joint] 会签科室
    return out


def table_entry(e: CodeEntry) -> dict[str, Any]:
    """An entry with only the facts it has (no nulls for what a table does not know)."""
    out: dict[str, Any] = {"value": e.value, "label": e.label}
    if e.edition:
        out["edition"] = e.edition
    if e.retired:
        out |= {"retired": True, "replaced_by": e.replaced_by}
    if e.aliases:
        out["aliases"] = list(e.aliases)
    if e.internal:
        out["internal"] = True
    if e.level is not None:
        out["level"] = e.level
    if e.parent:
        out["parent"] = e.parent
    if not e.in_code:
        out["in_code"] = False
    for key in ("group", "right_type_code"):
        if key in e.extra:
            out[key] = e.extra[key]
    return out
