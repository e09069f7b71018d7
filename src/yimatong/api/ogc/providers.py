"""One provider per OGC collection (the pygeoapi shape): what the collection is, its queryables with their SQL
expressions, and how to read a page, one feature, its extent and its vector tiles. Every read of parcels, links and
projects is built on the caller's `View` (confidentiality, district scope), and a filter is only ever a further
WHERE clause on it: it can narrow what the view shows, never widen it.

The backend differences (PostGIS functions, SQLite's R*Tree + exact test, MVT encoding) live in the dialect layer;
a provider asks `dialect_of(session)`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cql2
import orjson
import shapely
from shapely import wkb
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from sqlalchemy import ColumnElement, Select, func, literal_column, not_, select
from sqlalchemy.orm import Session
from typing_extensions import override

from yimatong.api.ogc import crs as crslib
from yimatong.api.ogc.filtering import Compiler, Queryable, equals_clause, storage_geometries
from yimatong.api.ogc.params import ItemsQuery
from yimatong.core.context import App, rfc3339
from yimatong.core.visibility import View
from yimatong.domain import geometry as geo
from yimatong.domain import supervision as rules
from yimatong.errors import NotFound
from yimatong.parcels import spatial as spatial_checks
from yimatong.parcels import tiles
from yimatong.storage.dialect import Dialect, dialect_of
from yimatong.storage.models import ControlLayerFeature, Parcel, Project, ProjectParcel, Stage
from yimatong.supervision import service as supervision

Feature = dict[str, Any]
SQM_PER_MU = geo.SQM_PER_MU


def geometry_json(geom: BaseGeometry | None, crs: crslib.Crs) -> orjson.Fragment | None:
    if geom is None or geom.is_empty:
        return None
    return orjson.Fragment(shapely.to_geojson(crslib.geometry_from_storage(geom, crs)))


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(float(v), digits)


def areas(m2: float | None) -> dict[str, float | None]:
    """Typed areas: m² and the units the bureau reads, 亩 and 公顷 (reals, not text)."""
    return {"area_m2": _round(m2, 2), "area_mu": _round(None if m2 is None else m2 / SQM_PER_MU, 4),
            "area_ha": _round(None if m2 is None else m2 / 10000, 4)}


def _area_queryables(column: Any) -> list[Queryable]:
    return [Queryable("area_m2", "number", "面积（平方米）", column),
            Queryable("area_mu", "number", "面积（亩）", column / SQM_PER_MU),
            Queryable("area_ha", "number", "面积（公顷）", column / 10000)]


@dataclass
class Page:
    features: list[Feature]
    matched: int


class Provider:
    """The interface of one collection. SQL-backed providers build `base` through the view and share paging."""

    id: str = ""
    title: str = ""
    description: str = ""
    geometry_format = "geometry-multipolygon"
    time_property: str | None = None  # the queryable `datetime` filters on
    tiles: bool = False

    def __init__(self, app: App) -> None:
        self.app = app

    def queryables(self, dialect: Dialect, view: View) -> dict[str, Queryable]:
        raise NotImplementedError

    def page(self, session: Session, view: View, q: ItemsQuery, where: list[ColumnElement[bool]],
             filter_json: dict[str, Any] | None) -> Page:
        raise NotImplementedError

    def one(self, session: Session, view: View, fid: str, crs: crslib.Crs) -> Feature:
        raise NotImplementedError

    def extent(self, session: Session, view: View) -> list[float] | None:
        row = session.execute(view.parcel_extent()).one()
        return None if row[0] is None else [float(v) for v in row]

    def tile(self, session: Session, view: View, z: int, x: int, y: int, tms: str) -> bytes:  # noqa: ARG002
        raise NotFound(f"图层 {self.id} 没有矢量瓦片", [("collectionId", "此图层不提供瓦片")])

    def prepare_tile(self, z: int) -> None:
        """Work before a tile's read transaction (bringing a store it is drawn from up to date)."""

    def tile_state(self, session: Session, view: View) -> tuple[Any, ...]:
        """What a tile's content depends on besides the caller (for its ETag)."""
        return tiles.ledger_state(session, view)

    def where(self, session: Session, view: View, q: ItemsQuery, filter_json: dict[str, Any] | None
              ) -> list[ColumnElement[bool]]:
        """The WHERE clauses of bbox, datetime, ?name=value and the CQL2 filter, on this collection's queryables."""
        dialect = dialect_of(session)
        qs = self.queryables(dialect, view)
        out: list[ColumnElement[bool]] = []
        geometry = next((x for x in qs.values() if x.kind == "geometry"), None)
        if q.bbox is not None and geometry is not None and geometry.spatial is not None:
            out.append(geometry.spatial("s_intersects", shapely.box(*q.bbox)))
        if q.datetime is not None and self.time_property:
            out.append(_during(qs[self.time_property], q.datetime))
        out += [equals_clause(qs[name], value) for name, value in q.equals.items()]
        if filter_json is not None:
            out.append(Compiler(qs, q.filter_crs, dialect).condition(filter_json))
        return out


