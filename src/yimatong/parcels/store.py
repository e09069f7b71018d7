"""Parcels: storage with a real spatial index on both databases, attaching parcels to projects, and reading them
through the visibility layer (a parcel submitted with a restricted result is as hidden as the result).

Spatial queries go through the dialect layer (storage.dialect): PostGIS with a GiST index on PostgreSQL, an
R*Tree plus Shapely's exact test on SQLite.
"""

from __future__ import annotations

from typing import Any

from shapely import wkb
from shapely.geometry import Point, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select
from sqlalchemy.orm import Session

from yimatong.config import get_settings
from yimatong.core import pagination
from yimatong.core.visibility import View
from yimatong.domain import events as ev
from yimatong.domain import geometry as geo
from yimatong.domain.enums import Confidentiality
from yimatong.domain.policy import Action
from yimatong.errors import Invalid, NotFound, TooLarge, invalid
from yimatong.formats import geometry_check
from yimatong.projects import registry
from yimatong.storage.dialect import BBox, dialect_of
from yimatong.storage.models import Parcel, Project, ProjectParcel, Result
from yimatong.uow import UnitOfWork


def store_parcel(uow: UnitOfWork, geom: BaseGeometry, properties: dict[str, Any] | None = None) -> Parcel:
    props = dict(properties or {})
    minx, miny, maxx, maxy = geom.bounds
    parcel = Parcel(
        parcel_no=_str_or_none(props.get("parcel_no") or props.get("地块编号"), 100),
        name=_str_or_none(props.get("name") or props.get("地块名称"), 200),
        geom_wkb=wkb.dumps(geom), minx=minx, miny=miny, maxx=maxx, maxy=maxy,
        area_m2=round(geo.area_m2(geom), 2), properties=props, created_by=uow.actor.name, created_at=uow.now,
    )
    uow.session.add(parcel)
    uow.session.flush()
    dialect_of(uow.session).index_geometry(uow.session, "parcels", parcel.id, parcel.geom_wkb, (minx, miny, maxx, maxy))
    return parcel


def _str_or_none(v: Any, limit: int) -> str | None:
    """A column's copy of a property, cut to the column (the whole value stays in `properties`)."""
    return None if v is None or v == "" else str(v)[:limit]


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


def attach(uow: UnitOfWork, project: Project, geom: BaseGeometry, properties: dict[str, Any] | None = None,
           result: Result | None = None) -> Parcel:
    """Attach a parcel to a project (checked by the caller through `uow.project`, or here when it was not). A
    parcel submitted with a result is linked to it: the link, the parcel and its event take the result's
    confidentiality."""
    uow.allow(Action.RESULT_ADD if result is not None else Action.PARCEL_ATTACH,
              stage=result.stage if result is not None else None, division=project.division)
    parcel = store_parcel(uow, geom, properties)
    uow.session.add(ProjectParcel(project_id=project.id, parcel_id=parcel.id,
                                  result_id=result.id if result is not None else None,
                                  attached_at=uow.now, attached_by=uow.actor.name))
    uow.session.flush()
    uow.touch(project)
    uow.emit(ev.ParcelAttached(parcel_id=parcel.id, area_m2=parcel.area_m2,
                               bbox=[parcel.minx, parcel.miny, parcel.maxx, parcel.maxy],
                               result_id=result.id if result is not None else None), project.code,
             confidentiality=result.confidentiality if result is not None else Confidentiality.INTERNAL,
             owner_role=result.created_role if result is not None else None)
    return parcel


def register_with_parcels(uow: UnitOfWork, data: dict[str, Any], parcels: list[tuple[BaseGeometry, dict[str, Any]]]
                          ) -> dict[str, Any]:
    """Register a project together with its parcels (geometries validated before the transaction, each with its
    GeoJSON feature for the properties) in one unit of work; answers the project's view."""
    project = registry.register(uow, data)
    for geom, feature in parcels:
        attach(uow, project, geom, feature.get("properties") or {})
    return registry.project_dict(uow.session, project)


# --- reading, always through the viewer's visibility -----------------------------------------------------------

def bbox_candidates(session: Session, bbox: BBox) -> Select[int]:
    """Parcel ids whose geometry may intersect the bbox (index-driven on both databases; not filtered)."""
    return dialect_of(session).parcel_candidates(bbox)


def parcel_ids_in_bbox(session: Session, view: View, bbox: BBox) -> list[int]:
    """Parcels the viewer may see that really intersect the bbox."""
    ids = dialect_of(session).parcel_ids_in_bbox(session, bbox)
    if not ids or view.unrestricted:
        return ids
    stmt = view.parcel_query(Parcel.id).where(Parcel.id.in_(ids))
    return [r[0] for r in session.execute(stmt)]


