"""Vector tiles of the map layers: the tile query built through the caller's `View` (confidentiality and district
scope, as every other read), encoded by the dialect layer (ST_AsMVT on PostGIS, mapbox-vector-tile on SQLite).

Attributes per parcel: `id` (the feature id too), the `stage` and `code` of its latest visible project (the map
colours by stage, a click opens the project box by id). Below `polygon_zoom` each parcel is a point at the centre
of its box, merged per grid cell with a count `n` — at city scale a parcel is smaller than a pixel and a million
polygons would make tiles of many megabytes; every parcel still contributes to a dot.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from yimatong.core.visibility import View
from yimatong.ledger import merkle
from yimatong.parcels import cells
from yimatong.storage.dialect import Dialect, TileSpec, dialect_of
from yimatong.storage.models import ControlLayerFeature, Event, Project, ProjectParcel
from yimatong.storage.models import Parcel as ParcelRow

MAX_ZOOM = 22


def _latest(view: View, column: Any) -> Any:
    """The column of a parcel's latest project among the links the caller may see."""
    return (view.link_query(column).join(Project, Project.id == ProjectParcel.project_id)
            .where(ProjectParcel.parcel_id == ParcelRow.id).order_by(Project.id.desc()).limit(1)).scalar_subquery()


def parcel_source(view: View) -> Any:
    """id, stage and code of every visible parcel (the tile's rows before the tile's box is applied)."""
    return view.parcel_query(ParcelRow.id.label("id"), _latest(view, Project.current_stage).label("stage"),
                             _latest(view, Project.code).label("code"))


def parcel_tile(session: Session, view: View, z: int, x: int, y: int, polygon_zoom: int,
                tms: str = "WebMercatorQuad", *, stored: bool = True, app: Any = None) -> bytes:
    """The parcel tile z/x/y as the caller may see it, from what `parcels/cells.py` keeps when it is current for
    the ledger this session reads: dots up to `cells.MAX_ZOOM` from the stored cells (with the few parcels the
    cells leave out read beside them), other tiles up to `cells.MARKS_MAX_ZOOM` with each plain parcel's
    visibility, stage and project from its mark (one join instead of three correlated subqueries). Otherwise from the parcels with the full rules —
    the reference (`stored=False`) — and, given the `app`, the cells are brought up to date in the background.
    The route brings them up to date before a dot tile's read transaction (`prepare`)."""
    spec = TileSpec(z, x, y, "parcels", "parcels", points=z < polygon_zoom, tms=tms)
    dialect = dialect_of(session)
    stored = stored and z <= cells.MARKS_MAX_ZOOM
    if stored and cells.is_current(session):
        if cells.serves(z, polygon_zoom):
            params = cells.tile_params(z, x, y, tms)
            return dialect.mvt_cells(session, _cell_statement(dialect, view, spec), spec, params)
        return dialect.mvt(session, _statement(dialect, view, spec, marked=True), spec)
    if stored and app is not None:
        cells.refresh_in_background(app)
    return dialect.mvt(session, _statement(dialect, view, spec), spec)


def prepare(app: Any, z: int, polygon_zoom: int) -> None:
    """Before a tile's read transaction: bring the stored cells up to date when the tile is drawn from them
    (nothing to do but two reads when they are; the tile falls back to the parcels when another process is
    updating them)."""
    if cells.serves(z, polygon_zoom):
        cells.refresh(app)


def control_tile(session: Session, z: int, x: int, y: int, tms: str = "WebMercatorQuad") -> bytes:
    """The control layers (city-wide reference data every reader sees), one MVT layer with `kind`."""
    spec = TileSpec(z, x, y, "control_layers", "control_features", tms=tms)
    dialect = dialect_of(session)
    key = (dialect.name, "control", spec.shape())
    cached = _STATEMENTS.get(key)
    if cached is None:
        source: Select[Any] = select(  # type: ignore[assignment]  # mvt takes any columns
            ControlLayerFeature.id.label("id"), ControlLayerFeature.kind.label("kind"),
            ControlLayerFeature.name.label("name"))
        cached = _remember(key, None, dialect.tile_statement(source, spec))
    return dialect.mvt(session, cached[1], spec)