def _during(q: Queryable, interval: tuple[dt.datetime | None, dt.datetime | None]) -> ColumnElement[bool]:
    start, end = interval
    c = Compiler({q.name: q})
    node: dict[str, Any] = {"op": "t_intersects", "args": [{"property": q.name}, {"interval": [
        start.isoformat() if start else "..", end.isoformat() if end else ".."]}]}
    if q.kind == "date":
        node["args"][1]["interval"] = [start.date().isoformat() if start else "..",
                                       end.date().isoformat() if end else ".."]
    return c.condition(node)


# --- parcels ---------------------------------------------------------------------------------------------------
class ParcelsProvider(Provider):
    id = "parcels"
    title = "地块"
    description = "项目所在地块（CGCS2000），属性含面积（平方米、亩、公顷）、所属项目码、当前阶段与行政区"
    geometry_format = "geometry-polygon"
    time_property = "created_at"
    tiles = True

    def _latest(self, view: View, column: Any) -> Any:
        """`column` of the latest visible project on the parcel (correlated: one index probe per parcel)."""
        return (view.link_query(column).join(Project, Project.id == ProjectParcel.project_id)
                .where(ProjectParcel.parcel_id == Parcel.id).order_by(Project.id.desc()).limit(1).scalar_subquery())

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self._queryables: dict[tuple[Any, ...], dict[str, Queryable]] = {}

    @override
    def queryables(self, dialect: Dialect, view: View) -> dict[str, Queryable]:
        """Built once per dialect and caller (the route asks twice per page; building the visibility subqueries
        of `code`, `stage` and `division` costs about a millisecond each time). The expressions are immutable
        SQLAlchemy constructs and may be reused by any statement."""
        if view.policy is not self.app.profile.policy:
            return self._build_queryables(dialect, view)
        key = (dialect.name, view.actor)
        found = self._queryables.get(key)
        if found is None:
            if len(self._queryables) >= 256:
                self._queryables.clear()
            found = self._queryables[key] = self._build_queryables(dialect, view)
        return found

    def _build_queryables(self, dialect: Dialect, view: View) -> dict[str, Queryable]:
        qs = [Queryable("id", "integer", "地块标识", Parcel.id),
              Queryable("parcel_no", "string", "地块编号", Parcel.parcel_no),
              Queryable("name", "string", "地块名称", Parcel.name),
              *_area_queryables(Parcel.area_m2),
              Queryable("code", "string", "项目码（最新项目）", self._latest(view, Project.code)),
              Queryable("stage", "string", "当前阶段（最新项目）", self._latest(view, Project.current_stage),
                        enum=tuple(self.app.profile.stage_keys)),
              Queryable("division", "string", "行政区划代码（最新项目）", self._latest(view, Project.division)),
              Queryable("created_at", "timestamp", "入库时间", Parcel.created_at),
              Queryable("geometry", "geometry", "地块范围", spatial=lambda op, g: dialect.spatial_clause(
                  "parcels", op, g), spatial_ops=tuple(_ALL_SPATIAL), geometry_format=self.geometry_format)]
        return {x.name: x for x in qs}

    @override
    def page(self, session: Session, view: View, q: ItemsQuery, where: list[ColumnElement[bool]],
             filter_json: dict[str, Any] | None) -> Page:
        if where:  # filtered: the page, its count and its projects in one statement, visibility probed per hit
            rows = session.execute(view.parcel_page(where, q.limit, q.offset, *_FEATURE_COLUMNS,
                                                    lateral=_lateral(session))).all()
            if rows:
                return Page(self._build(rows, q.crs), int(rows[0][len(_FEATURE_COLUMNS)]))
        ids = view.parcel_query(Parcel.id).where(*where)
        # unfiltered: counting and paging over the id index (index-only scans) beat one pass over every row
        matched = session.execute(select(func.count()).select_from(ids.subquery())).scalar_one()
        page = [r[0] for r in session.execute(ids.order_by(Parcel.id).limit(q.limit).offset(q.offset))] if matched else []
        return Page(self._features(session, view, page, q.crs), matched)

    def _features(self, session: Session, view: View, ids: list[int], crs: crslib.Crs) -> list[Feature]:
        if not ids:
            return []
        return self._build(session.execute(view.parcels_by_id(ids, *_FEATURE_COLUMNS, lateral=_lateral(session))).all(),
                           crs)

    def _build(self, rows: Sequence[Any], crs: crslib.Crs) -> list[Feature]:
        """Features from rows of `View.parcel_page` or `View.parcels_by_id`: a parcel's rows follow each other,
        one per visible link, in project order (the last is the latest project); the last three columns are the
        project's code, stage and division. Geometries are decoded and written as GeoJSON in one call each."""
        parcels: list[tuple[Any, list[tuple[str, str, str]]]] = []
        for r in rows:
            if not parcels or parcels[-1][0].id != r.id:
                parcels.append((r, []))
            parcels[-1][1].append((r[-3], r[-2], r[-1]))
        geoms = [crslib.geometry_from_storage(g, crs) for g in shapely.from_wkb([p.geom_wkb for p, _ in parcels])]
        texts = shapely.to_geojson(geoms)  # None for a missing geometry; an empty one is written as null too
        return [self._feature(p, projects, None if t is None or g.is_empty else orjson.Fragment(t))
                for (p, projects), g, t in zip(parcels, geoms, texts, strict=True)]

    def _feature(self, p: Any, projects: list[tuple[str, str, str]], geometry: orjson.Fragment | None) -> Feature:
        code, stage, division = projects[-1] if projects else (None, None, None)
        props = {"id": p.id, "parcel_no": p.parcel_no, "name": p.name, **areas(p.area_m2), "code": code,
                 "codes": ",".join(c for c, _, _ in projects), "stage": stage, "division": division,
                 "created_at": rfc3339(p.created_at)}
        return {"type": "Feature", "id": p.id, "geometry": geometry, "properties": props}

    @override
    def one(self, session: Session, view: View, fid: str, crs: crslib.Crs) -> Feature:
        if not (fid.isascii() and fid.isdigit()) or int(fid) > 2**53:
            raise NotFound(f"要素 {fid} 不存在", [("featureId", "不存在")])
        feats = self._features(session, view, [int(fid)], crs)
        if not feats:
            raise NotFound(f"要素 {fid} 不存在", [("featureId", "不存在")])
        return feats[0]

    @override
    def tile(self, session: Session, view: View, z: int, x: int, y: int, tms: str) -> bytes:
        return tiles.parcel_tile(session, view, z, x, y, self.app.settings.tile_polygon_zoom, tms, app=self.app)

    @override
    def prepare_tile(self, z: int) -> None:
        tiles.prepare(self.app, z, self.app.settings.tile_polygon_zoom)


