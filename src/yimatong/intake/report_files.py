"""Import reports as people get them: capped in API answers (a file of 300 000 bad rows once gave a 58.6 MB
answer), whole in a file for the CLI (`ymt import … --report FILE.json|.xlsx`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xlsxwriter

KIND_SHEETS = {"taken": "新登记", "merged": "合并", "review": "待复核", "refused": "被拒", "skipped": "跳过",
               "warnings": "提示"}
COLUMN_LABELS = {"row": "行号", "column": "列", "field": "字段", "reason": "原因", "code": "项目码", "name": "名称",
                 "candidate_code": "候选项目码", "score": "相似度", "review_id": "复核号", "parcel_id": "地块编号",
                 "kind": "类型", "detail": "说明", "area_m2": "面积（平方米）", "area_mu": "面积（亩）",
                 "area_ha": "面积（公顷）"}


def cap(report: dict[str, Any], rows: int) -> dict[str, Any]:
    """The report with at most `rows` items of each kind; `counts` stay complete and `truncated` says what was
    left out (per kind, the number of items not listed)."""
    out = dict(report)
    omitted = {k: len(v) - rows for k, v in report.items() if isinstance(v, list) and len(v) > rows}
    for k in omitted:
        out[k] = report[k][:rows]
    if omitted:
        out["truncated"] = {"limit": rows, "omitted": omitted,
                            "note": f"每类只列出前 {rows} 条；完整报告请用命令行 ymt import … --report 文件 导出"}
    return out


def write_report(report: dict[str, Any], path: Path) -> None:
    """The whole report: JSON as the API gives it (uncapped), or an xlsx with a summary sheet and a sheet per kind."""
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        return
    with xlsxwriter.Workbook(str(path), {"constant_memory": True}) as wb:
        summary = wb.add_worksheet("汇总")
        summary.write_row(0, 0, ["文件", str(report.get("filename", ""))])
        for i, (k, v) in enumerate((report.get("counts") or {}).items(), start=1):
            summary.write_row(i, 0, [KIND_SHEETS.get(k, {"rows": "总行数", "unchanged": "无变化"}.get(k, k)), v])
        for kind, label in KIND_SHEETS.items():
            items = report.get(kind) or []
            if not items:
                continue
            _sheet(wb.add_worksheet(label), items)


def _sheet(ws: Any, items: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for item in items[:1000]:  # the columns: those of the first rows, in order
        keys += [k for k in item if k not in keys]
    ws.write_row(0, 0, [COLUMN_LABELS.get(k, k) for k in keys])
    for r, item in enumerate(items, start=1):
        ws.write_row(r, 0, [_cell(item.get(k)) for k in keys])


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
