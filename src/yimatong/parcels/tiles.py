"""Vector tiles of the map layers: the tile query built through the caller's `View` (confidentiality and district
scope, as every other read), encoded by the dialect layer (ST_AsMVT on PostGIS, mapbox-vector-tile on SQLite).

Attributes per parcel: `id` (the feature id too), the `stage` and `code` of its latest visible project (the map
colours by stage, a click opens the project box by id). Below `polygon_zoom` each parcel is a point at the centre
of its box, merged per grid cell with a count `n` — at city scale a parcel is smaller than a pixel and a million
polygons would make tiles of many megabytes; every parcel still contributes to a dot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from yimatong.core.visibility import View
from yimatong.storage.dialect import TileSpec, dialect_of
from yimatong.storage.models import ControlLayerFeature, Event, Project, ProjectParcel
from yimatong.storage.models import Parcel as ParcelRow

MAX_ZOOM = 22


def parcel_source(view: View) -> Any:
    """id, stage and code of every visible parcel (the tile's rows before the tile's box is applied)."""
    latest = (view.link_query(Project.current_stage).join(Project, Project.id == ProjectParcel.project_id)
              .where(ProjectParcel.parcel_id == ParcelRow.id).order_by(Project.id.desc()).limit(1))
    code = (view.link_query(Project.code).join(Project, Project.id == ProjectParcel.project_id)
            .where(ProjectParcel.parcel_id == ParcelRow.id).order_by(Project.id.desc()).limit(1))
    return view.parcel_query(ParcelRow.id.label("id"), latest.scalar_subquery().label("stage"),
                             code.scalar_subquery().label("code"))


def parcel_tile(session: Session, view: View, z: int, x: int, y: int, polygon_zoom: int) -> bytes:
    points = z < polygon_zoom
    spec = TileSpec(z, x, y, "parcels", "parcels", points=points)
    source = parcel_source(view)
    if points:  # the code is not needed for a dot: fewer distinct cells
        source = view.parcel_query(ParcelRow.id.label("id"), source.selected_columns.stage)
    return dialect_of(session).mvt(session, source, spec)


def control_tile(session: Session, z: int, x: int, y: int) -> bytes:
    """The control layers (city-wide reference data every reader sees), one MVT layer with `kind`."""
    source: Select[Any] = select(ControlLayerFeature.id.label("id"),  # type: ignore[assignment]  # any columns ControlLayerFeature.kind.label("kind"),
                    ControlLayerFeature.name.label("name"))
    return dialect_of(session).mvt(session, source, TileSpec(z, x, y, "control_layers", "control_features"))


def ledger_state(session: Session, view: View) -> tuple[Any, ...]:
    """The last ledger event the caller may see: every change of a parcel, a link, a result or a stage appends an
    event, so what a caller's tile shows can only change when this moves (the tile's ETag carries it). A change
    hidden from the caller leaves their tiles — and this — as they were."""
    return (session.execute(view.event_query().with_only_columns(func.max(Event.seq))).scalar(),)


def control_state(session: Session) -> tuple[Any, ...]:
    """Control layers are replaced whole on import: their count and highest id change with every import."""
    return tuple(session.execute(select(func.count(ControlLayerFeature.id), func.max(ControlLayerFeature.id))).one())