def _lateral(session: Session) -> bool:
    return dialect_of(session).lateral_joins


_FEATURE_COLUMNS = (Parcel.id, Parcel.parcel_no, Parcel.name, Parcel.area_m2, Parcel.created_at, Parcel.geom_wkb)
_ALL_SPATIAL = ("s_intersects", "s_disjoint", "s_within", "s_contains", "s_equals", "s_touches", "s_crosses",
                "s_overlaps")


# --- projects --------------------------------------------------------------------------------------------------
class ProjectsProvider(Provider):
    id = "projects"
    title = "项目"
    description = "项目及其地块范围（多面），属性含项目码、名称、状态、当前阶段、行政区、年度、供地方式、土地用途、面积与各阶段日期"
    time_property = "updated_at"

    def _stage_date(self, key: str, column: Any) -> Any:
        return (select(func.substr(column, 1, 10)).where(Stage.project_id == Project.id, Stage.key == key)
                .scalar_subquery())

    @override
    def queryables(self, dialect: Dialect, view: View) -> dict[str, Queryable]:
        p = self.app.profile
        qs = [Queryable("code", "string", "项目码", Project.code),
              Queryable("name", "string", "项目名称", Project.name),
              Queryable("status", "string", "项目状态", Project.status, enum=("active", "void", "merged")),
              Queryable("stage", "string", "当前阶段", Project.current_stage, enum=tuple(p.stage_keys)),
              Queryable("division", "string", "行政区划代码（GB/T 2260）", Project.division),
              Queryable("year", "integer", "年度", Project.year),
              Queryable("approval_type", "string", "审批类型代码", Project.approval_type),
              Queryable("project_type", "string", "项目类型代码", Project.project_type),
              Queryable("supply_type", "string", "供地方式代码", Project.supply_type),
              Queryable("land_use", "string", "土地用途代码（2023 版用地用海分类）", Project.land_use),
              Queryable("builder", "string", "建设单位", Project.builder),
              Queryable("investment_code", "string", "投资项目代码", Project.investment_code),
              *_area_queryables(Project.area_m2),
              Queryable("created_at", "timestamp", "登记时间", Project.created_at),
              Queryable("updated_at", "timestamp", "最后更新时间", Project.updated_at),
              Queryable("geometry", "geometry", "项目地块范围", spatial=self._spatial(dialect, view))]
        zone = getattr(Project, "zone", None)  # the functional zone (经开区 …), where the schema has it
        if zone is not None:
            qs.append(Queryable("zone", "string", "功能区", zone))
        for s in p.stages:
            qs.append(Queryable(f"{s.key}_started", "date", f"{s.name}开始日期", self._stage_date(s.key, Stage.started_at)))
            qs.append(Queryable(f"{s.key}_finished", "date", f"{s.name}完成日期",
                                self._stage_date(s.key, Stage.finished_at)))
        return {x.name: x for x in qs}

    def _spatial(self, dialect: Dialect, view: View) -> Callable[[str, BaseGeometry], ColumnElement[bool]]:
        def clause(op: str, geom: BaseGeometry) -> ColumnElement[bool]:
            # a project meets a geometry when one of its visible parcels does
            hit = (view.link_query(ProjectParcel.project_id).join(Parcel, Parcel.id == ProjectParcel.parcel_id)
                   .where(dialect.spatial_clause("parcels", "s_intersects", geom)))
            inside = Project.id.in_(hit)
            return not_(inside) if op == "s_disjoint" else inside
        return clause

    def _base(self, view: View) -> Select[Any]:
        return view.project_query().where(Project.id.in_(view.link_query(ProjectParcel.project_id)))

    @override
    def page(self, session: Session, view: View, q: ItemsQuery, where: list[ColumnElement[bool]],
             filter_json: dict[str, Any] | None) -> Page:
        stmt = self._base(view).where(*where)
        matched = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = list(session.execute(stmt.order_by(Project.id).limit(q.limit).offset(q.offset)).scalars())
        return Page(self._features(session, view, rows, q.crs), matched)

    def _features(self, session: Session, view: View, rows: list[Project], crs: crslib.Crs) -> list[Feature]:
        ids = [p.id for p in rows]
        geoms = project_geoms(session, view, ids)
        dates: dict[int, dict[str, str | None]] = {}
        if ids:
            for pid, key, started, finished in session.execute(
                    select(Stage.project_id, Stage.key, Stage.started_at, Stage.finished_at)
                    .where(Stage.project_id.in_(ids))):
                d = dates.setdefault(pid, {})
                d[f"{key}_started"] = started[:10] if started else None
                d[f"{key}_finished"] = finished[:10] if finished else None
        keys = [f"{s.key}_{e}" for s in self.app.profile.stages for e in ("started", "finished")]
        return [self._feature(p, geoms.get(p.id, []), dates.get(p.id, {}), keys, crs) for p in rows]

    def _feature(self, p: Project, geoms: list[BaseGeometry], dates: dict[str, str | None], keys: list[str],
                 crs: crslib.Crs) -> Feature:
        props: dict[str, Any] = {
            "code": p.code, "name": p.name, "status": p.status, "stage": p.current_stage, "division": p.division,
            "year": p.year, "approval_type": p.approval_type, "project_type": p.project_type,
            "supply_type": p.supply_type, "land_use": p.land_use, "builder": p.builder,
            "investment_code": p.investment_code, **areas(p.area_m2), "created_at": rfc3339(p.created_at),
            "updated_at": rfc3339(p.updated_at)}
        if hasattr(p, "zone"):
            props["zone"] = p.zone
        props |= {k: dates.get(k) for k in keys}
        geom = unary_union(geoms) if geoms else None
        return {"type": "Feature", "id": p.code, "geometry": geometry_json(geom, crs), "properties": props}

    @override
    def one(self, session: Session, view: View, fid: str, crs: crslib.Crs) -> Feature:
        # a visible project without a visible parcel is still a feature, with a null geometry
        found = session.execute(view.project_query().where(Project.code == fid)).scalars().first()
        if found is None:
            raise NotFound(f"要素 {fid} 不存在", [("featureId", "不存在")])
        return self._features(session, view, [found], crs)[0]


