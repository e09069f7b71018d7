"""The project library to Excel, streamed row by row (xlsxwriter's constant-memory mode, keyset batches from the
database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xlsxwriter

from yimatong.core.context import App, rfc3339
from yimatong.core.visibility import View
from yimatong.domain.enums import ProjectStatus
from yimatong.projects import listing as project_list
from yimatong.storage.models import Project

BATCH = 2000
PROJECT_COLUMNS = [("项目码", 30), ("项目名称", 36), ("状态", 8), ("行政区划", 12), ("年度", 7), ("批准类型", 10),
                   ("项目类型", 16), ("供地类型", 12), ("出让用途", 16), ("建设单位", 24), ("投资项目代码", 26),
                   ("用地面积（平方米）", 14), ("当前阶段", 14), ("码段过期", 8), ("来源", 20), ("更新时间", 22)]


def export_projects(app: App, view: View, path: Path, filters: project_list.ProjectFilter | None = None) -> int:
    """Stream the library into xlsx: a keyset batch at a time, constant memory in xlsxwriter."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("项目库")
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    for col, (name, width) in enumerate(PROJECT_COLUMNS):
        ws.write(0, col, name, head)
        ws.set_column(col, col, width)
    written, last = 0, 0
    while True:
        with app.db.read() as session:
            stmt = project_list.filtered(session, view, filters or project_list.ProjectFilter())
            rows = list(session.execute(stmt.where(Project.id > last).order_by(Project.id).limit(BATCH)).scalars())
            sources = project_list.sources_of(session, [p.id for p in rows])
        for p in rows:
            written += 1
            ws.write_row(written, 0, _project_row(app, p, sources.get(p.id, [])))
        if len(rows) < BATCH:
            break
        last = rows[-1].id
    wb.close()
    return written


def _project_row(app: App, p: Project, sources: list[Any]) -> list[Any]:
    prof = app.profile

    def lab(table: str, value: str) -> str:
        return f"{value} {prof.label(table, value) or ''}".strip()

    stage = prof.stage(p.current_stage)
    return [p.code, p.name, ProjectStatus.labels().get(p.status, p.status), lab("division", p.division), p.year,
            lab("approval_type", p.approval_type), lab("project_type", p.project_type),
            lab("supply_type", p.supply_type), lab("land_use", p.land_use), p.builder or "", p.investment_code or "",
            p.area_m2 if p.area_m2 is not None else "", stage.name if stage else p.current_stage,
            "是" if p.code_outdated else "否", "、".join(sorted({s.kind for s in sources})), rfc3339(p.updated_at)]


