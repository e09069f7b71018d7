"""The project library to Excel, streamed row by row (formats.xlsx_out: title row with the filter and the export
time, frozen header, autofilter, typed cells; keyset batches from the database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yimatong.core.context import App
from yimatong.core.visibility import View
from yimatong.domain import codes
from yimatong.domain.enums import ProjectStatus
from yimatong.formats.xlsx_out import Column, Table, filter_text
from yimatong.projects import listing as project_list
from yimatong.storage.models import Project

BATCH = 2000
PROJECT_COLUMNS = [Column("项目码", 30), Column("项目名称", 36), Column("状态", 8), Column("行政区划", 12),
                   Column("功能区", 18), Column("年度", 7, "int"), Column("批准类型", 10), Column("项目类型", 16),
                   Column("供地类型", 12), Column("出让用途", 20), Column("建设单位", 24), Column("投资项目代码", 26),
                   Column("用地面积（平方米）", 14, "real"), Column("用地面积（亩）", 12, "real"),
                   Column("当前阶段", 14), Column("码段过期", 8), Column("来源", 20),
                   Column("登记时间", 20, "datetime"), Column("更新时间", 20, "datetime")]
M2_PER_MU = 10_000 / 15  # 1 亩 = 1/15 公顷


def shown_filter(app: App, f: project_list.ProjectFilter) -> dict[str, str]:
    """The filter in words (labels, not codes) for the title row."""
    prof = app.profile
    stage, zone = prof.stage(f.stage) if f.stage else None, prof.zone(f.zone) if f.zone else None
    return {"关键字": f.q or "", "行政区划": (prof.label("division", f.division) or f.division) if f.division else "",
            "功能区": zone.label if zone else (f.zone or ""), "年度": str(f.year or ""),
            "当前阶段": stage.name if stage else (f.stage or ""),
            "状态": ProjectStatus.labels().get(f.status, f.status) if f.status else "", "来源": f.source or "",
            "更新自": f.updated_since.isoformat() if f.updated_since else ""}


def export_projects(app: App, view: View, path: Path, filters: project_list.ProjectFilter | None = None) -> int:
    """Stream the library into xlsx: a keyset batch at a time, constant memory in xlsxwriter."""
    f = filters or project_list.ProjectFilter()
    table = Table(str(path), "项目库", f"{app.profile.city}项目库", filter_text(shown_filter(app, f), {}),
                  PROJECT_COLUMNS, app.profile.tz)
    last = 0
    while True:
        with app.db.read() as session:
            stmt = project_list.filtered(session, view, f)
            rows = list(session.execute(stmt.where(Project.id > last).order_by(Project.id).limit(BATCH)).scalars())
            sources = project_list.sources_of(session, [p.id for p in rows])
        for p in rows:
            table.row(_project_row(app, p, sources.get(p.id, [])))
        if len(rows) < BATCH:
            break
        last = rows[-1].id
    return table.close()


def _project_row(app: App, p: Project, sources: list[Any]) -> list[Any]:
    prof = app.profile

    def lab(table: str, value: str) -> str:
        return f"{value} {prof.label(table, value) or ''}".strip()

    stage = prof.stage(p.current_stage)
    zone = prof.zone(p.zone) if p.zone else None
    return [p.code, p.name, ProjectStatus.labels().get(p.status, p.status), lab("division", p.division),
            zone.label if zone else "",
            p.year, lab("approval_type", p.approval_type), lab("project_type", p.project_type),
            lab("supply_type", p.supply_type), codes.attribute_text(prof, "land_use", p.land_use, p.code, p.edition),
            p.builder or "", p.investment_code or "", p.area_m2,
            round(p.area_m2 / M2_PER_MU, 4) if p.area_m2 is not None else None,
            stage.name if stage else p.current_stage, "是" if p.code_outdated else "否",
            "、".join(sorted({s.kind for s in sources})), p.created_at, p.updated_at]