def project_geoms(session: Session, view: View, ids: list[int]) -> dict[int, list[BaseGeometry]]:
    """The visible parcels of each project (a restricted result's parcels do not shape its geometry)."""
    geoms: dict[int, list[BaseGeometry]] = {}
    if ids:
        q = (view.link_query(ProjectParcel.project_id, Parcel.geom_wkb)
             .join(Parcel, Parcel.id == ProjectParcel.parcel_id).where(ProjectParcel.project_id.in_(ids)))
        for pid, g in session.execute(q):
            geoms.setdefault(pid, []).append(wkb.loads(g))
    return geoms


# --- control layers --------------------------------------------------------------------------------------------
class ControlLayersProvider(Provider):
    id = "control_layers"
    title = "管控图层"
    description = "永久基本农田、生态保护红线、城镇开发边界（kind 区分），由自然资源局导入的全市参考图层"
    time_property = "imported_at"
    tiles = True

    @override
    def queryables(self, dialect: Dialect, view: View) -> dict[str, Queryable]:
        kinds = tuple(spatial_checks.CONTROL_KINDS)
        qs = [Queryable("id", "integer", "要素标识", ControlLayerFeature.id),
              Queryable("kind", "string", "管控图层类型", ControlLayerFeature.kind, enum=kinds,
                        description="；".join(f"{k}：{v}" for k, v in spatial_checks.CONTROL_KINDS.items())),
              Queryable("name", "string", "名称", ControlLayerFeature.name),
              Queryable("imported_at", "timestamp", "导入时间", ControlLayerFeature.imported_at),
              Queryable("geometry", "geometry", "范围", spatial=lambda op, g: dialect.spatial_clause(
                  "control_features", op, g), spatial_ops=_ALL_SPATIAL)]
        return {x.name: x for x in qs}

    @override
    def page(self, session: Session, view: View, q: ItemsQuery, where: list[ColumnElement[bool]],
             filter_json: dict[str, Any] | None) -> Page:
        stmt = select(ControlLayerFeature).where(*where)
        matched = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = session.execute(stmt.order_by(ControlLayerFeature.id).limit(q.limit).offset(q.offset)).scalars()
        return Page([self._feature(f, q.crs) for f in rows], matched)

    def _feature(self, f: ControlLayerFeature, crs: crslib.Crs) -> Feature:
        geom = wkb.loads(f.geom_wkb)
        props = {"id": f.id, "kind": f.kind, "kind_label": spatial_checks.CONTROL_KINDS.get(f.kind, f.kind),
                 "name": f.name, **areas(geo.area_m2(geom)), "imported_at": rfc3339(f.imported_at)}
        return {"type": "Feature", "id": f.id, "geometry": geometry_json(geom, crs), "properties": props}

    @override
    def one(self, session: Session, view: View, fid: str, crs: crslib.Crs) -> Feature:
        found = None
        if fid.isascii() and fid.isdigit() and int(fid) <= 2**53:
            found = session.get(ControlLayerFeature, int(fid))
        if found is None:
            raise NotFound(f"要素 {fid} 不存在", [("featureId", "不存在")])
        return self._feature(found, crs)

    @override
    def extent(self, session: Session, view: View) -> list[float] | None:
        row = session.execute(select(func.min(ControlLayerFeature.minx), func.min(ControlLayerFeature.miny),
                                     func.max(ControlLayerFeature.maxx), func.max(ControlLayerFeature.maxy))).one()
        return None if row[0] is None else [float(v) for v in row]

    @override
    def tile(self, session: Session, view: View, z: int, x: int, y: int, tms: str) -> bytes:
        return tiles.control_tile(session, z, x, y, tms)

    @override
    def tile_state(self, session: Session, view: View) -> tuple[Any, ...]:
        return tiles.control_state(session)


