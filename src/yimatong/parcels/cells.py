"""The map's dot cells, kept from the ledger: a low-zoom tile reads a few thousand stored cells instead of every
parcel under it (a city tile covers most of a million parcels: scanning them took seconds per tile).

Two tables (migration 0016), brought up to date by `refresh` from the events after the position recorded in
`tile_cell_state` — the pattern of the stored warnings (supervision/stored.py):

- `tile_marks`, one row per linked parcel: what its dot depends on — its latest project's stage and division,
  its links' confidentiality, its cell at the finest stored level of each tile matrix set. A parcel is *plain*
  when all its links share one division and one confidentiality: every reader then sees all of its links or none
  (`View.marked` says who), and its dot's stage is its latest project's for everyone who sees it.
- `tile_cells`: per tile matrix set, level (zoom + 6, `domain/tilegrid.py`), cell, division, confidentiality and
  stage, the number of plain parcels and the lowest parcel id. The finest level is counted from the marks, each
  coarser one from the four cells under it, so an update re-counts only the cells the changed parcels were or
  are in, level by level.

A tile takes its dots from the cells only when they are current for the ledger head it reads (`is_current`);
parcels that are not plain (several districts or confidentialities: rare) are still read with the full
visibility rules and added to the same cells. Until the store is current — a write just committed, the first
build after an upgrade — the tile is computed from the parcels as before: slower, never different.

Which parcels an update re-reads: those linked to the projects the new events name (`domain.events.codes_named`),
those whose mark names one of these projects as latest (a parcel moved away by a merge or split), and those an
event names itself (`parcel_id`). Every change of a parcel, a link, a result or a stage is such an event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    Select,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain import tilegrid
from yimatong.domain.enums import Confidentiality
from yimatong.domain.events import codes_named
from yimatong.ledger import merkle
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import (
    Event,
    Parcel,
    Project,
    ProjectParcel,
    Result,
    TileCell,
    TileCellState,
    TileMark,
)
from yimatong.uow import UnitOfWork
from yimatong.uow import run as uow_run

log = logging.getLogger(__name__)

SYSTEM = Actor("system:tiles", "admin")
# The finest zoom served from cells (the last dot zoom below the Changde profile's polygon zoom, 13). At 1 000 000
# parcels (PostGIS, one district tile) a z12 dot tile took 30 ms through the marks, 43 ms by the full rules; a
# district view needs a dozen of them, which kept the map's z12 step over a second.
MAX_ZOOM = 12
# The finest zoom whose tiles read parcels through their marks. Measured at 1 000 000 parcels (PostGIS, one
# district tile): z13 polygons 12 ms against 17 by the full rules, z14 3.5 against 4.6; at z16 (a dozen parcels)
# both take under a millisecond and checking that the marks are current costs 0.4 ms more.
MARKS_MAX_ZOOM = 14
FINEST = tilegrid.level_of(MAX_ZOOM)
COARSEST = tilegrid.level_of(0)
GRIDS = ((tilegrid.TMS_IDS[tilegrid.MERCATOR], tilegrid.MERCATOR, TileMark.m_col, TileMark.m_row),
         (tilegrid.TMS_IDS[tilegrid.GEOGRAPHIC], tilegrid.GEOGRAPHIC, TileMark.g_col, TileMark.g_row))
LOCK_KEY = 7240531  # an advisory lock key (storage/db.py and ledger/log.py hold 7240529 and 7240530)
FULL_ABOVE = 50_000  # parcels touched at once beyond which counting every cell again is cheaper
EVENT_BATCH = 20_000
CHUNK = 500          # ids or cells per IN list
STREAM = 20_000      # link rows per step of a full build
_BULK = {"synchronize_session": False}


def serves(z: int, polygon_zoom: int) -> bool:
    """Whether tiles of zoom z are dots that the cells can answer."""
    return z < polygon_zoom and z <= MAX_ZOOM


# --- reading ----------------------------------------------------------------------------------------------------

# The grid the stored cells were counted in: a store counted in another (a changed cell size or finest zoom) is
# not current and is built again in full. Stored with the position: "<grid>:<seq>".
GRID = f"{tilegrid.CELL}/{tilegrid.EXTENT}/{MAX_ZOOM}"


def _position(value: str | None) -> int | None:
    grid, _, seq = (value or "").rpartition(":")
    return int(seq) if grid == GRID and seq.isdigit() else None


def _state(session: Session) -> int | None:
    return _position(session.execute(select(TileCellState.value).where(TileCellState.key == "seq")).scalar())


def is_current(session: Session) -> bool:
    """The cells hold every event of the ledger as this session reads it (one round trip: it precedes every
    tile, some of which take a millisecond)."""
    state = select(TileCellState.value).where(TileCellState.key == "seq").scalar_subquery()
    head = select(func.max(Event.seq)).scalar_subquery()
    have, seq = session.execute(select(state, head)).one()
    return _position(have) == int(seq or 0)


def cell_rows(view: View) -> Select[Any]:
    """The stored cells of one tile the caller may see, in the tile's cell coordinates (`_cx`, `_cy`: -1 … 64,
    the ring outside being the tile's buffer), with `id`, `n` and `stage`; the tile's position is bound
    (`tile_params`)."""
    def b(name: str) -> Any:
        return bindparam(name, type_=TileCell.col.type)

    return (select((TileCell.col - b("c_x0")).label("_cx"), (TileCell.row - b("c_y0")).label("_cy"),
                   TileCell.min_id.label("id"), TileCell.n.label("n"), func.nullif(TileCell.stage, "").label("stage"))
            .where(TileCell.tms == b("c_tms"), TileCell.level == b("c_level"),
                   TileCell.tile_col.between(b("c_tx0"), b("c_tx1")), TileCell.tile_row.between(b("c_ty0"), b("c_ty1")),
                   TileCell.col.between(b("c_col0"), b("c_col1")), TileCell.row.between(b("c_row0"), b("c_row1")),
                   view.marked(TileCell.division, TileCell.conf, TileCell.owner_role)))


def tile_params(z: int, x: int, y: int, tms: str) -> dict[str, int]:
    col0, col1, row0, row1 = tilegrid.tile_cell_range(x, y)
    per = tilegrid.CELLS_PER_TILE
    return {"c_tms": tilegrid.TMS_IDS[tms], "c_level": tilegrid.level_of(z), "c_x0": x * per, "c_y0": y * per,
            "c_tx0": x - 1, "c_tx1": x + 1, "c_ty0": y - 1, "c_ty1": y + 1,
            "c_col0": col0, "c_col1": col1, "c_row0": row0, "c_row1": row1}


def marked_parcels(view: View, latest_stage: Any, latest_code: Any | None) -> Select[Any]:
    """The visible parcels with `id`, `stage` (and `code` unless None) read from their marks: a plain parcel's
    visibility by `View.marked`, its stage and project from the mark; a parcel that is not plain by the full rules
    (`View.parcels`, and the given subqueries of its latest visible project — evaluated for those rows only)."""
    by_mark = and_(TileMark.plain, view.marked(TileMark.division, TileMark.conf, TileMark.owner_role))
    columns = [Parcel.id.label("id"), case((TileMark.plain, TileMark.stage), else_=latest_stage).label("stage")]
    stmt = select(*columns).select_from(Parcel).join(TileMark, TileMark.parcel_id == Parcel.id)
    if latest_code is not None:
        stmt = (stmt.add_columns(case((TileMark.plain, Project.code), else_=latest_code).label("code"))
                .join(Project, Project.id == TileMark.project_id))
    return stmt.where(or_(by_mark, and_(TileMark.plain == false(), view.parcels())))


def mixed_parcels() -> Any:
    """Ids of the parcels the cells leave out (not plain): read with the full visibility rules."""
    return select(TileMark.parcel_id).where(TileMark.plain == false())


# --- keeping them current ---------------------------------------------------------------------------------------

_RUNNING: dict[str, threading.Lock] = {}
_RUNNING_LOCK = threading.Lock()


def refresh(app: App) -> bool:
    """Bring the cells up to date; False when another thread or process is doing it (the caller reads the
    parcels meanwhile) or it failed (the next caller tries again)."""
    with app.db.read() as session:
        if is_current(session):
            return True
    with _RUNNING_LOCK:
        lock = _RUNNING.setdefault(app.db.url, threading.Lock())
    if not lock.acquire(blocking=False):
        return False
    try:
        return bool(uow_run(app, SYSTEM, update, exclusive=False))
    except Exception:  # a failed update leaves the store as it was (one transaction): tiles read the parcels
        log.exception("tile cells: update failed")
        return False
    finally:
        lock.release()


_THREADS: dict[str, threading.Thread] = {}


def refresh_in_background(app: App) -> threading.Thread:
    """`refresh` in a thread, one at a time per database (at start-up: the first build after an upgrade or the
    events since the last run; after a tile found the cells behind)."""
    def run() -> None:
        with contextlib.suppress(Exception):
            refresh(app)

    with _RUNNING_LOCK:
        running = _THREADS.get(app.db.url)
        if running is not None and running.is_alive():
            return running
        thread = _THREADS[app.db.url] = threading.Thread(target=run, name="ymt-tile-cells", daemon=True)
        thread.start()
    return thread


def update(uow: UnitOfWork) -> bool:
    """Apply the events after the stored position, in one transaction (PostgreSQL: one updater at a time by an
    advisory lock; the others return at once and read the parcels). True when the cells are current after it."""
    session = uow.session
    if not dialect_of(session).try_lock(session, LOCK_KEY):
        return False
    have, head = _state(session), merkle.size(session)
    if have == head:
        return True
    if have is None:
        _build_all(session)
    else:
        touched = _touched(session, have, head)
        if len(touched) > FULL_ABOVE:
            _build_all(session)
        elif touched:
            _update_parcels(session, sorted(touched))
    session.merge(TileCellState(key="seq", value=f"{GRID}:{head}"))
    return True


def _touched(session: Session, after: int, head: int) -> set[int]:
    codes: set[str] = set()
    parcels: set[int] = set()
    while after < head:
        rows = session.execute(select(Event.seq, Event.type, Event.code, Event.data)
                               .where(Event.seq > after, Event.seq <= head).order_by(Event.seq).limit(EVENT_BATCH)).all()
        if not rows:
            break
        for _, etype, code, data in rows:
            codes |= codes_named(etype, code, data)
            if '"parcel_id"' in data:
                pid = json.loads(data).get("parcel_id")
                if isinstance(pid, int):
                    parcels.add(pid)
        after = rows[-1][0]
    wanted = sorted(codes)
    for i in range(0, len(wanted), CHUNK):
        ids = select(Project.id).where(Project.code.in_(wanted[i:i + CHUNK])).scalar_subquery()
        parcels.update(session.execute(select(ProjectParcel.parcel_id).where(ProjectParcel.project_id.in_(ids)))
                       .scalars())
        parcels.update(session.execute(select(TileMark.parcel_id).where(TileMark.project_id.in_(ids))).scalars())
    return parcels


def _update_parcels(session: Session, parcel_ids: Sequence[int]) -> None:
    """Marks of these parcels computed again; the cells they left or entered counted again."""
    old: dict[int, set[tuple[int, int]]] = {tms: set() for tms, *_ in GRIDS}
    for i in range(0, len(parcel_ids), CHUNK):
        chunk = list(parcel_ids[i:i + CHUNK])
        for tms, _, col, row in GRIDS:
            old[tms].update((c, r) for c, r in session.execute(
                select(col, row).where(TileMark.parcel_id.in_(chunk), TileMark.plain)))
        session.execute(delete(TileMark).where(TileMark.parcel_id.in_(chunk)), execution_options=_BULK)
        marks = list(_marks(_links(session, chunk)))
        if marks:
            session.execute(insert(TileMark), marks)
        for tms, *_ in GRIDS:
            old[tms].update((m[_COL[tms]], m[_ROW[tms]]) for m in marks if m["plain"])
    for tms, _, col, row in GRIDS:
        _recount(session, tms, col, row, old[tms])


_COL = {tms: col.key for tms, _, col, _ in GRIDS}
_ROW = {tms: row.key for tms, _, _, row in GRIDS}


def _recount(session: Session, tms: int, col: Any, row: Any, cells: set[tuple[int, int]]) -> None:
    """Count the given finest-level cells again from the marks, then each coarser cell above them from the four
    under it."""
    level = FINEST
    while cells and level >= COARSEST:
        todo = sorted(cells)
        for i in range(0, len(todo), CHUNK):
            chunk = todo[i:i + CHUNK]
            session.execute(delete(TileCell).where(TileCell.tms == tms, TileCell.level == level,
                                                   tuple_(TileCell.col, TileCell.row).in_(chunk)),
                            execution_options=_BULK)
            if level == FINEST:
                source = _from_marks(tms, col, row, tuple_(col, row).in_(chunk))
            else:
                children = [(2 * c + dx, 2 * r + dy) for c, r in chunk for dx in (0, 1) for dy in (0, 1)]
                source = _from_finer(tms, level, tuple_(TileCell.col, TileCell.row).in_(children))
            session.execute(insert(TileCell).from_select(_CELL_COLUMNS, source))
        cells = {(c >> 1, r >> 1) for c, r in cells}
        level -= 1


_CELL_COLUMNS = ["tms", "level", "col", "row", "division", "conf", "owner_role", "stage", "tile_col", "tile_row",
                 "n", "min_id"]


# Constants inside grouped expressions are written into the SQL, not bound: PostgreSQL matches a SELECT
# expression with its GROUP BY only when both are the same text (two bound parameters are two expressions).
_ONE: Any = literal_column("1")
_SHIFT: Any = literal_column(str(tilegrid.LEVEL_OFFSET))  # a cell's tile: col >> 7


def _from_marks(tms: int, col: Any, row: Any, where: Any) -> Select[Any]:
    stage = func.coalesce(TileMark.stage, literal_column("''"))
    return (select(literal(tms), literal(FINEST), col, row, TileMark.division, TileMark.conf, TileMark.owner_role,
                   stage, col.op(">>")(_SHIFT), row.op(">>")(_SHIFT), func.count(), func.min(TileMark.parcel_id))
            .where(TileMark.plain, where)
            .group_by(col, row, TileMark.division, TileMark.conf, TileMark.owner_role, stage))


def _from_finer(tms: int, level: int, where: Any) -> Select[Any]:
    col, row = TileCell.col.op(">>")(_ONE), TileCell.row.op(">>")(_ONE)
    return (select(literal(tms), literal(level), col, row, TileCell.division, TileCell.conf, TileCell.owner_role,
                   TileCell.stage, col.op(">>")(_SHIFT), row.op(">>")(_SHIFT), func.sum(TileCell.n),
                   func.min(TileCell.min_id))
            .where(TileCell.tms == tms, TileCell.level == level + 1, where)
            .group_by(col, row, TileCell.division, TileCell.conf, TileCell.owner_role, TileCell.stage))


def _build_all(session: Session) -> None:
    """Every mark and every cell from the data (the first build; a very large change)."""
    session.execute(delete(TileCell), execution_options=_BULK)
    session.execute(delete(TileMark), execution_options=_BULK)
    marked = 0
    for marks in _batches(_marks(_links(session, None)), STREAM):
        session.execute(insert(TileMark), marks)
        marked += len(marks)
    if not marked:  # a library without parcels (every new database): nothing to count, 26 statements saved
        return
    for tms, _, col, row in GRIDS:
        session.execute(insert(TileCell).from_select(_CELL_COLUMNS, _from_marks(tms, col, row, true())))
        for level in range(FINEST - 1, COARSEST - 1, -1):
            session.execute(insert(TileCell).from_select(_CELL_COLUMNS, _from_finer(tms, level, true())))


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _links(session: Session, parcel_ids: list[int] | None) -> Iterator[Any]:
    """Every link of these parcels (None: of all), ordered by parcel, with what a mark needs."""
    stmt = (select(ProjectParcel.parcel_id, ProjectParcel.project_id, Project.division, Project.current_stage,
                   Result.confidentiality, Result.created_role, Parcel.minx, Parcel.miny, Parcel.maxx, Parcel.maxy)
            .join(Project, Project.id == ProjectParcel.project_id)
            .join(Parcel, Parcel.id == ProjectParcel.parcel_id)
            .outerjoin(Result, Result.id == ProjectParcel.result_id)
            .order_by(ProjectParcel.parcel_id, ProjectParcel.project_id))
    if parcel_ids is not None:
        stmt = stmt.where(ProjectParcel.parcel_id.in_(parcel_ids))
    yield from session.execute(stmt.execution_options(yield_per=STREAM))


def _conf(confidentiality: str | None, created_role: str | None) -> tuple[str, str]:
    """A link's confidentiality as the visibility rules read it: without a result a link is seen as a public
    result's (View.links), a restricted result's by its submitting role too."""
    if confidentiality is None:
        return Confidentiality.PUBLIC.value, ""
    if confidentiality == Confidentiality.RESTRICTED:
        return Confidentiality.RESTRICTED.value, created_role or ""
    return str(confidentiality), ""


def _marks(links: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """One mark per parcel from its links (ordered by parcel, then project), cells computed per batch."""
    pending: list[dict[str, Any]] = []
    for mark in _group(links):
        pending.append(mark)
        if len(pending) >= STREAM:
            yield from _with_cells(pending)
            pending = []
    if pending:
        yield from _with_cells(pending)


def _group(links: Iterable[Any]) -> Iterator[dict[str, Any]]:
    current: int | None = None
    divisions: set[str] = set()
    confs: set[tuple[str, str]] = set()
    last: Any = None
    for link in links:
        if link.parcel_id != current:
            if last is not None:
                yield _mark(last, divisions, confs)
            current, divisions, confs = link.parcel_id, set(), set()
        divisions.add(link.division)
        confs.add(_conf(link.confidentiality, link.created_role))
        last = link  # ordered by project id: the last link is the latest project's
    if last is not None:
        yield _mark(last, divisions, confs)


def _mark(latest: Any, divisions: set[str], confs: set[tuple[str, str]]) -> dict[str, Any]:
    conf, owner = next(iter(confs)) if len(confs) == 1 else _conf(latest.confidentiality, latest.created_role)
    return {"parcel_id": latest.parcel_id, "project_id": latest.project_id,
            "plain": len(divisions) == 1 and len(confs) == 1, "division": latest.division, "conf": conf,
            "owner_role": owner, "stage": latest.current_stage,
            "_lon": (latest.minx + latest.maxx) / 2, "_lat": (latest.miny + latest.maxy) / 2}


def _with_cells(marks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    lon = np.array([m.pop("_lon") for m in marks])
    lat = np.array([m.pop("_lat") for m in marks])
    for _, name, col, row in GRIDS:
        cols, rows = tilegrid.cells(lon, lat, name, FINEST)
        for m, c, r in zip(marks, cols.tolist(), rows.tolist(), strict=True):
            m[col.key] = c
            m[row.key] = r
    yield from marks
