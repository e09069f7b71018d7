"""CQL2 filters (OGC API - Features Part 3, CQL2 OGC 21-065r2) on the queryables of a collection, as SQL.

Parsing and validation: `cql2` (cql2-rs, the conformance-tested parser behind several OGC servers) reads both
encodings and validates them against the CQL2 JSON schema; we then walk the canonical CQL2-JSON and build a
SQLAlchemy expression. pygeofilter 0.4 was tried first and measured unfit for the classes we claim: its cql2-text
grammar has no function-style temporal predicates (`T_AFTER(a, b)` is a syntax error there), no open interval
`'..'`, and its cql2-json reader swaps BBOX axes and fails on BETWEEN (see the report of issue 17).

Spatial predicates go through the dialect layer (PostGIS functions; on SQLite the R*Tree prefilter and an exact
Shapely test inside SQL), so nothing is filtered in Python and every query keeps the caller's `View`.
Classes covered: basic-cql2, advanced-comparison-operators (LIKE, BETWEEN, IN), basic-spatial-functions(-plus)
and spatial-functions for collections whose geometry supports them, temporal-functions, casei.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import cql2
import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, DateTime, and_, false, func, literal, not_, or_, true
from sqlalchemy.types import TypeEngine

from yimatong.api.ogc import crs as crslib
from yimatong.api.ogc.params import BadRequest, bad
from yimatong.storage.dialect import Dialect

KINDS = ("string", "integer", "number", "boolean", "date", "timestamp", "geometry")
SPATIAL_OPS = ("s_intersects", "s_disjoint", "s_within", "s_contains", "s_equals", "s_touches", "s_crosses",
               "s_overlaps")
TEMPORAL_OPS = ("t_after", "t_before", "t_contains", "t_disjoint", "t_during", "t_equals", "t_finishedby",
                "t_finishes", "t_intersects", "t_meets", "t_metby", "t_overlappedby", "t_overlaps", "t_startedby",
                "t_starts")
COMPARISONS = {"=": "__eq__", "<>": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
# operands each operator takes (CQL2 §7; the text grammar and the JSON schema say the same): checked here because
# cql2-text is not run through the schema (see `parse`)
ARITY: dict[str, range] = {
    "and": range(2, 1 << 31), "or": range(2, 1 << 31), "not": range(1, 2), "like": range(2, 3),
    "between": range(3, 4), "in": range(2, 3), "isnull": range(1, 2), **{op: range(2, 3) for op in COMPARISONS},
    **{op: range(2, 3) for op in SPATIAL_OPS}, **{op: range(2, 3) for op in TEMPORAL_OPS}}
MAX_VERTICES = 10_000  # a filter's geometry literal: a hostile polygon must not tie up the database
MAX_NODES = 500
LOCAL = ZoneInfo("Asia/Shanghai")  # a DATE compared with a timestamp is that day in the bureau's time zone


@dataclass(frozen=True)
class Queryable:
    """One property a client may filter on. `column`: its SQL expression (date kinds are ISO text columns);
    `spatial`: for the geometry, op name → WHERE clause for a storage-CRS geometry."""

    name: str
    kind: str
    title: str
    column: Any = None
    spatial: Callable[[str, BaseGeometry], ColumnElement[bool]] | None = None
    spatial_ops: tuple[str, ...] = ("s_intersects", "s_disjoint")
    enum: tuple[str, ...] | None = None
    description: str | None = None
    geometry_format: str = "geometry-multipolygon"

    def schema(self) -> dict[str, Any]:
        """JSON Schema 2020-12 of the property (Part 3 /req/queryables/get-queryables-response)."""
        out: dict[str, Any] = {"title": self.title}
        if self.description:
            out["description"] = self.description
        if self.kind == "geometry":
            out |= {"format": self.geometry_format, "x-ogc-role": "primary-geometry"}
        elif self.kind == "date":
            out |= {"type": "string", "format": "date"}
        elif self.kind == "timestamp":
            out |= {"type": "string", "format": "date-time"}
        else:
            out["type"] = self.kind
        if self.enum:
            out["enum"] = list(self.enum)
        return out


def parse(text_or_json: str | dict[str, Any], lang: str) -> dict[str, Any]:
    """The canonical CQL2-JSON of a filter, or 400 naming `filter`.

    cql2-text is validated by its grammar (OGC 21-065r2 Annex B BNF: a parsed text has the structure of a CQL2
    expression); cql2-json, which can be any JSON, also against the CQL2 JSON schema. cql2-rs compiles that schema
    on every `validate()` call (0.2-0.9 s, bench/RESULTS.md "ogc"), so a filter is validated once per distinct
    canonical form and the verdict kept: a client paging through a filter sends it again with every page.
    What neither checks (arity of functions, operand types) the Compiler refuses with a 400."""
    try:
        if lang == "cql2-text":
            assert isinstance(text_or_json, str)
            return cql2.parse_text(text_or_json).to_json()
        raw = text_or_json if isinstance(text_or_json, str) else json.dumps(text_or_json)
        canonical = cql2.parse_json(raw).to_json()
        _validate(json.dumps(canonical, sort_keys=True))
        return canonical
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise bad("filter", f"filter 不是合法的 {lang} 表达式：{first}") from None


@functools.lru_cache(maxsize=1024)
def _validate(canonical: str) -> None:
    """Raises cql2.ValidationError for an invalid filter; a valid one is remembered (an invalid one is not:
    lru_cache keeps no exceptions), so the cost is paid once per distinct valid filter."""
    cql2.parse_json(canonical).validate()


# bounds of a temporal value: a SQL expression or Python value, or an open end
class _Open:
    def __init__(self, name: str) -> None:
        self.name = name


NEG, POS = _Open("-inf"), _Open("+inf")


@dataclass
class Compiler:
    """CQL2-JSON → a SQLAlchemy boolean expression on one collection's queryables."""

    queryables: dict[str, Queryable]
    filter_crs: crslib.Crs = field(default_factory=lambda: crslib.parse(None))
    dialect: Dialect | None = None  # LIKE is spelt per database (case-sensitive on both)
    nodes: int = 0

    # --- boolean expressions -----------------------------------------------------------------------------
    def condition(self, node: Any) -> ColumnElement[bool]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise bad("filter", f"filter 过于复杂（超过 {MAX_NODES} 个节点）")
        if isinstance(node, bool):
            return true() if node else false()
        if not isinstance(node, dict) or "op" not in node:
            raise bad("filter", "filter 的顶层应为谓词（比较、空间或时间函数、AND/OR/NOT）")
        op, args = str(node["op"]).lower(), node.get("args") or []
        if not isinstance(args, list):
            raise bad("filter", f"{node['op']} 的参数应为列表")
        if op in ARITY and len(args) not in ARITY[op]:
            raise bad("filter", f"{str(node['op']).upper()} 的参数个数不对")
        if op in ("and", "or"):
            parts = [self.condition(a) for a in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            return not_(self.condition(args[0]))
        if op in COMPARISONS:
            return self._compare(op, args[0], args[1])
        if op == "like":
            return self._like(args[0], args[1])
        if op == "between":
            return and_(self._compare(">=", args[0], args[1]), self._compare("<=", args[0], args[2]))
        if op == "in":
            if not isinstance(args[1], list):
                raise bad("filter", "IN 的第二个参数应为列表")
            return or_(*[self._compare("=", args[0], v) for v in args[1]]) if args[1] else false()
        if op == "isnull":
            kind, expr = self.value(args[0])
            if kind == "geometry":
                raise bad("filter", "几何属性不能判断 IS NULL")
            return expr.is_(None)
        if op in SPATIAL_OPS:
            return self._spatial(op, args)
        if op in TEMPORAL_OPS:
            return self._temporal(op, args[0], args[1])
        raise bad("filter", f"不支持的运算或函数 {node['op']}")

    # --- values ------------------------------------------------------------------------------------------
    def queryable(self, name: str) -> Queryable:
        q = self.queryables.get(name)
        if q is None:
            raise bad("filter", f"未知的可查询属性 {name}：可用 {', '.join(sorted(self.queryables))}")
        return q

    def value(self, node: Any) -> tuple[str, Any]:
        """(kind, SQL expression or Python literal) of a scalar operand."""
        if isinstance(node, bool):
            return "boolean", node
        if isinstance(node, int | float):
            return "number", node
        if isinstance(node, str):
            return "string", node
        if isinstance(node, dict):
            if "property" in node:
                q = self.queryable(str(node["property"]))
                return q.kind, q.column
            if "date" in node:
                return "date", _date(node["date"])
            if "timestamp" in node:
                return "timestamp", _timestamp(node["timestamp"])
            if str(node.get("op", "")).lower() == "casei":
                if not isinstance(node.get("args"), list) or len(node["args"]) != 1:
                    raise bad("filter", "CASEI 只有一个参数")
                kind, expr = self.value(node["args"][0])
                if kind != "string":
                    raise bad("filter", "CASEI 只用于文本")
                return "string", func.lower(expr) if not isinstance(expr, str) else expr.lower()
        raise bad("filter", f"不支持的操作数 {json.dumps(node, ensure_ascii=False)[:80]}")

    def _compare(self, op: str, left: Any, right: Any) -> ColumnElement[bool]:
        lk, lv = self.value(left)
        rk, rv = self.value(right)
        lv, rv, kind = self._unify(lk, lv, rk, rv)
        if kind == "geometry":
            raise bad("filter", "几何属性请用 S_INTERSECTS 等空间函数比较")
        if kind == "boolean" and op not in ("=", "<>"):
            raise bad("filter", "布尔值只能比较相等")
        lhs, rhs = self._sql(lv, kind), self._sql(rv, kind)
        return getattr(lhs, COMPARISONS[op])(rhs)

    def _unify(self, lk: str, lv: Any, rk: str, rv: Any) -> tuple[Any, Any, str]:
        numeric = {"integer", "number"}
        if lk in numeric and rk in numeric:
            return lv, rv, "number"
        if lk == rk:
            return lv, rv, lk
        # a DATE literal against a timestamp property: that day's start in the bureau's time zone
        if {lk, rk} == {"date", "timestamp"}:
            if lk == "date" and isinstance(lv, dt.date):
                return _day_start(lv), rv, "timestamp"
            if rk == "date" and isinstance(rv, dt.date):
                return lv, _day_start(rv), "timestamp"
        raise bad("filter", f"类型不匹配：不能比较 {lk} 与 {rk}")

    def _sql(self, value: Any, kind: str) -> Any:
        if not isinstance(value, str | int | float | bool | dt.date):
            return value  # already a SQL expression
        if kind == "date" and isinstance(value, dt.date):
            return literal(value.isoformat())  # date queryables are ISO text columns
        if kind == "timestamp" and isinstance(value, dt.datetime):
            return literal(value, type_=_TIMESTAMP)
        return literal(value)

    def _like(self, left: Any, pattern: Any) -> ColumnElement[bool]:
        kind, expr = self.value(left)
        pk, pv = self.value(pattern)
        if kind != "string" or pk != "string" or not isinstance(pv, str):
            raise bad("filter", "LIKE 只用于文本属性与文本模式")
        return self.dialect.like(expr, pv) if self.dialect else expr.like(pv, escape="\\")

    # --- spatial -------------------------------------------------------------------------------------------
    def _spatial(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        prop = next((a for a in args if isinstance(a, dict) and "property" in a), None)
        other = next((a for a in args if a is not prop), None)
        if prop is None or other is None:
            raise bad("filter", f"{op.upper()} 需要一个几何属性和一个几何字面量")
        q = self.queryable(str(prop["property"]))
        if q.kind != "geometry" or q.spatial is None:
            raise bad("filter", f"{q.name} 不是几何属性")
        if op not in q.spatial_ops:
            raise bad("filter", f"本图层不支持 {op.upper()}：可用 {', '.join(o.upper() for o in q.spatial_ops)}")
        geom = self.geometry(other)
        if args[0] is not prop:  # S_WITHIN(literal, geometry) is S_CONTAINS(geometry, literal)
            op = {"s_within": "s_contains", "s_contains": "s_within"}.get(op, op)
        return q.spatial(op, geom)

    def geometry(self, node: Any) -> BaseGeometry:
        try:
            if isinstance(node, dict) and "bbox" in node:
                b = [float(v) for v in node["bbox"]]
                b = [b[0], b[1], b[3], b[4]] if len(b) == 6 else b
                minx, miny, maxx, maxy = crslib.bbox_to_storage((b[0], b[1], b[2], b[3]), self.filter_crs)
                return box(minx, miny, maxx, maxy)
            if isinstance(node, dict) and str(node.get("op", "")).upper() == "ENVELOPE":
                raise ValueError("ENVELOPE")
            geom = shape(node)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.GEOSException):
            raise bad("filter", "几何字面量无效（应为 WKT 几何或 BBOX）") from None
        if shapely.get_num_coordinates(geom) > MAX_VERTICES:
            raise bad("filter", f"几何字面量的顶点超过 {MAX_VERTICES} 个")
        geom = crslib.geometry_to_storage(geom, self.filter_crs)
        if geom.is_empty or not all(map(_finite, geom.bounds)):
            raise bad("filter", "几何字面量为空或坐标无效")
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        return geom

    # --- temporal ------------------------------------------------------------------------------------------
    def _bounds(self, node: Any) -> tuple[str, Any, Any]:
        """(kind, start, end) of a temporal operand: an instant (start = end) or an interval."""
        if isinstance(node, dict) and "interval" in node:
            ends = [self._interval_end(v) for v in node["interval"]]
            kinds = {k for k, _ in ends if k}
            if len(node["interval"]) != 2 or len(kinds) > 1:
                raise bad("filter", "INTERVAL 应有两端，且同为日期或同为时间戳")
            kind = kinds.pop() if kinds else "timestamp"
            start = NEG if ends[0][1] is None else ends[0][1]
            end = POS if ends[1][1] is None else ends[1][1]
            return kind, start, end
        kind, value = self.value(node)
        if kind not in ("date", "timestamp"):
            raise bad("filter", f"时间函数的参数应为日期、时间戳或区间，而不是 {kind}")
        return kind, value, value

    def _interval_end(self, v: Any) -> tuple[str | None, Any]:
        if v == "..":
            return None, None
        if isinstance(v, dict):
            kind, value = self.value(v)
            return kind, value
        if isinstance(v, str):
            return ("date", _date(v)) if len(v) == 10 else ("timestamp", _timestamp(v))
        raise bad("filter", "INTERVAL 的端点无效")

    def _temporal(self, op: str, a_node: Any, b_node: Any) -> ColumnElement[bool]:
        ak, a0, a1 = self._bounds(a_node)
        bk, b0, b1 = self._bounds(b_node)
        if ak != bk:  # date against timestamp: the date as its day in the bureau's time zone
            a0, a1, b0, b1 = (self._as_ts(a0, False), self._as_ts(a1, True), self._as_ts(b0, False),
                              self._as_ts(b1, True))
            kind = "timestamp"
        else:
            kind = ak
        c = _TemporalCmp(self, kind)
        # Allen's relations as CQL2 §7.10 defines them on instants and intervals
        rel: dict[str, Callable[[], ColumnElement[bool]]] = {
            "t_after": lambda: c(a0, ">", b1),
            "t_before": lambda: c(a1, "<", b0),
            "t_contains": lambda: and_(c(a0, "<", b0), c(a1, ">", b1)),
            "t_disjoint": lambda: or_(c(a1, "<", b0), c(a0, ">", b1)),
            "t_during": lambda: and_(c(a0, ">", b0), c(a1, "<", b1)),
            "t_equals": lambda: and_(c(a0, "=", b0), c(a1, "=", b1)),
            "t_finishedby": lambda: and_(c(a0, "<", b0), c(a1, "=", b1)),
            "t_finishes": lambda: and_(c(a0, ">", b0), c(a1, "=", b1)),
            "t_intersects": lambda: and_(c(a0, "<=", b1), c(a1, ">=", b0)),
            "t_meets": lambda: c(a1, "=", b0),
            "t_metby": lambda: c(a0, "=", b1),
            "t_overlappedby": lambda: and_(c(a0, ">", b0), c(a0, "<", b1), c(a1, ">", b1)),
            "t_overlaps": lambda: and_(c(a0, "<", b0), c(a1, ">", b0), c(a1, "<", b1)),
            "t_startedby": lambda: and_(c(a0, "=", b0), c(a1, ">", b1)),
            "t_starts": lambda: and_(c(a0, "=", b0), c(a1, "<", b1)),
        }
        return rel[op]()

    def _as_ts(self, v: Any, end: bool) -> Any:
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            start = _day_start(v)
            return start + dt.timedelta(days=1) - dt.timedelta(microseconds=1) if end else start
        return v


class _TemporalCmp:
    """Compares temporal bounds where either may be an open end (-inf/+inf), resolved before SQL."""

    def __init__(self, compiler: Compiler, kind: str) -> None:
        self.compiler, self.kind = compiler, kind

    def __call__(self, x: Any, op: str, y: Any) -> ColumnElement[bool]:
        if isinstance(x, _Open) or isinstance(y, _Open):
            return true() if _open_holds(x, op, y) else false()
        lhs, rhs = self.compiler._sql(x, self.kind), self.compiler._sql(y, self.kind)
        return getattr(lhs, COMPARISONS[op])(rhs)


def _open_holds(x: Any, op: str, y: Any) -> bool:
    """x op y where at least one is an open end: -inf is below everything, +inf above."""
    rank = {id(NEG): -1, id(POS): 1}
    xr, yr = rank.get(id(x), 0), rank.get(id(y), 0)
    return {"<": xr < yr, "<=": xr <= yr, ">": xr > yr, ">=": xr >= yr, "=": xr == yr and xr != 0,
            "<>": xr != yr}[op]


def _finite(v: float) -> bool:
    return v == v and abs(v) != float("inf")


def _date(text: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise bad("filter", f"日期无效：{text}") from None


def _timestamp(text: Any) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(str(text))
    except ValueError:
        raise bad("filter", f"时间戳无效：{text}") from None
    if value.tzinfo is None:
        raise bad("filter", f"时间戳须带时区：{text}")
    return value.astimezone(dt.UTC)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), LOCAL).astimezone(dt.UTC)


