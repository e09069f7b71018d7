"""The project list (项目列表接口): filters and keyset pagination, stable under concurrent inserts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.visibility import View
from yimatong.domain import localtime
from yimatong.errors import invalid
from yimatong.projects.registry import ids_by_ref, project_dict, refs_of
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import Project, ProjectParcel, ProjectSource


@dataclass
class ProjectFilter:
    division: str | None = None
    zone: str | None = None
    year: int | None = None
    stage: str | None = None
    status: str | None = None
    source: str | None = None
    q: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    updated_since: datetime | None = None


def parse_bbox(text: str | None, field: str = "bbox") -> tuple[float, float, float, float] | None:
    if not text:
        return None
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise invalid(field, "bbox 应为 minlon,minlat,maxlon,maxlat 四个数字") from None
    if len(parts) != 4:
        raise invalid(field, "bbox 应为 minlon,minlat,maxlon,maxlat 四个数字")
    minx, miny, maxx, maxy = parts
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise invalid(field, "bbox 范围无效：应满足 minlon≤maxlon、minlat≤maxlat 且在经纬度范围内")
    return minx, miny, maxx, maxy


def filtered(session: Session, view: View, f: ProjectFilter) -> Select[Project]:
    """The projects matching a filter that the viewer may see."""
    stmt = view.project_query()
    if f.division:
        stmt = stmt.where(Project.division == f.division)
    if f.zone:
        stmt = stmt.where(Project.zone == f.zone)
    if f.year is not None:
        stmt = stmt.where(Project.year == f.year)
    if f.stage:
        stmt = stmt.where(Project.current_stage == f.stage)
    if f.status:
        stmt = stmt.where(Project.status == f.status)
    if f.source:
        stmt = stmt.where(exists().where(ProjectSource.project_id == Project.id, ProjectSource.kind == f.source))
    if f.q:
        like = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Project.name.like(like, escape="\\"), Project.code.like(like, escape="\\"),
                              Project.id.in_(ids_by_ref(view, f.q))))  # or a cross-reference given whole
    if f.updated_since is not None:  # stored in UTC and compared as text on SQLite: the bound value must be UTC too
        stmt = stmt.where(Project.updated_at >= localtime.to_utc(f.updated_since))
    if f.bbox is not None:
        in_box = dialect_of(session).parcels_in_bbox(session, f.bbox)
        stmt = stmt.where(Project.id.in_(view.link_query(ProjectParcel.project_id)
                                         .where(ProjectParcel.parcel_id.in_(in_box))))
    return stmt


def page(session: Session, view: View, f: ProjectFilter, limit: int, cursor: str | None) -> dict[str, Any]:
    pagination.check_limit(limit)
    after = pagination.decode_id(cursor)
    stmt = filtered(session, view, f)
    if after is not None:
        stmt = stmt.where(Project.id > after)
    rows = list(session.execute(stmt.order_by(Project.id).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": items_of(session, view, rows), "next_cursor": pagination.encode(rows[-1].id) if more else None}


# The columns the project list may be sorted by (the web page's headers), each made total by the id.
SORTS: dict[str, tuple[Any, ...]] = {
    "code": (Project.code,), "name": (Project.name, Project.id), "division": (Project.division, Project.id),
    "year": (Project.year, Project.id), "stage": (Project.current_stage, Project.id),
    "status": (Project.status, Project.id), "area": (Project.area_m2, Project.id),
    "updated": (Project.updated_at, Project.id), "id": (Project.id,)}


def items_of(session: Session, view: View, rows: list[Project]) -> list[dict[str, Any]]:
    """The view of a page of projects with their sources and visible references (three queries, no N+1)."""
    sources = sources_of(session, [p.id for p in rows])
    refs = refs_of(session, view, [p.id for p in rows])
    return [project_dict(session, p, sources.get(p.id, []), project_refs=refs.get(p.id, [])) for p in rows]


def sources_of(session: Session, ids: list[int]) -> dict[int, list[ProjectSource]]:
    """Sources of a page of projects in one query (no N+1)."""
    out: dict[int, list[ProjectSource]] = {}
    if not ids:
        return out
    stmt = select(ProjectSource).where(ProjectSource.project_id.in_(ids)).order_by(ProjectSource.id)
    for s in session.execute(stmt).scalars():
        out.setdefault(s.project_id, []).append(s)
    return out
