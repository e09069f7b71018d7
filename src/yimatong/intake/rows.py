"""From raw rows to typed project attributes: find the header under title rows, understand two-level
(merged) headers and units, skip blank, total and note rows, read names or codes, Excel or text dates."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from yimatong.intake.columns import REQUIRED, SYNONYMS, HeaderMatch, match_header, normalize_header, unit_factor
from yimatong.intake.sheets import IntakeFileError, RawSheet, excel_serial_to_date

HEADER_SCAN = 15
INVESTMENT_CODE = re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}-\d{6}$")
LEVELS = {"国家": "national_key", "国家级": "national_key", "省": "province_key", "省级": "province_key",
          "市": "city_key", "市级": "city_key"}
TOTAL = re.compile(r"^(合计|小计|总计|累计)")
NOTE = re.compile(r"^(注|说明|备注|填表|制表|审核|附注)")


class CodeTables:
    """Code tables for reading values given as codes or names (e.g. 430702 or 武陵区 or 常德市武陵区)."""

    def __init__(self, tables: dict[str, list[tuple[str, str]]]) -> None:
        self.tables = tables
        self._norm = {name: [(v, _n(label)) for v, label in entries] for name, entries in tables.items()}

    def lookup(self, table: str, raw: Any) -> tuple[str | None, str | None]:
        """(value, None) when found, (None, reason) when not."""
        text = _n(raw)
        if isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))
        entries = self._norm.get(table, [])
        for value, label in entries:
            if text in (value, label):
                return value, None
        digits = re.match(r"^(\d+)", text)
        if digits and any(digits.group(1) == v for v, _ in entries):
            return digits.group(1), None
        contained = [(text.rfind(label) + len(label), len(label), v) for v, label in entries if label and label in text]
        if contained:
            contained.sort(reverse=True)  # the label ending last wins: 常德市武陵区 → 武陵区
            return contained[0][2], None
        containing = [v for v, label in entries if text and text in label]
        if len(containing) == 1:
            return containing[0], None
        if len(containing) > 1:
            return None, f"“{raw}”可对应多个代码，请写全称或代码"
        return None, f"“{raw}”不在代码表中"


def _n(value: Any) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", str(value if value is not None else ""))).replace(
        "（", "(").replace("）", ")")


@dataclass
class ParsedRow:
    row_no: int
    values: dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ParsedSheet:
    header_row: int
    columns: dict[str, str]
    unknown_columns: list[str]
    default_year: int | None
    rows: Iterator[ParsedRow]
    skipped: list[tuple[int, str]]


@dataclass
class _Header:
    row_no: int
    matches: dict[int, HeaderMatch]
    texts: dict[int, str]
    last_row: int


def parse_rows(sheet: RawSheet, kind: str, tables: CodeTables) -> ParsedSheet:
    head: list[tuple[int, list[Any]]] = []
    for item in sheet.rows:
        head.append(item)
        if len(head) >= HEADER_SCAN:
            break
    header = _find_header(head, kind)
    year = _title_year(head, header.row_no)
    skipped: list[tuple[int, str]] = []
    body = _chain(head[[r for r, _ in head].index(header.last_row) + 1:], sheet.rows)
    columns = {m.field: header.texts[i] for i, m in header.matches.items()}
    unknown = [t for i, t in header.texts.items() if i not in header.matches and t]
    rows = _rows(body, header, kind, tables, year, skipped)
    return ParsedSheet(header.row_no, columns, unknown, year, rows, skipped)


def _chain(first: list[tuple[int, list[Any]]], rest: Iterator[tuple[int, list[Any]]]
           ) -> Iterator[tuple[int, list[Any]]]:
    yield from first
    yield from rest


def _find_header(head: list[tuple[int, list[Any]]], kind: str) -> _Header:
    for idx, (row_no, cells) in enumerate(head):
        matches = {i: m for i, c in enumerate(cells) if (m := match_header(c))}
        fields = {m.field for m in matches.values()}
        if len(matches) >= 2 and ("name" in fields or "investment_code" in fields):
            header = _two_level(head, idx, matches)
            missing = [f for f in REQUIRED[kind] if f not in {m.field for m in header.matches.values()}]
            if missing:
                need = "、".join(SYNONYMS[f][0] for f in missing)
                raise IntakeFileError(f"第{row_no}行表头缺少必需的列：{need}")
            return header
    raise IntakeFileError(f"前 {HEADER_SCAN} 行中找不到表头（应含“项目名称”“行政区划”等列）")


def _two_level(head: list[tuple[int, list[Any]]], idx: int, matches: dict[int, HeaderMatch]) -> _Header:
    """A merged parent (e.g. 面积) over children (公顷 / 亩) or headers merged down over two rows."""
    row_no, cells = head[idx]
    texts = {i: normalize_header(c) for i, c in enumerate(cells) if c is not None}
    if idx + 1 >= len(head):
        return _Header(row_no, matches, texts, row_no)
    sub_no, sub = head[idx + 1]
    sub_texts = {i: normalize_header(c) for i, c in enumerate(sub) if c is not None and str(c).strip()}
    if not sub_texts or not all(_is_sub_header(t) for t in sub_texts.values()):
        return _Header(row_no, matches, texts, row_no)
    parent = ""
    merged: dict[int, HeaderMatch] = {}
    width = max(len(cells), len(sub))
    for i in range(width):
        top = texts.get(i)
        parent = top or parent
        child = sub_texts.get(i)
        label = top if child is None else (f"{parent}({child})" if _is_unit(child) else child)
        if label and (m := match_header(label)):
            merged[i] = m
            texts[i] = label
    return _Header(row_no, merged, texts, sub_no)


def _is_unit(text: str) -> bool:
    return unit_factor(text, "supply_plan") is not None and len(text) <= 5


def _is_sub_header(text: str) -> bool:
    return _is_unit(text) or match_header(text) is not None


def _title_year(head: list[tuple[int, list[Any]]], header_row: int) -> int | None:
    for row_no, cells in head:
        if row_no >= header_row:
            break
        for c in cells:
            m = re.search(r"(20\d{2})\s*年", str(c or ""))
            if m:
                return int(m.group(1))
    return None


def _rows(body: Iterator[tuple[int, list[Any]]], header: _Header, kind: str, tables: CodeTables,
          year: int | None, skipped: list[tuple[int, str]]) -> Iterator[ParsedRow]:
    for row_no, cells in body:
        reason = _skip_reason(cells)
        if reason:
            skipped.append((row_no, reason))
            continue
        yield _parse(row_no, cells, header, kind, tables, year)


def _skip_reason(cells: list[Any]) -> str | None:
    filled = [str(c).strip() for c in cells if c is not None and str(c).strip()]
    if not filled:
        return "空行"
    first = unicodedata.normalize("NFKC", filled[0]).replace(" ", "")
    if any(TOTAL.match(unicodedata.normalize("NFKC", v).replace(" ", "")) for v in filled[:2]):
        return "合计行"
    if NOTE.match(first) or (len(filled) == 1 and len(first) > 8):
        return "注释行"
    return None


def _parse(row_no: int, cells: list[Any], header: _Header, kind: str, tables: CodeTables,
           year: int | None) -> ParsedRow:
    row = ParsedRow(row_no, {})
    for i, match in header.matches.items():
        raw = cells[i] if i < len(cells) else None
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        column = header.texts[i]
        try:
            _read(row, match, raw, kind, tables)
        except _CellError as exc:
            row.errors.append((column, exc.message))
    _finish(row, header, kind, year)
    return row


class _CellError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _read(row: ParsedRow, match: HeaderMatch, raw: Any, kind: str, tables: CodeTables) -> None:
    f = match.field
    if f in ("name", "builder", "location", "content"):
        row.values[f] = re.sub(r"\s+", " ", str(raw)).strip()[:200]
    elif f == "division":
        row.values[f] = _code(tables, "division", raw)
    elif f in ("supply_type", "land_use", "approval_type", "project_type"):
        row.values[f] = _code(tables, f, raw)
    elif f == "year":
        row.values[f] = _year(raw)
    elif f == "area":
        factor = unit_factor(match.unit, kind)
        if factor is None:
            raise _CellError(f"无法识别面积单位“{match.unit}”")
        row.values["area_m2"] = round(_number(raw) * factor, 2)
    elif f == "total_investment":
        row.values[f] = _number(raw)
    elif f in ("planned_date", "approval_date"):
        row.values[f] = _date(raw)
    elif f == "investment_code":
        code = unicodedata.normalize("NFKC", str(raw)).strip()
        if not INVESTMENT_CODE.match(code):
            raise _CellError(f"投资项目代码“{raw}”格式应为 YYYY-XXXXXX-XX-XX-XXXXXX（24 位）")
        row.values[f] = code
    elif f == "level":
        level = LEVELS.get(_n(raw).removesuffix("重点").removesuffix("重点项目"))
        if level is None:
            raise _CellError(f"项目级别“{raw}”应为 国家、省 或 市")
        row.values["source_kind"] = level


def _code(tables: CodeTables, table: str, raw: Any) -> str:
    value, reason = tables.lookup(table, raw)
    if value is None:
        raise _CellError(reason or "无法识别")
    return value


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise _CellError("应为数字")
    if isinstance(raw, int | float):
        return float(raw)
    text = unicodedata.normalize("NFKC", str(raw)).replace(",", "").replace("约", "").strip()
    try:
        value = float(text)
    except ValueError:
        raise _CellError(f"“{raw}”不是数字") from None
    if value < 0:
        raise _CellError("不能为负数")
    return value


def _year(raw: Any) -> int:
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    m = re.match(r"^(\d{4})(\.0)?\s*年?(度)?$", text)
    if not m or not 2000 <= int(m.group(1)) <= 2099:
        raise _CellError(f"年度“{raw}”应为 2000–2099 的四位年份")
    return int(m.group(1))


QUARTER = re.compile(r"^(\d{4})年?第?([一二三四1234])季度?$")


def _date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, int | float) and 20000 < raw < 80000:
        return excel_serial_to_date(raw)
    text = unicodedata.normalize("NFKC", str(raw)).strip().replace(" ", "")
    q = QUARTER.match(text)
    if q:
        n = "一二三四".find(q.group(2)) + 1 or int(q.group(2))
        return dt.date(int(q.group(1)), 3 * n - 2, 1)
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})(?:[-/.月](\d{1,2})日?)?月?$", text)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
        except ValueError:
            pass
    raise _CellError(f"无法识别日期“{raw}”")


def _finish(row: ParsedRow, header: _Header, kind: str, year: int | None) -> None:
    if not row.values.get("name") and not any(c == "名称" for c, _ in row.errors):
        row.errors.append((_col(header, "name"), "项目名称为空"))
    if "division" not in row.values and not any(c == _col(header, "division") for c, _ in row.errors):
        row.errors.append((_col(header, "division"), "行政区划为空"))
    if "year" not in row.values:
        default = year or (row.values["planned_date"].year if row.values.get("planned_date") else None)
        if default is None and row.values.get("approval_date"):
            default = row.values["approval_date"].year
        if default is None:
            row.errors.append(("年度", "缺少年度：表中无年度列，标题中也没有“20XX年”"))
        else:
            row.values["year"] = default
    if kind == "investment_platform" and "investment_code" not in row.values and not row.errors:
        row.errors.append((_col(header, "investment_code"), "投资项目代码为空"))


def _col(header: _Header, field_name: str) -> str:
    return next((header.texts[i] for i, m in header.matches.items() if m.field == field_name), field_name)
