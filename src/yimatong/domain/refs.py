"""Cross-reference numbers a project carries beside its code, validated to their standards. Pure.

- 投资项目代码 (GB/T 40058-2021): `TTTT-RRRRRR-DD-TT-NNNNNN`, 24 characters. The time code is a legacy year
  2014–2020 (codes before 发改投资〔2020〕1439号) or a year-month `YYMM` (month 01–12, not in the future); the
  region is a GB/T 2260 code — one outside the city is a warning, never a refusal (a provincial or neighbouring
  project may well concern the city). The check character's algorithm was not available to us: it is not checked.
- 电子监管号 of a supply contract or allocation decision (土地市场动态监测与监管系统): 16 characters, the 6-digit code of
  one of the city's divisions + 4-digit year + one letter + 5-digit serial, e.g. `4307022026B00012`.
- 监管号 of an approval batch (建设用地报批, field DZJGH Char(19)): 19 characters, digits and capital letters; its
  inner structure is not published, so only that is checked. A separate kind from the supply one.
- 不动产单元号 (GB/T 37346-2019): 28 characters `\\d{12}[GJZ][ABSXCDEFHGWY]\\d{5}[FLQW]\\d{8}`: county 6 (one of the
  city's) + 地籍区 3 + 地籍子区 3 + 宗地特征码 2 + 宗地顺序号 5 (these 19 are the 宗地代码, kept as its own `parcel_code`
  ref) + 定着物特征码 1 + 定着物单元编号 8; `W` (no fixture on the land) is followed by eight zeros.
- 不动产权证书号 (`certificate_no`) and case numbers (`case_no`): free text, no control characters, at most 100.

Every check returns the value as stored (NFKC: full-width digits and hyphens become ASCII; letters upper case) or
raises RefError naming its rule.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from yimatong.domain.profile import Profile

KINDS = ("supply_supervision_no", "approval_supervision_no", "unit_no", "parcel_code", "certificate_no", "case_no")
ALIASES = {"supervision_no": "supply_supervision_no", "electronic_supervision_no": "supply_supervision_no"}
TEXT_KINDS = ("certificate_no", "case_no", "source_ref")  # source_ref: v1 clients' free-text reference
LABELS = {"investment_code": "投资项目代码", "supply_supervision_no": "电子监管号", "approval_supervision_no": "报批监管号",
          "unit_no": "不动产单元号", "parcel_code": "宗地代码", "certificate_no": "不动产权证书号", "case_no": "案卷号",
          "source_ref": "来源编号"}
# GB/T 2260 province-level codes (the first two digits of every division code).
PROVINCES = frozenset(["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"])
INVESTMENT_SHAPE = re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}-\d{6}$")
LEGACY_YEARS = range(2014, 2021)
TEXT_MAX = 100


class RefError(ValueError):
    """A malformed cross-reference; `rule` is the rule it breaks (e.g. `time_code`), the message says it in words."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class City:
    """What the checks need to know of the city: its division codes (GB/T 2260 and internal ones)."""

    divisions: frozenset[str]

    def __contains__(self, division: str) -> bool:
        return division in self.divisions

    def covers(self, region: str) -> bool:
        """A region code inside the city: one of its divisions, or any code under a prefecture-level division of
        it (e.g. 430701 under 430700)."""
        return region in self.divisions or any(d.endswith("00") and region[:4] == d[:4] for d in self.divisions)


def city_of(profile: Profile) -> City:
    return City(frozenset(e.value for e in profile.tables.get("division", [])))