# --- warnings --------------------------------------------------------------------------------------------------
class WarningsProvider(Provider):
    """Warnings are computed by the supervision service (cached until the ledger head moves), not stored: the
    filter is checked against the queryables like any other and then evaluated by cql2 on the computed list,
    which district scope has already narrowed. Geometry: a point inside the project's visible parcels."""

    id = "warnings"
    title = "预警"
    description = "监测监管预警：批而未供、闲置土地、竣工逾期、登记滞后、码段过期、空间冲突（点位为项目地块内一点）"
    geometry_format = "geometry-point"
    time_property = "since"

    @override
    def queryables(self, dialect: Dialect, view: View) -> dict[str, Queryable]:
        col = literal_column  # placeholders: the filter is type-checked here, evaluated by cql2 (see class doc)
        qs = [Queryable("kind", "string", "预警类型", col("kind"), enum=rules.KINDS,
                        description="；".join(f"{k}：{v}" for k, v in rules.KIND_LABELS.items())),
              Queryable("level", "integer", "预警级别", col("level")),
              Queryable("code", "string", "项目码", col("code")),
              Queryable("name", "string", "项目名称", col("name")),
              Queryable("division", "string", "行政区划代码", col("division")),
              Queryable("since", "date", "起算日期", col("since")),
              Queryable("detail", "string", "说明", col("detail")),
              Queryable("geometry", "geometry", "位置", spatial=lambda _op, _g: col("geometry").is_not(None),
                        spatial_ops=("s_intersects", "s_disjoint"), geometry_format=self.geometry_format)]
        return {x.name: x for x in qs}

    def _all(self, session: Session, view: View, crs: crslib.Crs) -> list[tuple[Feature, Feature]]:
        """(feature in the storage CRS for filtering, feature in the response CRS) of every visible warning."""
        warns = supervision.all_warnings(session, self.app, view)
        codes = sorted({w.code for w in warns})
        points = _project_points(session, view, codes)
        seen: dict[tuple[str, str], int] = {}
        out = []
        for w in warns:
            if w.code not in points:  # a project the caller cannot see (or without a visible parcel)
                continue
            n = seen[(w.code, w.kind)] = seen.get((w.code, w.kind), 0) + 1
            props = w.as_dict() | {"kind_label": rules.KIND_LABELS.get(w.kind, w.kind)}
            fid = f"{w.code}-{w.kind}-{n}"
            point = points[w.code]
            raw = {"type": "Feature", "id": fid, "geometry": json.loads(shapely.to_geojson(point)),
                   "properties": props}
            out.append((raw, {"type": "Feature", "id": fid, "geometry": geometry_json(point, crs),
                              "properties": props}))
        return out

    @override
    def where(self, session: Session, view: View, q: ItemsQuery, filter_json: dict[str, Any] | None
              ) -> list[ColumnElement[bool]]:
        super().where(session, view, q, filter_json)  # type checks only: 400 for what the queryables refuse
        return []

    @override
    def page(self, session: Session, view: View, q: ItemsQuery, where: list[ColumnElement[bool]],
             filter_json: dict[str, Any] | None) -> Page:
        parts: list[dict[str, Any]] = []
        if filter_json is not None:
            parts.append(storage_geometries(filter_json, Compiler({}, q.filter_crs)))
        if q.bbox is not None:
            parts.append({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(q.bbox)}]})
        if q.datetime is not None:
            start, end = q.datetime
            parts.append({"op": "t_intersects", "args": [{"property": "since"}, {"interval": [
                start.date().isoformat() if start else "..", end.date().isoformat() if end else ".."]}]})
        parts += [{"op": "=", "args": [{"property": k}, int(v) if k == "level" else v]} for k, v in q.equals.items()]
        expr = cql2.Expr({"op": "and", "args": parts}) if len(parts) > 1 else cql2.Expr(parts[0]) if parts else None
        hits = [shown for raw, shown in self._all(session, view, q.crs) if expr is None or expr.matches(raw)]
        return Page(hits[q.offset:q.offset + q.limit], len(hits))

    @override
    def one(self, session: Session, view: View, fid: str, crs: crslib.Crs) -> Feature:
        for _, shown in self._all(session, view, crs):
            if shown["id"] == fid:
                return shown
        raise NotFound(f"要素 {fid} 不存在", [("featureId", "不存在")])


def _project_points(session: Session, view: View, codes: list[str]) -> dict[str, Point]:
    """A point on the visible parcels of each project (the centre of their box, or on a parcel if outside)."""
    out: dict[str, Point] = {}
    for i in range(0, len(codes), 500):
        chunk = codes[i:i + 500]
        q = (view.link_query(Project.code, func.min(Parcel.minx), func.min(Parcel.miny), func.max(Parcel.maxx),
                             func.max(Parcel.maxy))
             .join(Project, Project.id == ProjectParcel.project_id).join(Parcel, Parcel.id == ProjectParcel.parcel_id)
             .where(Project.code.in_(chunk), view.projects()).group_by(Project.code))
        for code, a, b, c, d in session.execute(q):
            out[code] = Point((a + c) / 2, (b + d) / 2)
    return out


def providers(app: App) -> dict[str, Provider]:
    return {p.id: p for p in (ParcelsProvider(app), ProjectsProvider(app), ControlLayersProvider(app),
                              WarningsProvider(app))}

