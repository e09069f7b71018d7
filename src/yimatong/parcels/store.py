"""Parcels: storage with a real spatial index on both databases, and attaching parcels to projects.

PostgreSQL: PostGIS `geom` with a GiST index, exact predicates in the database.
SQLite: an R*Tree over the bounding boxes, exact predicates with Shapely 2 on the candidates.
"""

from __future__ import annotations

from typing import Any

from shapely import wkb
from shapely.geometry import Point, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from yimatong.config import get_settings
from yimatong.core import pagination
from yimatong.core.context import Actor, now
from yimatong.domain import geometry as geo
from yimatong.errors import Invalid, NotFound, TooLarge, invalid
from yimatong.formats import geometry_check
from yimatong.ledger import log as ledger
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import Parcel, Project, ProjectParcel


def store_parcel(session: Session, geom: BaseGeometry, actor: Actor, properties: dict[str, Any] | None = None
                 ) -> Parcel:
    props = dict(properties or {})
    minx, miny, maxx, maxy = geom.bounds
    parcel = Parcel(
        parcel_no=_str_or_none(props.get("parcel_no") or props.get("地块编号"), 100),
        name=_str_or_none(props.get("name") or props.get("地块名称"), 200),
        geom_wkb=wkb.dumps(geom), minx=minx, miny=miny, maxx=maxx, maxy=maxy,
        area_m2=round(geo.area_m2(geom), 2), properties=props, created_by=actor.name, created_at=now(),
    )
    session.add(parcel)
    session.flush()
    _index(session, parcel)
    return parcel


def _str_or_none(v: Any, limit: int) -> str | None:
    """A column's copy of a property, cut to the column (the whole value stays in `properties`)."""
    return None if v is None or v == "" else str(v)[:limit]


def _index(session: Session, parcel: Parcel) -> None:
    dialect_of(session).index_geometry(session, "parcels", parcel.id, parcel.geom_wkb,
                                       (parcel.minx, parcel.miny, parcel.maxx, parcel.maxy))


def parse_features(features: list[Any], field: str = "parcels", crs: int | None = None,
                   budget: geometry_check.Budget | None = None) -> list[BaseGeometry]:
    """Validate every feature before anything is written (all or nothing), within the geometry budget (worker
    process, deadline, memory limit). No database: call it before opening the write transaction."""
    try:
        return geometry_check.validate_features(features, field, crs, budget or geometry_check.budget_of(get_settings()))
    except geometry_check.FeaturesRefused as exc:
        raise Invalid(exc.message, exc.errors[:50]) from None
    except geo.GeometryError as exc:
        if exc.status == 413:
            raise TooLarge(exc.message, [(exc.field, exc.message)]) from None
        raise invalid(exc.field, exc.message) from None


def attach(session: Session, project: Project, geom: BaseGeometry, actor: Actor,
           properties: dict[str, Any] | None = None, result_id: int | None = None) -> Parcel:
    parcel = store_parcel(session, geom, actor, properties)
    session.add(ProjectParcel(project_id=project.id, parcel_id=parcel.id, result_id=result_id,
                              attached_at=now(), attached_by=actor.name))
    session.flush()
    ledger.append(session, "parcel.attached", project.code, actor,
                  {"parcel_id": parcel.id, "area_m2": parcel.area_m2, "bbox": [parcel.minx, parcel.miny,
                                                                                parcel.maxx, parcel.maxy]})
    return parcel


def bbox_candidates(session: Session, bbox: tuple[float, float, float, float]) -> Select[tuple[int]]:
    """Parcel ids whose geometry may intersect the bbox (index-driven on both databases)."""
    return dialect_of(session).parcel_candidates(bbox)


def parcel_ids_in_bbox(session: Session, bbox: tuple[float, float, float, float]) -> list[int]:
    return dialect_of(session).parcel_ids_in_bbox(session, bbox)


def project_ids_in_bbox(session: Session, bbox: tuple[float, float, float, float]) -> list[int]:
    pids = parcel_ids_in_bbox(session, bbox)
    if not pids:
        return []
    stmt = select(ProjectParcel.project_id).where(ProjectParcel.parcel_id.in_(pids)).distinct()
    return [r[0] for r in session.execute(stmt)]


def parcel_feature(parcel: Parcel, codes: list[str]) -> dict[str, Any]:
    return {"type": "Feature", "id": parcel.id, "geometry": mapping(wkb.loads(parcel.geom_wkb)),
            "properties": {"id": parcel.id, "area_m2": parcel.area_m2, "codes": codes,
                           "parcel_no": parcel.parcel_no, "name": parcel.name}}


def project_parcels(session: Session, project: Project) -> list[Parcel]:
    stmt = (select(Parcel).join(ProjectParcel, ProjectParcel.parcel_id == Parcel.id)
            .where(ProjectParcel.project_id == project.id).order_by(Parcel.id))
    return list(session.execute(stmt).scalars())


def get_parcel(session: Session, parcel_id: int) -> Parcel:
    parcel = session.get(Parcel, parcel_id)
    if parcel is None:
        raise NotFound(f"地块 {parcel_id} 不存在", [("id", "地块不存在")])
    return parcel


def geometry_of(parcel: Parcel) -> BaseGeometry:
    return wkb.loads(parcel.geom_wkb)


def parcels_at_point(session: Session, lon: float, lat: float) -> list[Parcel]:
    """Parcels containing a point: index candidates, exact test (PostGIS or Shapely)."""
    eps = 1e-9
    ids = [r[0] for r in session.execute(bbox_candidates(session, (lon - eps, lat - eps, lon + eps, lat + eps)))]
    if not ids:
        return []
    rows = session.execute(select(Parcel).where(Parcel.id.in_(ids)).order_by(Parcel.id)).scalars().all()
    pt = Point(lon, lat)
    return [p for p in rows if geometry_of(p).intersects(pt)]


def page(session: Session, bbox: tuple[float, float, float, float] | None, code: str | None, limit: int,
         cursor: str | None) -> dict[str, Any]:
    """A FeatureCollection page of parcels (keyset on id) with the codes of the projects on each."""
    pagination.check_limit(limit)
    after = pagination.decode_id(cursor)
    stmt = select(Parcel)
    if bbox is not None:
        stmt = stmt.where(Parcel.id.in_(dialect_of(session).parcels_in_bbox(session, bbox)))
    if code:
        stmt = stmt.join(ProjectParcel, ProjectParcel.parcel_id == Parcel.id).join(
            Project, Project.id == ProjectParcel.project_id).where(Project.code == code)
    if after is not None:
        stmt = stmt.where(Parcel.id > after)
    rows = list(session.execute(stmt.order_by(Parcel.id).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    codes = codes_of_parcels(session, [p.id for p in rows])
    return {"type": "FeatureCollection", "features": [parcel_feature(p, codes.get(p.id, [])) for p in rows],
            "next_cursor": pagination.encode(rows[-1].id) if more else None}


def codes_of_parcels(session: Session, parcel_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if parcel_ids:
        stmt = (select(ProjectParcel.parcel_id, Project.code).join(Project, Project.id == ProjectParcel.project_id)
                .where(ProjectParcel.parcel_id.in_(parcel_ids)).order_by(Project.id))
        for pid, code in session.execute(stmt):
            out.setdefault(pid, []).append(code)
    return out
