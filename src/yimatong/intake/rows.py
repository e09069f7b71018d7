"""From raw rows to typed project attributes: find the header under title rows, understand two-level
(merged) headers and units, skip blank, total and note rows, read names or codes, Excel or text dates."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from yimatong.domain import refs
from yimatong.domain.profile import CodeEntry, Profile
from yimatong.intake.columns import REQUIRED, SYNONYMS, HeaderMatch, match_header, normalize_header, unit_factor
from yimatong.intake.sheets import IntakeFileError, RawSheet, excel_serial_to_date

HEADER_SCAN = 15
LEVELS = {"国家": "national_key", "国家级": "national_key", "省": "province_key", "省级": "province_key",
          "市": "city_key", "市级": "city_key"}
TOTAL = re.compile(r"^(合计|小计|总计|累计)")
NOTE = re.compile(r"^(注|说明|备注|填表|制表|审核|附注)")


class CodeTables:
    """The profile's code tables as a source list's cells name them: codes, labels, aliases (常德经开区, 招拍挂),
    names with their parents (常德市武陵区). A cell is never matched across editions or by a guess: digits and a
    name must agree; a land-use cell is read in the one edition its column is declared in (`land_use`)."""

    def __init__(self, profile: Profile, today: dt.date) -> None:
        self.profile = profile
        self.today = today
        self.city = refs.city_of(profile)
        self._names: dict[str, dict[str, set[str]]] = {}  # table → normalised name → values
        for table in profile.tables:
            names: dict[str, set[str]] = {}
            for e in profile.tables[table]:
                if e.retired:
                    continue
                for name in (e.label, *e.aliases):
                    names.setdefault(_n(name), set()).add(e.value)
            self._names[table] = names
        self._zones: dict[str, str] = {}
        for z in profile.zones:
            for name in (z.label, *z.aliases):
                self._zones[_n(name)] = z.value

    def lookup(self, table: str, raw: Any) -> tuple[str | None, str | None]:
        """(value, None) when found, (None, reason) when not."""
        text = _cell_text(raw, self._widths(table))
        entries = {e.value for e in self.profile.issuable(table)}
        if text in entries:
            return text, None
        exact = [v for v in self._names.get(table, {}).get(text, set()) if v in entries]
        if len(exact) == 1:
            return exact[0], None
        code, name = _split_code(text)
        if code and name:
            return self._agree(table, raw, code, name, entries)
        contained = self._contained(table, text, entries)
        if len(contained) == 1:
            return contained[0], None
        if len(contained) > 1:
            return None, f"“{raw}”可对应多个代码，请写全称或代码"
        containing = [v for v in entries if text and any(text in n for n in self._labels(table, v))]
        if len(containing) == 1:
            return containing[0], None
        if len(containing) > 1:
            return None, f"“{raw}”可对应多个代码，请写全称或代码"
        return None, f"“{raw}”不在代码表中"

    def _widths(self, table: str) -> tuple[int, ...]:
        return tuple(sorted({len(e.value) for e in self.profile.tables.get(table, []) if e.value.isdigit()}))

    def _labels(self, table: str, value: str) -> list[str]:
        return [n for n, values in self._names.get(table, {}).items() if value in values]

    def _agree(self, table: str, raw: Any, code: str, name: str, entries: set[str]) -> tuple[str | None, str | None]:
        """`23挂牌出让`: the code and the name must be the same entry."""
        if code not in entries:
            return None, f"“{raw}”：代码 {code} 不在代码表中"
        if code not in self._names.get(table, {}).get(name, set()):
            return None, f"“{raw}”：代码 {code} 为“{self.profile.label(table, code)}”，与名称“{name}”不一致"
        return code, None

    def _contained(self, table: str, text: str, entries: set[str]) -> list[str]:
        """Values whose names occur in the text; a name inside a longer matched one does not count (协议出让
        holds 出让), nor an ancestor before its child (常德市武陵区)."""
        found = [(name, v) for name, values in self._names.get(table, {}).items() if name and name in text
                 for v in values if v in entries]
        found = [(n, v) for n, v in found if not any(n != m and n in m for m, _ in found)]
        values = sorted({v for _, v in found})
        parents = {self.profile.entry(table, v).parent for v in values}  # type: ignore[union-attr]
        return [v for v in values if v not in parents]

    def division(self, raw: Any) -> tuple[str | None, str | None, str | None]:
        """(division, zone, None) or (None, None, reason): a division, or a functional zone and its division."""
        text = _cell_text(raw, (6,))
        zone = self._zones.get(text) or self._zone_in(text)
        if zone == "":
            return None, None, f"“{raw}”含两个以上功能区的名称"
        value, reason = self.lookup("division", raw)
        if zone is None:
            return value, None, reason
        home = self.profile.zone(zone).division  # type: ignore[union-attr]
        if value is not None and value != home and value != self.profile.entry("division", home).parent:  # type: ignore[union-attr]
            label = self.profile.zone(zone).label  # type: ignore[union-attr]
            return None, None, f"“{raw}”：{label}属于{self.profile.label('division', home)}，与所写区县不符"
        return home, zone, None

    def _zone_in(self, text: str) -> str | None:
        """The one zone whose name occurs in the text ("" when names of two zones do)."""
        found = {z for name, z in self._zones.items() if name and name in text}
        return found.pop() if len(found) == 1 else ("" if found else None)

    def zone(self, raw: Any) -> tuple[str | None, str | None]:
        text = _cell_text(raw, ())
        zone = self._zones.get(text) or self._zone_in(text)
        if zone:
            return zone, None
        known = "、".join(z.label for z in self.profile.zones)
        return None, f"“{raw}”不是功能区（可写：{known}）"

    def land_use(self, raw: Any, edition: str) -> LandUse:
        """A land-use cell read in one edition (see `read_land_use`)."""
        return read_land_use(self.profile, raw, edition)


@dataclass(frozen=True)
class LandUse:
    """What a land-use cell says in its edition: the segment value (4-digit second level), a finer class kept
    beside the code (`detail`), or why it cannot be read without a person (`reason`)."""

    value: str | None
    detail: str | None = None
    reason: str | None = None


SEPARATORS = re.compile(r"[、，,/;；+&|]")
CODE_FIRST = re.compile(r"^(\d{2}(?:[\dH]\d(?:\d{2})?)?)[\s\-.、:：]*(.*)$")
CODE_LAST = re.compile(r"^(.*?)\((\d{2}(?:[\dH]\d(?:\d{2})?)?)\)$")


def _cell_text(raw: Any, widths: tuple[int, ...]) -> str:
    """Normalised text of a cell; a number cell lost its leading zeros in Excel (0701 → 701): they are put back
    to the table's code width."""
    if isinstance(raw, bool):
        return _n(raw)
    if isinstance(raw, int | float) and float(raw).is_integer():
        digits = str(int(raw))
        width = next((w for w in widths if w >= len(digits)), len(digits))
        return digits.zfill(width)
    text = _n(raw)
    return text[:2] + "H" + text[3:] if re.match(r"^\d{2}h\d", text) else text  # 05h1 → 05H1 (三调 codes)