def project_ids_in_bbox(session: Session, view: View, bbox: BBox) -> list[int]:
    pids = dialect_of(session).parcels_in_bbox(session, bbox)
    stmt = view.link_query(ProjectParcel.project_id).where(ProjectParcel.parcel_id.in_(pids)).distinct()
    return [r[0] for r in session.execute(stmt)]


def parcel_feature(parcel: Parcel, codes: list[str]) -> dict[str, Any]:
    return {"type": "Feature", "id": parcel.id, "geometry": mapping(wkb.loads(parcel.geom_wkb)),
            "properties": {"id": parcel.id, "area_m2": parcel.area_m2, "codes": codes,
                           "parcel_no": parcel.parcel_no, "name": parcel.name}}


def project_parcels(session: Session, view: View, project: Project) -> list[Parcel]:
    """The parcels of a project the viewer may see (through visible links only)."""
    linked = view.link_query(ProjectParcel.parcel_id).where(ProjectParcel.project_id == project.id)
    stmt = view.parcel_query().where(Parcel.id.in_(linked)).order_by(Parcel.id)
    return list(session.execute(stmt).scalars())


def get_parcel(session: Session, view: View, parcel_id: int, field: str = "id") -> Parcel:
    parcel = session.execute(view.parcel_query().where(Parcel.id == parcel_id)).scalars().first()
    if parcel is None:
        raise NotFound(f"地块 {parcel_id} 不存在", [(field, "地块不存在")])
    return parcel


def geometry_of(parcel: Parcel) -> BaseGeometry:
    return wkb.loads(parcel.geom_wkb)


def parcels_at_point(session: Session, view: View, lon: float, lat: float) -> list[Parcel]:
    """Visible parcels containing a point: index candidates, exact test in Shapely."""
    eps = 1e-9
    ids = [r[0] for r in session.execute(bbox_candidates(session, (lon - eps, lat - eps, lon + eps, lat + eps)))]
    if not ids:
        return []
    rows = session.execute(view.parcel_query().where(Parcel.id.in_(ids)).order_by(Parcel.id)).scalars().all()
    pt = Point(lon, lat)
    return [p for p in rows if geometry_of(p).intersects(pt)]


def page(session: Session, view: View, bbox: BBox | None, code: str | None, limit: int, cursor: str | None
         ) -> dict[str, Any]:
    """A FeatureCollection page of visible parcels (keyset on id) with the codes of the projects on each."""
    pagination.check_limit(limit)
    after = pagination.decode_id(cursor)
    stmt = view.parcel_query()
    if bbox is not None:
        stmt = stmt.where(Parcel.id.in_(dialect_of(session).parcels_in_bbox(session, bbox)))
    if code:
        linked = (view.link_query(ProjectParcel.parcel_id).join(Project, Project.id == ProjectParcel.project_id)
                  .where(Project.code == code))
        stmt = stmt.where(Parcel.id.in_(linked))
    if after is not None:
        stmt = stmt.where(Parcel.id > after)
    rows = list(session.execute(stmt.order_by(Parcel.id).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    codes = view.codes_of_parcels(session, [p.id for p in rows])
    return {"type": "FeatureCollection", "features": [parcel_feature(p, codes.get(p.id, [])) for p in rows],
            "next_cursor": pagination.encode(rows[-1].id) if more else None}


def map_features(session: Session, view: View, bbox: BBox, limit: int, tolerance: float
                 ) -> tuple[list[dict[str, Any]], bool]:
    """Visible parcels in a map view with the current stage and code of their latest visible project, simplified
    to the view's pixel size; and whether the view held more than `limit`."""
    ids = parcel_ids_in_bbox(session, view, bbox)
    truncated, ids = len(ids) > limit, ids[:limit]
    if not ids:
        return [], truncated
    rows = session.execute(view.parcel_query(Parcel.id, Parcel.geom_wkb, Parcel.area_m2).where(Parcel.id.in_(ids))
                           ).all()
    stage_of: dict[int, tuple[str, str]] = {}
    q = (view.link_query(ProjectParcel.parcel_id, Project.current_stage, Project.code)
         .join(Project, Project.id == ProjectParcel.project_id).where(ProjectParcel.parcel_id.in_(ids))
         .order_by(Project.id))
    for pid, st, code in session.execute(q):
        stage_of[pid] = (st, code)
    feats = [{"type": "Feature", "id": pid,
              "geometry": mapping(wkb.loads(g).simplify(tolerance, preserve_topology=True)),
              "properties": {"id": pid, "area_m2": area, "stage": stage_of.get(pid, ("intake", ""))[0],
                             "code": stage_of.get(pid, ("", ""))[1]}} for pid, g, area in rows]
    return feats, truncated
