"""The query parameters of the OGC API, checked as the standards require: an unknown parameter or a malformed
value is a 400 (OGC API - Features Part 1, /req/core/query-param-unknown and /req/core/query-param-invalid), with a
problem-like JSON body (RFC 9457: `errors[].field` names the parameter)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams

from yimatong.api.ogc import crs as crslib
from yimatong.errors import AppError

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10
# parameters every items request may carry; `f` is the format switch clients such as OWSLib and QGIS send
ITEMS_PARAMS = {"f", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang",
                "filter-crs"}
FORMATS = {"json", "geojson", "application/json", "application/geo+json"}


class BadRequest(AppError):
    """400: the request's parameters are unknown or malformed (OGC API exception rules)."""

    status = 400
    title = "请求参数有误"


def bad(param: str, message: str) -> BadRequest:
    return BadRequest(message, [(param, message)])


@dataclass
class ItemsQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None  # lon/lat, storage CRS
    crs: crslib.Crs = field(default_factory=lambda: crslib.parse(None))
    datetime: tuple[dt.datetime | None, dt.datetime | None] | None = None  # UTC, inclusive, None: open
    filter: str | dict[str, Any] | None = None
    filter_lang: str = "cql2-text"
    filter_crs: crslib.Crs = field(default_factory=lambda: crslib.parse(None))
    equals: dict[str, str] = field(default_factory=dict)  # ?division=430702 (queryables-query-parameters)


def only(params: QueryParams, allowed: set[str]) -> None:
    """Refuse parameters this resource does not know (a silently ignored filter gives a wrong answer)."""
    for name in params:
        if name not in allowed:
            raise bad(name, f"不支持的查询参数 {name}：可用参数为 {', '.join(sorted(allowed))}")
    for name in allowed:
        if len(params.getlist(name)) > 1:
            raise bad(name, f"参数 {name} 只能出现一次")


def check_format(params: QueryParams, allowed: set[str] = FORMATS) -> None:
    value = params.get("f")
    if value is not None and value not in allowed:
        raise bad("f", f"不支持的格式 f={value}：可选 {', '.join(sorted(allowed))}")


def integer(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.strip().lstrip("+").isdigit():
        raise bad(name, f"{name} 应为 {low} 到 {high} 之间的整数")
    value = int(text)
    if not low <= value <= high:
        raise bad(name, f"{name} 应为 {low} 到 {high} 之间的整数")
    return value


def crs_param(params: QueryParams, name: str) -> crslib.Crs:
    try:
        return crslib.parse(params.get(name))
    except crslib.UnknownCrs:
        raise bad(name, f"不支持的坐标参照系 {params.get(name)}：可选 CRS84、EPSG:4490、EPSG:4326 或 CGCS2000 "
                        "高斯-克吕格投影带（EPSG:4491-4554）") from None


def bbox_param(params: QueryParams) -> tuple[float, float, float, float] | None:
    """bbox of 4 numbers (2D) or 6 (with heights: ignored, our data is 2D), in bbox-crs (default CRS84),
    axes swapped to lon/lat first and only then checked (Part 1 /req/core/fc-bbox-definition, Part 2
    /req/crs/bbox-crs-action)."""
    text = params.get("bbox")
    box_crs = crs_param(params, "bbox-crs")
    if text is None:
        return None
    try:
        nums = [float(p) for p in text.split(",")]
    except ValueError:
        raise bad("bbox", "bbox 应为逗号分隔的 4 个或 6 个数字") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    elif len(nums) != 4:
        raise bad("bbox", "bbox 应为逗号分隔的 4 个或 6 个数字")
    box = crslib.bbox_to_storage((nums[0], nums[1], nums[2], nums[3]), box_crs)
    if not crslib.valid_lonlat(box):
        raise bad("bbox", "bbox 范围无效：下限应不大于上限，且在所选坐标参照系的范围内")
    return box


def _instant(text: str, name: str) -> dt.datetime | None:
    if text in ("..", ""):
        return None
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise bad(name, f"{name} 应为 RFC 3339 时间（如 2026-01-01T00:00:00Z）或时间区间 start/end，开放端写 ..") from None
    if value.tzinfo is None:
        raise bad(name, f"{name} 的时间须带时区（如 Z 或 +08:00）")
    return value.astimezone(dt.UTC)


def datetime_param(params: QueryParams) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """Part 1 /req/core/fc-time-definition: an instant, or an interval start/end with `..` for an open end."""
    text = params.get("datetime")
    if text is None:
        return None
    parts = text.split("/")
    if len(parts) == 1:
        if text == "..":
            raise bad("datetime", "datetime 不能只写 ..")
        moment = _instant(text, "datetime")
        return moment, moment
    if len(parts) != 2 or parts == ["..", ".."] or parts == ["", ""]:
        raise bad("datetime", "datetime 区间应为 start/end，至多一端为 ..")
    start, end = _instant(parts[0], "datetime"), _instant(parts[1], "datetime")
    if start and end and start > end:
        raise bad("datetime", "datetime 区间的开始晚于结束")
    return start, end


def items_query(params: QueryParams, queryables: set[str], has_time: bool) -> ItemsQuery:
    allowed = ITEMS_PARAMS | queryables
    if not has_time:
        allowed = allowed - {"datetime"}
    only(params, allowed)
    check_format(params)
    q = ItemsQuery(limit=integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
                   offset=integer(params, "offset", 0, 0, 10**9), bbox=bbox_param(params),
                   crs=crs_param(params, "crs"), datetime=datetime_param(params) if has_time else None)
    q.filter_lang = params.get("filter-lang", "cql2-text")
    if q.filter_lang not in ("cql2-text", "cql2-json"):
        raise bad("filter-lang", "filter-lang 可选 cql2-text 或 cql2-json")
    q.filter_crs = crs_param(params, "filter-crs")
    q.filter = params.get("filter")
    if q.filter is not None and not q.filter.strip():
        raise bad("filter", "filter 为空")
    q.equals = {name: params[name] for name in queryables if name in params}
    return q
