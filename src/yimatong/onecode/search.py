"""Finding a project or a parcel by what a person knows of it (the map's search box, 一码查询 by name): a code or
part of one, a name, a cross-reference such as a 电子监管号, or a parcel number — only what the viewer may see,
each hit with the box of its visible parcels so the map can fly there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func
from sqlalchemy.orm import Session

from yimatong.core.visibility import View
from yimatong.projects import listing as project_list
from yimatong.storage.models import Parcel, Project, ProjectParcel

LIMIT = 10


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def projects(session: Session, view: View, text: str, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Projects whose code, name or a cross-reference matches; an exact code first, then active ones, newest."""
    stmt = project_list.filtered(session, view, project_list.ProjectFilter(q=text))
    rank = case((Project.code == text.upper(), 0), else_=1)
    active = case((Project.status == "active", 0), else_=1)
    rows = list(session.execute(stmt.order_by(rank, active, Project.id.desc()).limit(limit)).scalars())
    boxes = _project_boxes(session, view, [p.id for p in rows])
    return [{"kind": "project", "code": p.code, "name": p.name, "status": p.status, "division": p.division,
             "bbox": boxes.get(p.id)} for p in rows]


def _project_boxes(session: Session, view: View, ids: list[int]) -> dict[int, list[float]]:
    if not ids:
        return {}
    stmt = (view.link_query(ProjectParcel.project_id, func.min(Parcel.minx), func.min(Parcel.miny),
                            func.max(Parcel.maxx), func.max(Parcel.maxy))
            .join(Parcel, Parcel.id == ProjectParcel.parcel_id).where(view.parcels(), ProjectParcel.project_id.in_(ids))
            .group_by(ProjectParcel.project_id))
    return {pid: [float(a), float(b), float(c), float(d)] for pid, a, b, c, d in session.execute(stmt)}


def parcels(session: Session, view: View, text: str, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Parcels whose number (地块编号) contains the text."""
    stmt = (view.parcel_query(Parcel.id, Parcel.parcel_no, Parcel.area_m2, Parcel.minx, Parcel.miny, Parcel.maxx,
                              Parcel.maxy)
            .where(Parcel.parcel_no.like(_like(text), escape="\\")).order_by(Parcel.id).limit(limit))
    rows = session.execute(stmt).all()
    codes = view.codes_of_parcels(session, [r.id for r in rows])
    return [{"kind": "parcel", "id": r.id, "parcel_no": r.parcel_no, "area_m2": r.area_m2,
             "codes": codes.get(r.id, []), "bbox": [r.minx, r.miny, r.maxx, r.maxy]} for r in rows]


def anything(session: Session, view: View, text: str, limit: int = LIMIT) -> list[dict[str, Any]]:
    text = text.strip()[:100]
    if not text:
        return []
    return projects(session, view, text, limit) + parcels(session, view, text, limit)