def _split_code(text: str) -> tuple[str | None, str | None]:
    """`0601工业用地` → (0601, 工业用地); `工业用地(0601)` → (0601, 工业用地); a name or a code alone."""
    m = CODE_LAST.match(text)
    if m and m.group(1):
        return m.group(2), m.group(1)
    m = CODE_FIRST.match(text)
    if m:
        return m.group(1), (m.group(2) or None)
    return None, text or None


def read_land_use(profile: Profile, raw: Any, edition: str) -> LandUse:
    """Read a land-use cell in `edition` (a key of the profile's `intake.land_use_editions`). Never across
    editions, never a guess: a code and a name that are not the same class, a mixed use, a class of the first
    level, or a GB/T 21010 class whose mapping to the current edition is not one-to-one give a reason instead."""
    spec = profile.intake.land_use_editions[edition]
    text = _cell_text(raw, (2, 4, 6))
    if SEPARATORS.search(text) and len([p for p in SEPARATORS.split(text) if p]) > 1:
        return LandUse(None, reason=f"“{raw}”是混合用途：项目码只能写一个二级类，须人工确定主用途（或拆分项目），"
                                    f"不自动选取")
    code, name = _split_code(text)
    entry = _entry_of(profile, spec.table, code, name)
    if isinstance(entry, str):
        return LandUse(None, reason=_why_not(profile, raw, spec, entry, code, name))
    if spec.map is None:
        return _in_segment(profile, spec.table, entry, raw)
    return _mapped(profile, spec, entry, raw)


