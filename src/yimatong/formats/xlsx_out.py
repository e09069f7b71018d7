"""Exported tables that people like to open in Excel or WPS: a title row saying what was exported with which
filter and when (local time), a frozen header row with an autofilter, column widths, and typed cells — dates are
Excel dates, times local Excel times, numbers numbers — never text that looks like one.

Streamed (xlsxwriter's constant-memory mode): rows are written in order and forgotten, so a 100 000-row export
costs the memory of one row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import xlsxwriter

Kind = Literal["text", "int", "real", "date", "datetime"]
HEADER_ROW = 1  # row 0 is the title row
FORMATS: dict[str, dict[str, Any]] = {"int": {"num_format": "0"}, "real": {"num_format": "#,##0.00"},
                                      "date": {"num_format": "yyyy-mm-dd"},
                                      "datetime": {"num_format": "yyyy-mm-dd hh:mm:ss"}, "text": {}}


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    kind: Kind = "text"


def filter_text(filters: dict[str, str], labels: dict[str, str]) -> str:
    """`筛选：区县=武陵区；年度=2026` for the title row, or `筛选：全部` without a filter."""
    parts = [f"{labels.get(k, k)}={v}" for k, v in filters.items() if v]
    return "筛选：" + ("；".join(parts) if parts else "全部")


class Table:
    """One sheet: call `row()` for each record in order, then `close()`; returns the rows written."""

    def __init__(self, path: str, sheet: str, title: str, filters: str, columns: Sequence[Column], tz: ZoneInfo,
                 now: dt.datetime | None = None, header_color: str = "#DDEBF7") -> None:
        self.book = xlsxwriter.Workbook(path, {"constant_memory": True, "remove_timezone": True})
        self.ws = self.book.add_worksheet(sheet)
        self.columns, self.tz, self.rows = list(columns), tz, 0
        self.formats = {k: self.book.add_format(v) for k, v in FORMATS.items()}
        at = (now or dt.datetime.now(dt.UTC)).astimezone(tz)
        title_fmt = self.book.add_format({"bold": True, "font_size": 12})
        self.ws.write_string(0, 0, f"{title}　{filters}　导出时间：{at:%Y-%m-%d %H:%M:%S}（{_zone_name(tz)}）",
                             title_fmt)
        head = self.book.add_format({"bold": True, "bg_color": header_color, "border": 1, "text_wrap": True})
        for c, col in enumerate(self.columns):
            self.ws.set_column(c, c, col.width)
            self.ws.write_string(HEADER_ROW, c, col.title, head)
        self.ws.freeze_panes(HEADER_ROW + 1, 0)

    def row(self, values: Sequence[Any]) -> None:
        r = HEADER_ROW + 1 + self.rows
        for c, (col, value) in enumerate(zip(self.columns, values, strict=True)):
            self._cell(r, c, col.kind, value)
        self.rows += 1

    def rows_from(self, records: Iterable[Sequence[Any]]) -> None:
        for values in records:
            self.row(values)

    def _cell(self, r: int, c: int, kind: Kind, value: Any) -> None:
        if value is None or value == "":
            self.ws.write_blank(r, c, None)
        elif kind == "date":
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
            self.ws.write_datetime(r, c, dt.datetime.combine(day, dt.time()), self.formats["date"])
        elif kind == "datetime":
            at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            local = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(self.tz).replace(tzinfo=None, microsecond=0)
            self.ws.write_datetime(r, c, local, self.formats["datetime"])
        elif kind in ("int", "real"):
            self.ws.write_number(r, c, float(value), self.formats[kind])
        else:
            self.ws.write_string(r, c, str(value))

    def close(self) -> int:
        last = HEADER_ROW + max(self.rows, 1)
        self.ws.autofilter(HEADER_ROW, 0, last, len(self.columns) - 1)
        self.book.close()
        return self.rows


def _zone_name(tz: ZoneInfo) -> str:
    return "北京时间" if tz.key in ("Asia/Shanghai", "Asia/Chongqing", "PRC") else tz.key