# --- the tile statements, built once ---------------------------------------------------------------------------
# Building the statement through the View (visibility subqueries, the tile's SQL) cost more than running it: a
# street tile's SQL takes a fraction of a millisecond. So each statement is built once per what it depends on —
# the reader's visibility (`_visibility_key`: the policy object, the role, the divisions: everything View's clauses
# read) and the tile's shape (points or polygons, layer, matrix set) — with the tile's position bound at run time.
# SQLAlchemy then finds its compiled form in its cache and psycopg prepares it on the server.
_STATEMENTS: dict[tuple[Any, ...], tuple[Any, Select[Any]]] = {}  # key → (the policy it was built with, stmt)
_MAX_STATEMENTS = 1024  # distinct (role, divisions) × shapes; forgotten all at once past it


def _visibility_key(view: View) -> tuple[Any, ...]:
    """Two views with equal keys build equal clauses (`View` reads only the policy, the role and the divisions
    of its actor; the policy is compared by identity: a reloaded profile is a new key)."""
    actor = view.actor
    return (id(view.policy), None if actor is None else (actor.role, tuple(sorted(actor.divisions))))


def _statement(dialect: Dialect, view: View, spec: TileSpec, *, marked: bool = False) -> Select[Any]:
    key = (dialect.name, "marked" if marked else "parcels", _visibility_key(view), spec.shape())
    cached = _STATEMENTS.get(key)
    if cached is None or cached[0] is not view.policy:  # the policy is kept alive with it: its id stays its own
        if marked:
            code = None if spec.points else _latest(view, Project.code)
            source = cells.marked_parcels(view, _latest(view, Project.current_stage), code)
        else:
            source = parcel_rows(view, spec.points)
        cached = _remember(key, view.policy, dialect.tile_statement(source, spec))
    return cached[1]


def _cell_statement(dialect: Dialect, view: View, spec: TileSpec) -> Any:
    key = (dialect.name, "cells", _visibility_key(view), spec.shape())
    cached = _STATEMENTS.get(key)
    if cached is None or cached[0] is not view.policy:
        mixed = parcel_rows(view, True).where(ParcelRow.id.in_(cells.mixed_parcels()))
        cached = _remember(key, view.policy, dialect.cell_tile_statement(mixed, cells.cell_rows(view), spec))
    return cached[1]


def _remember(key: tuple[Any, ...], policy: Any, stmt: Select[Any]) -> tuple[Any, Select[Any]]:
    if len(_STATEMENTS) >= _MAX_STATEMENTS:
        _STATEMENTS.clear()
    _STATEMENTS[key] = (policy, stmt)
    return policy, stmt


def parcel_rows(view: View, points: bool) -> Select[Any]:
    """The rows of a parcel tile: without the code for a dot (fewer distinct cells)."""
    source = parcel_source(view)
    if points:
        return view.parcel_query(ParcelRow.id.label("id"), source.selected_columns.stage)
    return source


def ledger_state(session: Session, view: View) -> tuple[Any, ...]:
    """The last ledger event the caller may see: every change of a parcel, a link, a result or a stage appends an
    event, so what a caller's tile shows can only change when this moves (the tile's ETag carries it). A change
    hidden from the caller leaves their tiles — and this — as they were.

    The caller's last event can only move when the log's head does (events are appended, never changed), so it is
    computed again only then: the head is one probe of the primary key, where the caller's own maximum may walk
    back over many events it may not see (a district user's last event can be far behind the head)."""
    head = merkle.size(session)  # the highest seq of the one log (the tree's size): no row's content is read
    per_db = _LEDGER_STATES.setdefault(session.get_bind(), {})
    key = _visibility_key(view)
    known = per_db.get(key)
    if known is not None and known[0] == head and known[1] is view.policy:
        return known[2]
    state = (session.execute(view.event_query().with_only_columns(func.max(Event.seq))).scalar(),)
    if len(per_db) >= _MAX_STATEMENTS:
        per_db.clear()
    per_db[key] = (head, view.policy, state)
    return state


# per engine (a process may serve several databases: tests, tools), per visibility: (head, policy, state)
_LEDGER_STATES: WeakKeyDictionary[Any, dict[tuple[Any, ...], tuple[Any, Any, tuple[Any, ...]]]] = WeakKeyDictionary()


def control_state(session: Session) -> tuple[Any, ...]:
    """Control layers are replaced whole on import: their count and highest id change with every import."""
    return tuple(session.execute(select(func.count(ControlLayerFeature.id), func.max(ControlLayerFeature.id))).one())