def _entry_of(profile: Profile, table: str, code: str | None, name: str | None) -> CodeEntry | str:
    """The current entry the cell names, or a short reason key: unknown_code, unknown_name, disagree."""
    by_code = profile.entry(table, code) if code else None
    if code and (by_code is None or by_code.retired):
        return "unknown_code"
    by_name = _named(profile, table, name) if name else None
    if name and by_name is None:
        return "unknown_name"
    if by_code is not None and by_name is not None and by_code.value != by_name.value:
        # 留白用地 names both the first-level class 16 and the code value 1600: the same class
        if by_name.parent != by_code.value or by_name.label != by_code.label:
            return "disagree"
        by_name = by_code
    found = by_code or by_name
    return found if found is not None else "unknown_name"


def _named(profile: Profile, table: str, name: str) -> CodeEntry | None:
    """The current entry whose label or alias is the name (or the name + 用地, as plans shorten 工业用地 to
    工业); the segment-level one where a first-level class has its 00 twin (留白用地 16/1600)."""
    index = _name_index(profile, table)
    found = list({id(e): e for e in index.get(name, []) + index.get(name + "用地", [])}.values())
    if len(found) > 1:
        found = [e for e in found if e.in_code] or found
    return found[0] if len(found) == 1 else None


_INDEXES: dict[tuple[int, str], tuple[Profile, dict[str, list[CodeEntry]]]] = {}


def _name_index(profile: Profile, table: str) -> dict[str, list[CodeEntry]]:
    """Normalised names → current entries of a table, built once per profile (a year's plan reads 100 000
    cells)."""
    key = (id(profile), table)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0] is profile:
        return cached[1]
    index: dict[str, list[CodeEntry]] = {}
    for e in profile.tables.get(table, []):
        if not e.retired:
            for name in dict.fromkeys(_n(n) for n in (e.label, *e.aliases)):
                index.setdefault(name, []).append(e)
    _INDEXES[key] = (profile, index)
    return index


def _in_segment(profile: Profile, table: str, entry: CodeEntry, raw: Any) -> LandUse:
    if entry.in_code:
        return LandUse(entry.value)
    parent = profile.entry(table, entry.parent) if entry.parent else None
    if parent is not None and parent.in_code and (entry.level or 0) > (parent.level or 0):
        return LandUse(parent.value, detail=entry.value)  # a third-level class: the code takes its second level
    twin = next((e for e in profile.tables[table] if e.in_code and not e.retired and e.parent == entry.value
                 and e.label == entry.label), None)
    if twin is not None:
        return LandUse(twin.value)  # a first-level class without second-level classes (16 → 1600)
    return LandUse(None, reason=f"“{raw}”是一级类“{entry.value} {entry.label}”：项目码须写到二级类（4 位），请写明具体用途")


def _mapped(profile: Profile, spec: Any, entry: CodeEntry, raw: Any) -> LandUse:
    """A GB/T 21010 class through the mapping into the current edition: only one-to-one rows apply."""
    target = profile.mappings[spec.map].get(entry.value)
    seg_table = profile.intake.land_use_editions[profile.intake.land_use_default or ""].table \
        if profile.intake.land_use_default else "land_use"
    if target is None:
        return LandUse(None, reason=f"“{raw}”：{spec.label} {entry.value} {entry.label} 在对照表中没有对应的现行用地用海"
                                    f"分类，请直接填写 2023 版代码")
    new = profile.entry(seg_table, target.value)
    new_text = f"{target.value} {new.label}" if new else target.value
    if not target.exact:
        return LandUse(None, reason=f"“{raw}”：{spec.label} {entry.value} {entry.label} 与 2023 版 {new_text} 不是一一对应"
                                    f"（需人工确定），请填写 2023 版代码")
    if new is None or new.retired:
        return LandUse(None, reason=f"“{raw}”：对照的 2023 版代码 {target.value} 不在代码表中")
    return _in_segment(profile, seg_table, new, raw)


