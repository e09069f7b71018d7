"""Builders of the messy spreadsheets bureaus actually send."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl


def supply_plan_xlsx(path: Path, rows: list[list[Any]], two_level: bool = True) -> Path:
    """Title rows, a two-level header with a merged 面积 over 公顷/亩, a total row and notes."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "供应计划"
    ws.append(["2026年度常德市国有建设用地供应计划"])
    ws.merge_cells("A1:H1")
    ws.append(["编制单位：常德市自然资源和规划局", None, None, None, None, None, None, "单位：公顷"])
    if two_level:
        ws.append(["序号", "项目 名称", "所在区县", "供应方式", "出让用途", "面积", None, "拟供地时间"])
        ws.append([None, None, None, None, None, "公顷", "亩", None])
        for col in "ABCDEH":
            ws.merge_cells(f"{col}3:{col}4")
        ws.merge_cells("F3:G3")
    else:
        ws.append(["序号", "项目名称", "行政区划", "供地方式", "土地用途", "面积（亩）", "备用", "拟供地时间"])
    for r in rows:
        ws.append(r)
    ws.append([])
    ws.append(["合计", None, None, None, None, sum(r[5] or 0 for r in rows if isinstance(r[5], int | float))])
    ws.append(["注：1. 面积以实测为准；2. 本表由土地利用科填报。"])
    wb.save(path)
    return path


GOOD_ROWS = [
    [1, "武陵区丹阳路以北地块住宅项目", "武陵区", "挂牌出让", "城镇住宅用地", 3.25, None, "2026年6月"],
    [2, "鼎城区灌溪工业园标准厂房项目", "430703", "挂牌", "工业用地", 6.8, None, dt.datetime(2026, 4, 1)],
    [3, "常德市第一中学扩建项目", "常德市武陵区", "划拨", "0804", 2.1, None, 46300],
]


def gbk_csv(path: Path, lines: list[str]) -> Path:
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    return path
