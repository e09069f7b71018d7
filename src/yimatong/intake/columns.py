"""What each source list's columns mean: canonical fields, header synonyms, units. Headers are matched by
normalised name, never by position."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

KINDS = ("supply_plan", "reserve_plan", "key_projects", "investment_platform")
KIND_LABELS = {"supply_plan": "年度国有建设用地供应（出让）计划", "reserve_plan": "年度土地储备计划",
               "key_projects": "国家/省/市重点项目", "investment_platform": "投资平台/工改系统项目"}

SYNONYMS: dict[str, tuple[str, ...]] = {
    "serial": ("序号", "编号", "行号"),
    "name": ("项目名称", "名称", "地块名称", "项目(地块)名称", "地块(项目)名称", "项目"),
    "division": ("行政区划", "所在区县", "区县", "行政区", "所在地区", "县市区", "区县(市)", "所属区县", "行政区划代码"),
    "year": ("年度", "计划年度", "年份"),
    "supply_type": ("供地方式", "供应方式", "出让方式", "供地类型"),
    # a land-use column is read in one edition: its header may name it, e.g. 土地用途(GB/T 21010), 地类(三调)
    "land_use": ("土地用途", "出让用途", "规划用途", "用途", "用地性质", "用地类型", "地类", "三调地类", "土地用途分类"),
    "zone": ("功能区", "所属功能区", "园区", "所属园区", "所在园区", "管理区", "开发区"),
    "area": ("面积", "用地面积", "储备面积", "出让面积", "供地面积", "拟供面积", "地块面积", "计划面积", "拟收储面积"),
    "planned_date": ("拟供地时间", "计划供地时间", "拟收储时间", "计划收储时间", "供地时间", "收储时间", "拟供时间"),
    "investment_code": ("投资项目代码", "项目代码", "统一项目代码", "投资项目统一代码", "项目统一代码"),
    "location": ("位置", "坐落", "地块位置", "项目位置", "四至", "建设地点"),
    "level": ("级别", "项目级别", "重点项目级别", "类别"),
    "builder": ("建设单位", "项目单位", "业主单位", "项目法人", "申报单位"),
    "total_investment": ("总投资", "计划总投资", "项目总投资"),
    "content": ("建设内容", "建设规模及内容", "建设规模", "主要建设内容"),
    "approval_type": ("审批类型", "立项类型", "审批方式", "管理类型"),
    "approval_date": ("立项日期", "审批日期", "备案日期", "核准日期", "立项时间"),
    "project_type": ("项目类型", "项目类别"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "supply_plan": ("name", "division"),
    "reserve_plan": ("name", "division"),
    "key_projects": ("name", "division"),
    "investment_platform": ("investment_code", "name", "division"),
}
# Units in headers and the factor to square metres (areas) or to 万元 (money).
AREA_UNITS = {"公顷": 10000.0, "ha": 10000.0, "hm2": 10000.0, "hm²": 10000.0, "亩": 10000 / 15,
              "平方米": 1.0, "m2": 1.0, "m²": 1.0, "㎡": 1.0, "平方公里": 1e6, "km2": 1e6}
# When a header gives no unit: plans are kept in 公顷; the investment platform in m².
DEFAULT_AREA_UNIT = {"supply_plan": "公顷", "reserve_plan": "公顷", "key_projects": "公顷",
                     "investment_platform": "平方米"}
_UNIT = re.compile(r"\(([^()]*)\)$")


@dataclass(frozen=True)
class HeaderMatch:
    field: str
    unit: str | None


def normalize_header(text: object) -> str:
    s = unicodedata.normalize("NFKC", str(text or ""))
    s = re.sub(r"[\s*＊:：]", "", s).replace("【", "(").replace("】", ")").replace("[", "(").replace("]", ")")
    return s.lower()


def match_header(text: object) -> HeaderMatch | None:
    norm = normalize_header(text)
    if not norm:
        return None
    unit = None
    m = _UNIT.search(norm)
    base = norm
    if m:
        unit = m.group(1)
        base = norm[: m.start()]
    for field, names in SYNONYMS.items():
        if base in {normalize_header(n) for n in names}:
            return HeaderMatch(field, unit or None)
    return None


def unit_factor(unit: str | None, kind: str) -> float | None:
    chosen = (unit or DEFAULT_AREA_UNIT[kind]).lower()
    for name, factor in AREA_UNITS.items():
        if chosen == name.lower() or chosen.startswith(name.lower()):
            return factor
    return None