def _why_not(profile: Profile, raw: Any, spec: Any, key: str, code: str | None, name: str | None) -> str:
    where = spec.label
    if key == "disagree":
        named = profile.label(spec.table, code or "")
        return (f"“{raw}”：代码 {code} 在{where}中为“{named}”，与名称“{name}”不一致；若用的是其他分类版本，"
                f"请在表头注明（如“土地用途(GB/T 21010)”）或导入时选择该版本")
    if key == "unknown_code":
        old = profile.entry(spec.table, code or "")
        if old is not None and old.retired:
            new = f"，现行为 {old.replaced_by} {profile.label(spec.table, old.replaced_by)}" if old.replaced_by else ""
            return f"“{raw}”：{code} 是{old.edition}版代码“{old.label}”，已停用{new}；请填写现行代码"
        return f"“{raw}”：代码 {code} 不在{where}代码表中"
    elsewhere = _other_editions(profile, spec.table, name or "")
    return f"“{raw}”不在{where}代码表中" + (f"（{elsewhere}，不跨版本匹配）" if elsewhere else "")


def _other_editions(profile: Profile, table: str, name: str) -> str:
    """Where else the name is a class (a 2020 or a GB/T 21010 name in a 2023 column), to say so."""
    notes = []
    for ed in profile.intake.land_use_editions.values():
        if ed.table == table:
            continue
        hit = _named(profile, ed.table, name)
        if hit is not None:
            notes.append(f"是{ed.label}中的 {hit.value} {hit.label}")
    for e in profile.tables.get(table, []):
        if e.retired and _n(e.label) in (name, name + "用地"):
            notes.append(f"是{e.edition}版名称（代码 {e.value}，已停用）")
    return "；".join(notes)


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
    land_use_edition: str | None = None


@dataclass
class _Header:
    row_no: int
    matches: dict[int, HeaderMatch]
    texts: dict[int, str]
    last_row: int
    land_use_edition: str = ""


def parse_rows(sheet: RawSheet, kind: str, tables: CodeTables, land_use_edition: str | None = None) -> ParsedSheet:
    """`land_use_edition`: the edition the import was started with (None: the header's, else the default)."""
    head: list[tuple[int, list[Any]]] = []
    for item in sheet.rows:
        head.append(item)
        if len(head) >= HEADER_SCAN:
            break
    header = _find_header(head, kind)
    header.land_use_edition = column_edition(tables.profile, header, land_use_edition)
    year = _title_year(head, header.row_no)
    skipped: list[tuple[int, str]] = []
    body = _chain(head[[r for r, _ in head].index(header.last_row) + 1:], sheet.rows)
    columns = {m.field: header.texts[i] for i, m in header.matches.items()}
    unknown = [t for i, t in header.texts.items() if i not in header.matches and t]
    rows = _rows(body, header, kind, tables, year, skipped)
    return ParsedSheet(header.row_no, columns, unknown, year, rows, skipped, header.land_use_edition)