def normalize(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip().upper()


def _fail(kind: str, rule: str, what: str) -> RefError:
    return RefError(rule, f"{LABELS.get(kind, kind)}{what}")


def is_gbt2260(code: str) -> bool:
    """Shape of a GB/T 2260 code: a province, then a prefecture (00 at province level), then a county (00 at
    prefecture level). 省直辖县级行政单位 use the prefecture part 90, which this accepts."""
    if len(code) != 6 or not code.isascii() or not code.isdigit() or code[:2] not in PROVINCES:
        return False
    return not (code[2:4] == "00" and code[4:] != "00")


def check_investment_code(value: object, today: dt.date) -> str:
    """投资项目代码 (GB/T 40058-2021); the region's place in the city is `investment_code_warnings`'s business."""
    text = normalize(value)
    kind = "investment_code"
    if len(text) != 24 or not INVESTMENT_SHAPE.match(text):
        raise _fail(kind, "format", f"“{value}”格式应为 NNNN-NNNNNN-NN-NN-NNNNNN（24 位，GB/T 40058-2021）")
    time_code, region = text[:4], text[5:11]
    if not _time_code_ok(time_code, today):
        raise _fail(kind, "time_code", f"的时间码“{time_code}”无效：应为 2014–2020 的年份（2020年11月前的旧码）"
                                       f"或不晚于本月的年月 YYMM（月份 01–12，GB/T 40058-2021）")
    if not is_gbt2260(region):
        raise _fail(kind, "region", f"的地区码“{region}”不是 GB/T 2260 行政区划代码")
    return text


def _time_code_ok(code: str, today: dt.date) -> bool:
    if int(code) in LEGACY_YEARS:
        return True
    year, month = 2000 + int(code[:2]), int(code[2:])
    return 1 <= month <= 12 and (year, month) <= (today.year, today.month)


def investment_code_warnings(code: str, city: City) -> list[str]:
    region = code[5:11]
    if city.covers(region):
        return []
    return [f"投资项目代码的地区码 {region} 不在本市行政区划内（已登记，请核对）"]


def check_supply_supervision_no(value: object, today: dt.date, city: City) -> str:
    """电子监管号: county of the city + year + letter + serial."""
    text, kind = normalize(value), "supply_supervision_no"
    if len(text) != 16:
        raise _fail(kind, "length", f"“{value}”应为 16 位：6 位区县代码 + 4 位年份 + 1 位字母 + 5 位序号，"
                                    f"如 4307022026B00012（19 位的是报批监管号）")
    county, year, letter, serial = text[:6], text[6:10], text[10], text[11:]
    if not county.isdigit() or county not in city:
        raise _fail(kind, "county", f"的前 6 位“{county}”不是本市的区县代码")
    if not year.isdigit() or not 2000 <= int(year) <= today.year:
        raise _fail(kind, "year", f"的年份“{year}”应为 2000–{today.year} 的四位年份")
    if not ("A" <= letter <= "Z"):
        raise _fail(kind, "letter", f"的第 11 位应为一个字母，收到“{letter}”")
    if not (serial.isascii() and serial.isdigit()):
        raise _fail(kind, "serial", f"的最后 5 位应为数字序号，收到“{serial}”")
    return text


def check_approval_supervision_no(value: object) -> str:
    text, kind = normalize(value), "approval_supervision_no"
    if len(text) != 19:
        raise _fail(kind, "length", f"“{value}”应为 19 位（建设用地报批监管号；16 位的是供地电子监管号）")
    if not (text.isascii() and text.isalnum()):
        raise _fail(kind, "charset", f"“{value}”只能由数字和大写字母组成")
    return text


# GB/T 37346-2019: the parts of a 不动产单元号 in order, each with its rule.
UNIT_PARTS: tuple[tuple[str, int, str, str], ...] = (
    ("county", 6, r"\d{6}", "前 6 位应为本市的区县代码"),
    ("cadastral_zone", 6, r"\d{6}", "第 7–12 位（地籍区、地籍子区）应为数字"),
    ("ownership", 1, "[GJZ]", "第 13 位（宗地特征码·所有权）应为 G、J 或 Z"),
    ("parcel_kind", 1, "[ABSXCDEFHGWY]", "第 14 位（宗地特征码·类型）应为 A B S X C D E F H G W Y 之一"),
    ("parcel_serial", 5, r"\d{5}", "第 15–19 位（宗地顺序号）应为数字"),
    ("fixture_kind", 1, "[FLQW]", "第 20 位（定着物特征码）应为 F、L、Q 或 W"),
    ("fixture_no", 8, r"\d{8}", "第 21–28 位（定着物单元编号）应为数字"),
)


def _check_parts(kind: str, text: str, parts: Iterable[tuple[str, int, str, str]], city: City) -> None:
    pos = 0
    for rule, length, pattern, words in parts:
        chunk = text[pos:pos + length]
        if not re.fullmatch(pattern, chunk) or (rule == "county" and chunk not in city):
            raise _fail(kind, rule, f"“{text}”：{words}，收到“{chunk}”")
        pos += length


def check_unit_no(value: object, city: City) -> str:
    text, kind = normalize(value), "unit_no"
    if len(text) != 28:
        raise _fail(kind, "length", f"“{value}”应为 28 位（GB/T 37346-2019：19 位宗地代码 + 定着物特征码 + 8 位编号）")
    _check_parts(kind, text, UNIT_PARTS, city)
    if text[19] == "W" and text[20:] != "00000000":
        raise _fail(kind, "fixture_w", f"“{text}”：定着物特征码为 W（无定着物）时定着物单元编号应为 00000000")
    return text


def check_parcel_code(value: object, city: City) -> str:
    text, kind = normalize(value), "parcel_code"
    if len(text) != 19:
        raise _fail(kind, "length", f"“{value}”应为 19 位（GB/T 37346-2019：区县 6 + 地籍区 3 + 地籍子区 3 + 宗地特征码 2 + 顺序号 5）")
    _check_parts(kind, text, UNIT_PARTS[:5], city)
    return text


def parcel_code_of(unit_no: str) -> str:
    """The 19-character 宗地代码 a 不动产单元号 starts with."""
    return unit_no[:19]


def check_text(value: object, kind: str) -> str:
    text = str(value).strip()
    if not text:
        raise _fail(kind, "empty", "不能为空")
    if len(text) > TEXT_MAX:
        raise _fail(kind, "length", f"不能超过 {TEXT_MAX} 个字符")
    if any(unicodedata.category(c)[0] == "C" for c in text):
        raise _fail(kind, "charset", "不能含控制字符")
    return text


def canonical_kind(kind: str) -> str:
    return ALIASES.get(kind, kind)


def check_ref(kind: str, value: object, today: dt.date, city: City) -> str:
    """One ref of a kind of the contract (aliases resolved first)."""
    kind = canonical_kind(kind)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _fail(kind, "type", "应为字符串")
    if kind == "supply_supervision_no":
        return check_supply_supervision_no(value, today, city)
    if kind == "approval_supervision_no":
        return check_approval_supervision_no(value)
    if kind == "unit_no":
        return check_unit_no(value, city)
    if kind == "parcel_code":
        return check_parcel_code(value, city)
    if kind in TEXT_KINDS:
        return check_text(value, kind)
    raise _fail(kind, "kind", f"：未知的交叉引用类型 {kind}，可选 {', '.join(KINDS)}")


class FieldError(ValueError):
    """A RefError placed in a body: `field` is the dotted path (`refs.0.value`, `meta.data.unit_no`)."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.message = message


def check_refs(refs: list[dict[str, Any]], today: dt.date, city: City, prefix: str = "refs"
               ) -> list[dict[str, str]]:
    """A body's `refs`, checked and normalised, with the 宗地代码 of every 不动产单元号 added; the first bad one is
    raised as FieldError naming `refs.N.value` (or `refs.N.kind`)."""
    out: list[dict[str, str]] = []
    for i, ref in enumerate(refs):
        kind = canonical_kind(str(ref.get("kind", "")))
        if kind not in KINDS and kind not in TEXT_KINDS:
            raise FieldError(f"{prefix}.{i}.kind", "kind", f"未知的交叉引用类型 {kind}，可选 {', '.join(KINDS)}")
        try:
            value = check_ref(kind, ref.get("value"), today, city)
        except RefError as exc:
            raise FieldError(f"{prefix}.{i}.value", exc.rule, exc.message) from None
        out.append({"kind": kind, "value": value})
        if kind == "unit_no":
            out.append({"kind": "parcel_code", "value": parcel_code_of(value)})
    return list({(r["kind"], r["value"]): r for r in out}.values())


# Keys of a result's `data` that carry cross-references, and their kind. `supervision_no` is the approval batch's
# 监管号 in a stage of the 批 group, else the supply contract's 电子监管号.
RESULT_DATA_KEYS = {"supply_supervision_no": "supply_supervision_no", "electronic_supervision_no": "supply_supervision_no",
                    "approval_supervision_no": "approval_supervision_no", "supervision_no": "supervision_no",
                    "unit_no": "unit_no", "parcel_code": "parcel_code", "certificate_no": "certificate_no"}


def result_refs(data: dict[str, Any], approval_stage: bool, today: dt.date, city: City,
                prefix: str = "meta.data") -> list[dict[str, str]]:
    """The refs a result's data carries, checked (FieldError names `meta.data.<key>` or `meta.data.<key>.N`)."""
    out: list[dict[str, str]] = []
    for key, kind in RESULT_DATA_KEYS.items():
        raw = data.get(key)
        if raw is None or raw == "" or raw == []:
            continue
        if kind == "supervision_no":
            kind = "approval_supervision_no" if approval_stage else "supply_supervision_no"
        many = isinstance(raw, list)
        for i, value in enumerate(raw if many else [raw]):
            where = f"{prefix}.{key}.{i}" if many else f"{prefix}.{key}"
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            try:
                checked = check_ref(kind, value, today, city)
            except RefError as exc:
                raise FieldError(where, exc.rule, exc.message) from None
            out.append({"kind": kind, "value": checked})
            if kind == "unit_no":
                out.append({"kind": "parcel_code", "value": parcel_code_of(checked)})
    return list({(r["kind"], r["value"]): r for r in out}.values())
