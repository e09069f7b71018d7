"""Parcels: storage with a real spatial index on both databases, and attaching parcels to projects.

PostgreSQL: PostGIS `geom` with a GiST index, exact predicates in the database.
SQLite: an R*Tree over the bounding boxes, exact predicates with Shapely 2 on the candidates.
"""

from __future__ import annotations

from typing import Any

from shapely import wkb
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from yimatong.domain import geometry as geo
from yimatong.errors import invalid
from yimatong.services import ledger
from yimatong.services.context import Actor, now
from yimatong.storage.models import Parcel, Project, ProjectParcel


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def store_parcel(session: Session, geom: BaseGeometry, actor: Actor, properties: dict[str, Any] | None = None
                 ) -> Parcel:
    props = dict(properties or {})
    minx, miny, maxx, maxy = geom.bounds
    parcel = Parcel(
        parcel_no=_str_or_none(props.get("parcel_no") or props.get("地块编号")),
        name=_str_or_none(props.get("name") or props.get("地块名称")),
        geom_wkb=wkb.dumps(geom), minx=minx, miny=miny, maxx=maxx, maxy=maxy,
        area_m2=round(geo.area_m2(geom), 2), properties=props, created_by=actor.name, created_at=now(),
    )
    session.add(parcel)
    session.flush()
    _index(session, parcel)
    return parcel


def _str_or_none(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)[:200]


def _index(session: Session, parcel: Parcel) -> None:
    if _is_pg(session):
        session.execute(text("UPDATE parcels SET geom = ST_GeomFromWKB(:w, 4490) WHERE id = :id"),
                        {"w": parcel.geom_wkb, "id": parcel.id})
    else:
        session.execute(text("INSERT INTO parcels_rtree (id, minx, maxx, miny, maxy) VALUES (:id, :a, :b, :c, :d)"),
                        {"id": parcel.id, "a": parcel.minx, "b": parcel.maxx, "c": parcel.miny, "d": parcel.maxy})


def parse_features(features: list[Any], field: str = "parcels", crs: int | None = None) -> list[BaseGeometry]:
    """Validate every feature before anything is written (all or nothing)."""
    out = []
    for i, feat in enumerate(features):
        try:
            out.append(geo.feature_to_geometry(feat, f"{field}.{i}.geometry", crs))
        except geo.GeometryError as exc:
            raise invalid(exc.field, exc.message) from None
    return out


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
    """Parcel ids whose geometry intersects the bbox (index-driven on both databases)."""
    minx, miny, maxx, maxy = bbox
    if _is_pg(session):
        env = text("ST_Intersects(parcels.geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490))").bindparams(
            minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        return select(Parcel.id).where(env)
    rtree = text("SELECT id FROM parcels_rtree WHERE maxx >= :minx AND minx <= :maxx AND maxy >= :miny "
                 "AND miny <= :maxy").bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
    return select(text("id")).select_from(rtree.columns().subquery())  # type: ignore[return-value]


def parcel_ids_in_bbox(session: Session, bbox: tuple[float, float, float, float]) -> list[int]:
    ids = [r[0] for r in session.execute(bbox_candidates(session, bbox))]
    if _is_pg(session) or not ids:
        return ids
    area = box(*bbox)
    rows = session.execute(select(Parcel.id, Parcel.geom_wkb).where(Parcel.id.in_(ids)))
    return [pid for pid, g in rows if wkb.loads(g).intersects(area)]


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