def column_edition(profile: Profile, header: _Header, chosen: str | None) -> str:
    """The one edition the land-use column is read in: the one its header names (a marker such as 三调 or
    GB/T 21010), the one the import was started with, else the profile's default; the two disagreeing, or a
    header naming a retired edition (2020 试行版), stop the file rather than mix editions."""
    editions = profile.intake.land_use_editions
    default = profile.intake.land_use_default or ""
    texts = [header.texts[i] for i, m in header.matches.items() if m.field == "land_use"]
    if not texts:
        return chosen or default
    text = texts[0]
    for marker in profile.intake.retired_markers:
        if normalize_header(marker) in text and not any(normalize_header(m) in text for e in editions.values()
                                                       for m in e.markers if m != marker):
            raise IntakeFileError(f"用途列“{text}”注明的是已停用的分类版本（{marker}），请换算为 2023 版用地用海分类，"
                                  f"或使用 GB/T 21010 并在表头注明", "land_use")
    named = [key for key, e in editions.items() if any(normalize_header(m) in text for m in e.markers)]
    if len(named) > 1:
        raise IntakeFileError(f"用途列“{text}”同时注明了多个分类版本，无法确定按哪个版本读取", "land_use")
    if named and chosen and named[0] != chosen:
        raise IntakeFileError(f"用途列“{text}”注明为{editions[named[0]].label}，与导入时选择的"
                              f"{editions[chosen].label}不一致", "land_use_edition")
    return named[0] if named else (chosen or default)


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
            present = {m.field for m in header.matches.values()}
            if "zone" in present:  # a functional zone names its division
                present.add("division")
            missing = [f for f in REQUIRED[kind] if f not in present]
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
            _read(row, match, raw, kind, tables, header.land_use_edition)
        except _CellError as exc:
            row.errors.append((column, exc.message))
    _zone_agrees(row, header)
    _finish(row, header, kind, year)
    return row


def _zone_agrees(row: ParsedRow, header: _Header) -> None:
    """A zone named both in its own column and in the division column must be the same one."""
    named = row.values.pop("_zone_of_division", None)
    if named and row.values.get("zone") and row.values["zone"] != named:
        row.errors.append((_col(header, "zone"), f"功能区与行政区划列所写的功能区不一致（{row.values['zone']} / {named}）"))
    elif named:
        row.values["zone"] = named


class _CellError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _read(row: ParsedRow, match: HeaderMatch, raw: Any, kind: str, tables: CodeTables, edition: str) -> None:
    f = match.field
    if f in ("name", "builder", "location", "content"):
        row.values[f] = re.sub(r"\s+", " ", str(raw)).strip()[:200]
    elif f == "division":
        division, zone, reason = tables.division(raw)
        if division is None:
            raise _CellError(reason or "无法识别")
        _division_from(row, division)
        if zone:
            row.values["_zone_of_division"] = zone
    elif f == "zone":
        zone, reason = tables.zone(raw)
        if zone is None:
            raise _CellError(reason or "无法识别")
        row.values["zone"] = zone
        _division_from(row, tables.profile.zone(zone).division)  # type: ignore[union-attr]
    elif f == "land_use":
        read = tables.land_use(raw, edition)
        if read.value is None:
            raise _CellError(read.reason or "无法识别")
        row.values[f] = read.value
        if read.detail:
            row.values["land_use_detail"] = read.detail
    elif f in ("supply_type", "approval_type", "project_type"):
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
        try:
            row.values[f] = refs.check_investment_code(raw, tables.today)
        except refs.RefError as exc:
            raise _CellError(exc.message) from None
    elif f == "level":
        level = LEVELS.get(_n(raw).removesuffix("重点").removesuffix("重点项目"))
        if level is None:
            raise _CellError(f"项目级别“{raw}”应为 国家、省 或 市")
        row.values["source_kind"] = level


def _division_from(row: ParsedRow, division: str) -> None:
    """A division from the division column or a zone column: both given, they must agree (a zone's division
    may be named by its city too)."""
    known = row.values.get("division")
    if known is None or known == division or known == _parent(division):
        row.values["division"] = division
    elif division != _parent(known):
        raise _CellError(f"功能区所属区县与行政区划列不一致（{known} / {division}）")


def _parent(division: str) -> str:
    """The city of a county code (GB/T 2260: the first four digits and 00)."""
    return division[:4] + "00"


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
    if "division" not in row.values and not any(c in (_col(header, "division"), _col(header, "zone"))
                                                  for c, _ in row.errors):
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
