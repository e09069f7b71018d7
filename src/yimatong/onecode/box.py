"""The project box (项目盒) of a parcel: every business record of every project on it, grouped by stage in
catalogue order and then by time, honouring confidentiality."""

from __future__ import annotations

from typing import Any

from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core.context import App
from yimatong.core.visibility import View
from yimatong.errors import NotFound, invalid
from yimatong.joint import reviews
from yimatong.parcels import store as parcels
from yimatong.results import service as results
from yimatong.storage.models import Parcel, Project, ProjectParcel, Stage

# Two parcels "touch" for the box when they share area, not just a boundary line (degrees², ~0.01 m²).
MIN_SHARED = 1e-12


def touching_parcel_ids(session: Session, view: View, parcel: Parcel) -> list[int]:
    """Visible parcels sharing area with this one (and the parcel itself)."""
    geom = parcels.geometry_of(parcel)
    ids = parcels.parcel_ids_in_bbox(session, view, (parcel.minx, parcel.miny, parcel.maxx, parcel.maxy))
    rows = session.execute(view.parcel_query(Parcel.id, Parcel.geom_wkb).where(Parcel.id.in_(ids))).all() if ids \
        else []
    return [pid for pid, g in rows if pid == parcel.id or _shares_area(geom, wkb.loads(g))]


def _shares_area(a: BaseGeometry, b: BaseGeometry) -> bool:
    return a.intersects(b) and a.intersection(b).area > MIN_SHARED


def box_for_parcel(session: Session, app: App, view: View, parcel_id: int) -> dict[str, Any]:
    parcel = parcels.get_parcel(session, view, parcel_id)
    ids = touching_parcel_ids(session, view, parcel)
    on_parcels = view.link_query(ProjectParcel.project_id).where(ProjectParcel.parcel_id.in_(ids))
    stmt = view.project_query().where(Project.id.in_(on_parcels)).order_by(Project.created_at, Project.id)
    projects = list(session.execute(stmt).scalars())
    codes = view.codes_of_parcels(session, [parcel.id])
    return {"parcel": parcels.parcel_feature(parcel, codes.get(parcel.id, [])),
            "projects": _projects(session, app, view, projects)}


def box_at_point(session: Session, app: App, view: View, lon: float, lat: float) -> dict[str, Any]:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise invalid("lon", "lon/lat 应为 EPSG:4490 经纬度")
    found = parcels.parcels_at_point(session, view, lon, lat)
    if not found:
        raise NotFound(f"点 ({lon}, {lat}) 处没有地块", [("lon", "该点没有地块")])
    smallest = min(found, key=lambda p: p.area_m2)  # the most specific parcel under the click
    return box_for_parcel(session, app, view, smallest.id)


def _projects(session: Session, app: App, view: View, projects: list[Project]) -> list[dict[str, Any]]:
    ids = [p.id for p in projects]
    stage_rows: dict[int, dict[str, Stage]] = {}
    if ids:
        for st in session.execute(select(Stage).where(Stage.project_id.in_(ids))).scalars():
            stage_rows.setdefault(st.project_id, {})[st.key] = st
    by_stage: dict[tuple[int, str], list[dict[str, Any]]] = {}
    visible = results.visible_results(session, view, ids)
    for r in results.as_dicts(session, view, visible, {p.id: p.code for p in projects}):
        pid = next(p.id for p in projects if p.code == r["code"])
        by_stage.setdefault((pid, r["stage"]), []).append(r)
    out = []
    for p in projects:
        by_review: dict[str, list[dict[str, Any]]] = {}
        for review in reviews.for_stage(session, app, view, p.code, None, with_materials=False):  # [joint] the reviews of each stage
            by_review.setdefault(review["stage"], []).append(
                {k: review[k] for k in ("id", "status", "opened_at", "due", "closed_at", "opinions")})
        stages = []
        for spec in app.profile.stages:
            row = stage_rows.get(p.id, {}).get(spec.key)
            res = by_stage.get((p.id, spec.key), [])
            if row is None and not res and spec.key not in by_review:
                continue
            stages.append({"key": spec.key, "name": spec.name, "group": spec.group,
                           "status": row.status if row else "pending",
                           "started_at": row.started_at if row else None,
                           "finished_at": row.finished_at if row else None, "results": res,
                           "joint_reviews": by_review.get(spec.key, [])})
        out.append({"code": p.code, "name": p.name, "status": p.status, "current_stage": p.current_stage,
                    "stages": stages})
    return out
