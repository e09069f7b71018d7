"""The Chinese import templates: one sheet per source list with drop-downs fed by the code tables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import xlsxwriter

from yimatong.core.context import App
from yimatong.errors import invalid
from yimatong.intake.columns import KIND_LABELS, KINDS
from yimatong.intake.template_fields import LEVEL_CHOICES, TEMPLATES


def write_template(app: App, kind: str, path: Path) -> None:
    if kind not in KINDS:
        raise invalid("kind", f"模板类型应为 {', '.join(KINDS)}")
    fields = TEMPLATES[kind]
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(re.sub(r"[][:*?/\\]", "·", KIND_LABELS[kind])[:28])  # Excel forbids / in sheet names
    codes = wb.add_worksheet("代码表")
    notes = wb.add_worksheet("填写说明")
    title = wb.add_format({"bold": True, "font_size": 14, "align": "center"})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "align": "center"})
    ws.merge_range(0, 0, 0, len(fields) - 1, f"{app.profile.city}{KIND_LABELS[kind]}（模板）", title)
    lists = _code_sheet(app, codes)
    for col, f in enumerate(fields):
        ws.write(1, col, ("*" if f.required else "") + f.header, head)
        ws.write_comment(1, col, f.note)
        ws.set_column(col, col, max(12, len(f.header) * 2 + 4))
        if f.table == "level":
            ws.data_validation(2, col, 5000, col, {"validate": "list", "source": LEVEL_CHOICES})
        elif f.table:
            ws.data_validation(2, col, 5000, col, {"validate": "list", "source": lists[f.table],
                                                   "error_message": "请从下拉列表选择"})
    notes.write(0, 0, "列", head)
    notes.write(0, 1, "填写说明", head)
    for i, f in enumerate(fields, start=1):
        notes.write(i, 0, f.header)
        notes.write(i, 1, ("必填。" if f.required else "") + f.note)
    notes.set_column(0, 0, 20)
    notes.set_column(1, 1, 60)
    codes.hide()
    wb.close()


def _code_sheet(app: App, ws: Any) -> dict[str, str]:
    """One column per code table on a hidden sheet; the drop-downs offer the labels of the values a code may be
    issued with now (no retired values, no first- or third-level classes), which the importer reads."""
    refs = {}
    columns: dict[str, list[str]] = {t: [e.label for e in app.profile.issuable(t)]
                                     for t in ("division", "approval_type", "project_type", "supply_type", "land_use")}
    columns["zone"] = [z.label for z in app.profile.zones]
    for col, (table, labels) in enumerate(columns.items()):
        ws.write(0, col, table)
        for row, label in enumerate(labels, start=1):
            ws.write(row, col, label)
        letter = xlsxwriter.utility.xl_col_to_name(col)
        refs[table] = f"=代码表!${letter}$2:${letter}${max(len(labels), 1) + 1}"
    return refs