def equals_clause(q: Queryable, text: str) -> ColumnElement[bool]:
    """`?name=value` (Part 3 /req/queryables-query-parameters): equality, the value read as the property's type."""
    if q.kind == "geometry":
        raise bad(q.name, f"{q.name} 是几何属性，不能作为查询参数")
    c = Compiler({q.name: q})
    literal_node: Any
    try:
        if q.kind == "integer":
            literal_node = int(text)
        elif q.kind == "number":
            literal_node = float(text)
        elif q.kind == "boolean":
            literal_node = {"true": True, "false": False}[text.lower()]
        elif q.kind == "date":
            literal_node = {"date": dt.date.fromisoformat(text).isoformat()}
        elif q.kind == "timestamp":
            literal_node = {"timestamp": text}
        else:
            literal_node = text
    except (ValueError, KeyError):
        raise bad(q.name, f"{q.name} 的值应为{_KIND_LABEL[q.kind]}") from None
    try:
        return c.condition({"op": "=", "args": [{"property": q.name}, literal_node]})
    except BadRequest as exc:
        raise bad(q.name, exc.detail) from None


def storage_geometries(node: Any, compiler: Compiler) -> Any:
    """The filter with its geometry literals in the storage CRS (for the in-memory warnings collection)."""
    if isinstance(node, dict):
        if "bbox" in node or ("type" in node and "coordinates" in node):
            return json.loads(shapely.to_geojson(compiler.geometry(node)))
        return {k: storage_geometries(v, compiler) for k, v in node.items()}
    if isinstance(node, list):
        return [storage_geometries(v, compiler) for v in node]
    return node


_KIND_LABEL = {"integer": "整数", "number": "数字", "boolean": "true 或 false", "date": "日期（YYYY-MM-DD）",
               "timestamp": "带时区的 RFC 3339 时间", "string": "文本"}
_TIMESTAMP: TypeEngine[Any] = DateTime(timezone=True)
