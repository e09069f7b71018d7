"""The one dialect layer: everything that is spelt differently on SQLite and on PostgreSQL + PostGIS.

Services never branch on the database. They ask `dialect_of(session)` (or `Database.sql`) for the operation and
get the implementation chosen once per engine: spatial candidates and exact tests, spatial index maintenance,
claims that skip rows other workers hold, the writer's lock. The same contract test suite
(`tests/storage/test_dialect_contract.py`) runs against both.

SQLite: an R*Tree per spatial table (`<table>_rtree`, maintained here, no triggers) gives bounding-box candidates;
exact predicates run in Shapely on the candidates. There is one writer at a time (BEGIN IMMEDIATE), so claims
need no row locks.
PostgreSQL: a PostGIS `geom` column with a GiST index answers exact predicates in the database; claims use
FOR UPDATE SKIP LOCKED so that several workers never take the same row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import mapbox_vector_tile
import numpy as np
import shapely
from shapely import wkb
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    LargeBinary,
    Select,
    Table,
    TextClause,
    and_,
    bindparam,
    false,
    func,
    literal,
    literal_column,
    not_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from typing_extensions import override

from yimatong.domain import tilegrid
from yimatong.storage.models import Parcel

BBox = tuple[float, float, float, float]
SPATIAL_TABLES = ("parcels", "control_features")
# CQL2 spatial functions → the relation of a row's geometry to the literal (S_WITHIN: the row within the literal)
SPATIAL_FUNCTIONS = {"s_intersects": "ST_Intersects", "s_within": "ST_Within", "s_contains": "ST_Contains",
                     "s_equals": "ST_Equals", "s_touches": "ST_Touches", "s_crosses": "ST_Crosses",
                     "s_overlaps": "ST_Overlaps"}
MERCATOR_HALF = tilegrid.MERCATOR_HALF  # half the Web Mercator world (EPSG:3857), metres
EARTH_RADIUS = tilegrid.EARTH_RADIUS


GEOGRAPHIC_TMS = "CGCS2000Quad"  # the geographic tile matrix set in EPSG:4490 (see TileSpec)


@dataclass(frozen=True)
class TileSpec:
    """One vector tile: z/x/y (y from the top) of a tile matrix set, the MVT layer name, extent and buffer in tile
    units. `points`: each row as one point at the centre of its box, merged per grid cell of `cell` units with a
    count `n` (low zooms: every parcel shown, none clipped away).

    `tms`: WebMercatorQuad (OGC 17-083r4 Annex D.1, EPSG:3857) or CGCS2000Quad — WorldCRS84Quad's layout
    (Annex D.2: two 180° tiles at level 0, each level halves them) over the CGCS2000 geographic CRS (EPSG:4490),
    the CRS our geometries are stored in: tile units are then linear in longitude and latitude."""

    z: int
    x: int
    y: int
    layer: str
    table: str = "parcels"
    extent: int = tilegrid.EXTENT
    buffer: int = 64
    points: bool = False
    # 64 of 4 096 units: a 512-pixel tile holds 64 × 64 cells, one dot per 8 × 8 pixels — the map draws a dot of
    # 1.5–8 px by its count, so finer cells only add features nobody can tell apart (at 1 000 000 parcels a city
    # tile of 8-unit cells was 2.5 MB, every one of its dots decoded and drawn by the browser)
    cell: int = tilegrid.CELL  # the grid the stored cells count in (parcels/cells.py)
    tms: str = "WebMercatorQuad"

    @property
    def geographic(self) -> bool:
        return self.tms == GEOGRAPHIC_TMS

    def shape(self) -> tuple[Any, ...]:
        """What the tile statement's SQL depends on (everything but the tile's position: that is bound)."""
        return self.layer, self.table, self.extent, self.buffer, self.points, self.cell, self.geographic

    def native_bounds(self) -> BBox:
        """The tile in its matrix set's CRS, x (easting / longitude) first."""
        if self.geographic:
            size = 180.0 / (1 << self.z)
            minx, maxy = -180.0 + self.x * size, 90.0 - self.y * size
        else:
            size = 2 * MERCATOR_HALF / (1 << self.z)
            minx, maxy = -MERCATOR_HALF + self.x * size, MERCATOR_HALF - self.y * size
        return minx, maxy - size, minx + size, maxy

    def lonlat_bounds(self) -> BBox:
        """The tile with its buffer, in lon/lat: the rows to read."""
        minx, miny, maxx, maxy = self.native_bounds()
        pad = (maxx - minx) * self.buffer / self.extent
        if self.geographic:
            return max(-180.0, minx - pad), max(-90.0, miny - pad), min(180.0, maxx + pad), min(90.0, maxy + pad)
        lon0, lat0 = mercator_to_lonlat(minx - pad, miny - pad)
        lon1, lat1 = mercator_to_lonlat(maxx + pad, maxy + pad)
        return lon0, lat0, lon1, lat1

    def params(self) -> dict[str, float]:
        """The bound parameters of a tile statement (`Dialect.tile_statement`): `b_*` the box of rows to read
        (lon/lat), `e_*` the tile in its CRS, `scale` tile units per CRS unit."""
        b, e = self.lonlat_bounds(), self.native_bounds()
        out = {f"b_{k}": v for k, v in zip(("minx", "miny", "maxx", "maxy"), b, strict=True)}
        out |= {f"e_{k}": v for k, v in zip(("minx", "miny", "maxx", "maxy"), e, strict=True)}
        out["scale"] = self.extent / (e[2] - e[0])
        return out


def mercator_to_lonlat(x: float, y: float) -> tuple[float, float]:
    lon = max(-180.0, min(180.0, x / MERCATOR_HALF * 180))
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)
    return lon, lat


class Dialect:
    """The operations every backend provides. One subclass per backend overrides what differs."""

    name: ClassVar[str] = ""
    #: True when `parcel_candidates` is already exact (no second test needed)
    exact_spatial: ClassVar[bool] = False

    # --- spatial index maintenance -------------------------------------------------------------------------------
    def index_geometry(self, session: Session, table: str, row_id: int, geom_wkb: bytes, bounds: BBox) -> None:
        raise NotImplementedError

    def unindex(self, session: Session, table: str, ids: Select[Any]) -> None:
        """Drop the spatial index entries of rows about to be deleted (`ids`: a select of their ids)."""
        raise NotImplementedError

    # --- spatial queries ---------------------------------------------------------------------------------------
    def parcel_candidates(self, bbox: BBox) -> Select[int]:
        """Ids of parcels that may intersect the bbox, answered from the spatial index."""
        raise NotImplementedError

    def parcel_ids_in_bbox(self, session: Session, bbox: BBox) -> list[int]:
        """Ids of parcels whose geometry really intersects the bbox."""
        ids = [r[0] for r in session.execute(self.parcel_candidates(bbox))]
        if self.exact_spatial or not ids:
            return ids
        area = box(*bbox)
        rows = session.execute(select(Parcel.id, Parcel.geom_wkb).where(Parcel.id.in_(ids)))
        return [pid for pid, g in rows if wkb.loads(g).intersects(area)]

    def parcels_in_bbox(self, session: Session, bbox: BBox) -> Select[int] | list[int]:
        """Parcels really intersecting the bbox, for `column.in_(…)`: a subquery where the database tests exactly,
        else the ids found (candidates from the index, exact test in Shapely)."""
        if self.exact_spatial:
            return self.parcel_candidates(bbox)
        return self.parcel_ids_in_bbox(session, bbox)

    def control_feature_filter(self, bbox: BBox) -> ColumnElement[bool] | TextClause:
        """A WHERE clause: control-layer features whose geometry (or its box) meets the bbox."""
        raise NotImplementedError

    # --- claims and locks ---------------------------------------------------------------------------------------
    def for_claim(self, stmt: Select[Any], of: Any) -> Select[Any]:  # noqa: ARG002 - PostgreSQL's uses `of`
        """Rows to claim for work: on PostgreSQL the ones no other transaction holds (SKIP LOCKED); SQLite has
        one writer, so every row it reads is its own."""
        return stmt

    def for_update(self, stmt: Select[Any], of: Any) -> Select[Any]:  # noqa: ARG002 - PostgreSQL's uses `of`
        """Rows to change after reading them, locked against concurrent writers until commit (PostgreSQL
        FOR UPDATE, waiting). SQLite has one writer at a time: nothing to add."""
        return stmt

    def lock_for_writers(self, session: Session, key: int, wait_ms: int) -> None:
        """Serialise the writers that take `key` (released at commit); give up after wait_ms."""

    def try_lock(self, session: Session, key: int) -> bool:  # noqa: ARG002 - PostgreSQL's uses them
        """Take the lock `key` until commit if no other transaction holds it; False (at once) if one does.
        SQLite's writer has the whole database already."""
        return True

    def wait_for_lock(self, session: Session, key: int, wait_ms: int) -> None:
        """Wait (at most wait_ms) until no transaction holds `key` exclusively, without excluding anyone who
        only waits too (a shared hold, released at commit). SQLite's writer has the whole database already."""

    #: True where one writer at a time is the database's own rule (SQLite): the ledger is appended inside the
    #: writer's transaction; elsewhere writers queue their events for the sequencer (`ledger.sequencer`)
    single_writer: ClassVar[bool] = False
    #: True where a statement may carry an INSERT/UPDATE in a WITH clause and read beside it (PostgreSQL): two
    #: round trips of a hot path in one (the ledger's counter and the previous hash, `ledger.log`)
    writable_ctes: ClassVar[bool] = False
    #: True where a subquery may be joined LATERAL (PostgreSQL; SQLite has none): per-row index probes the
    #: planner cannot turn into a scan of the whole table (`View.parcel_page`)
    lateral_joins: ClassVar[bool] = False

    def reserve_ids(self, session: Session, sequence: str, n: int) -> list[int]:
        """n fresh values of `sequence`, ascending (the caller assigns them in its own order)."""
        raise NotImplementedError

    # --- OGC filters and vector tiles ----------------------------------------------------------------------
    def on_connect(self, dbapi_conn: Any) -> None:
        """Set up a new DBAPI connection (SQL functions the other methods rely on)."""

    def like(self, expr: Any, pattern: str) -> ColumnElement[bool]:
        """CQL2 LIKE: case-sensitive, `%` and `_` wildcards, `\\` escapes."""
        return expr.like(pattern, escape="\\")

    def box_clause(self, table: str, bbox: BBox) -> ColumnElement[bool]:
        """Rows of a spatial table whose box meets `bbox` (an index-only prefilter)."""
        raise NotImplementedError

    def spatial_clause(self, table: str, op: str, geom: BaseGeometry) -> ColumnElement[bool]:
        """A WHERE clause: the row's geometry in relation `op` (a CQL2 spatial function) to `geom` (lon/lat)."""
        raise NotImplementedError

    def tile_statement(self, source: Select[Any], spec: TileSpec) -> Select[Any]:
        """The statement of the tiles of `spec`'s shape (`TileSpec.shape`) over the rows of `source` (built by
        the visibility layer: an `id` column and the attribute columns). The tile's position is a bound parameter
        (`TileSpec.params`): build it once per source and shape, run it for every tile (`mvt`) — SQLAlchemy then
        compiles it once and the driver may prepare it."""
        raise NotImplementedError

    def mvt(self, session: Session, stmt: Select[Any], spec: TileSpec) -> bytes:
        """The Mapbox Vector Tile `spec` from a `tile_statement` of its shape; geometries clipped, snapped to the
        tile grid and simplified by it."""
        raise NotImplementedError

    def cell_tile_statement(self, source: Select[Any], cells: Select[Any], spec: TileSpec) -> Any:
        """A dot tile (`spec.points`) from stored cells and parcels together: `cells` gives counted cells of the
        tile (`_cx`, `_cy`, `id`, `n`, `stage`; parcels/cells.py), `source` the parcels the cells leave out, as
        for `tile_statement`; the two are merged per cell and stage (counts added, the lowest id kept)."""
        raise NotImplementedError

    def mvt_cells(self, session: Session, stmt: Any, spec: TileSpec, params: dict[str, Any]) -> bytes:
        """The tile of a `cell_tile_statement`; `params` binds the cells' position."""
        raise NotImplementedError

    # --- upserts ------------------------------------------------------------------------------------------------
    _insert: ClassVar[Any] = None  # the dialect's INSERT construct with ON CONFLICT

    def insert_or_lock(self, session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str],
                       touch: str, chunk: int = 500) -> None:
        """Insert rows; where a row with the same `keys` exists, keep it unchanged but lock it (a no-op update of
        `touch`). The lock matters on PostgreSQL: a concurrent transaction that deletes that row is waited for,
        and the insert then goes ahead instead of being silently dropped (ON CONFLICT DO NOTHING would be)."""
        for i in range(0, len(rows), chunk):
            stmt = self._insert(table).values(rows[i:i + chunk])
            # WHERE false: the existing row is locked (and a concurrent delete waited for) but not rewritten —
            # a no-op update would leave a dead row version behind every time
            session.execute(stmt.on_conflict_do_update(index_elements=keys, set_={touch: table.c[touch]},
                                                       where=false()))

    def scan_in_index_order(self, session: Session) -> None:
        """For the rest of the transaction, read through indexes in their order (claims: the first rows of an
        index range, LIMIT n), whatever the statistics say. SQLite plans those by the index anyway."""


class SQLiteDialect(Dialect):
    name = "sqlite"
    exact_spatial = False
    single_writer = True
    _insert = staticmethod(sqlite.insert)

    @override
    def index_geometry(self, session: Session, table: str, row_id: int, geom_wkb: bytes, bounds: BBox) -> None:
        _check_table(table)
        session.execute(text(f"INSERT INTO {table}_rtree (id, minx, maxx, miny, maxy) VALUES (:id, :a, :b, :c, :d)"),
                        {"id": row_id, "a": bounds[0], "b": bounds[2], "c": bounds[1], "d": bounds[3]})

    @override
    def unindex(self, session: Session, table: str, ids: Select[Any]) -> None:
        _check_table(table)
        compiled = ids.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        session.execute(text(f"DELETE FROM {table}_rtree WHERE id IN ({compiled})"))

    @override
    def parcel_candidates(self, bbox: BBox) -> Select[int]:
        minx, miny, maxx, maxy = bbox
        cond = text("parcels_rtree.maxx >= :minx AND parcels_rtree.minx <= :maxx AND parcels_rtree.maxy >= :miny "
                    "AND parcels_rtree.miny <= :maxy").bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        return select(literal_column("parcels_rtree.id")).select_from(text("parcels_rtree")).where(cond)

    @override
    def control_feature_filter(self, bbox: BBox) -> ColumnElement[bool] | TextClause:
        minx, miny, maxx, maxy = bbox
        return text("control_features.id IN (SELECT id FROM control_features_rtree WHERE maxx >= :a AND "
                    "minx <= :c AND maxy >= :b AND miny <= :d)").bindparams(a=minx, b=miny, c=maxx, d=maxy)

    @override
    def reserve_ids(self, session: Session, sequence: str, n: int) -> list[int]:
        # no sequences in SQLite; its single writer owns the table while it reserves
        if sequence != "pending_events_id_seq":
            raise ValueError(f"not a sequence of ours: {sequence}")
        last = session.execute(text("SELECT COALESCE(MAX(id), 0) FROM pending_events")).scalar_one()
        return list(range(int(last) + 1, int(last) + n + 1))

    @override
    def on_connect(self, dbapi_conn: Any) -> None:
        # the exact test of a spatial filter, run by SQLite on the R*Tree's candidates only (see spatial_clause)
        dbapi_conn.create_function("ymt_spatial", 3, _sqlite_spatial, deterministic=True)
        # CQL2 LIKE is case-sensitive; SQLite's LIKE folds ASCII case, GLOB does not
        dbapi_conn.create_function("ymt_like", 2, _sqlite_like, deterministic=True)

    @override
    def like(self, expr: Any, pattern: str) -> ColumnElement[bool]:
        return func.ymt_like(expr, literal(pattern)) == 1

    @override
    def box_clause(self, table: str, bbox: BBox) -> ColumnElement[bool]:
        _check_table(table)
        minx, miny, maxx, maxy = bbox
        cond = text(f"{table}_rtree.maxx >= :minx AND {table}_rtree.minx <= :maxx AND {table}_rtree.maxy >= :miny "
                    f"AND {table}_rtree.miny <= :maxy").bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        ids: Select[Any] = select(literal_column(f"{table}_rtree.id")).select_from(text(f"{table}_rtree")).where(cond)
        return literal_column(f"{table}.id").in_(ids)

    @override
    def spatial_clause(self, table: str, op: str, geom: BaseGeometry) -> ColumnElement[bool]:
        if op == "s_disjoint":
            return not_(self.spatial_clause(table, "s_intersects", geom))
        if op not in SPATIAL_FUNCTIONS:
            raise ValueError(op)
        exact = func.ymt_spatial(op, literal_column(f"{table}.geom_wkb"), literal(wkb.dumps(geom), LargeBinary))
        # every relation but disjointness needs the boxes to meet: the R*Tree answers that first
        return and_(self.box_clause(table, geom.bounds), exact == 1)

    @override
    def tile_statement(self, source: Select[Any], spec: TileSpec) -> Select[Any]:
        t = spec.table
        _check_table(t)
        cond = text(f"{t}_rtree.maxx >= :b_minx AND {t}_rtree.minx <= :b_maxx AND {t}_rtree.maxy >= :b_miny "
                    f"AND {t}_rtree.miny <= :b_maxy")
        ids: Select[Any] = select(literal_column(f"{t}_rtree.id")).select_from(text(f"{t}_rtree")).where(cond)
        if spec.points:
            cols = [literal_column(f"{t}.{c}", Float).label(c) for c in ("minx", "miny", "maxx", "maxy")]
        else:
            cols = [literal_column(f"{t}.geom_wkb", LargeBinary).label("_g")]
        return source.add_columns(*cols).where(literal_column(f"{t}.id").in_(ids))

    @override
    def mvt(self, session: Session, stmt: Select[Any], spec: TileSpec) -> bytes:
        rows = session.execute(stmt, spec.params()).mappings().all()
        features = list(_cells(rows, spec).values()) if spec.points else _polygons(rows, spec)
        return _encode(features, spec)

    @override
    def cell_tile_statement(self, source: Select[Any], cells: Select[Any], spec: TileSpec) -> Any:
        return self.tile_statement(source, spec), cells

    @override
    def mvt_cells(self, session: Session, stmt: Any, spec: TileSpec, params: dict[str, Any]) -> bytes:
        live, stored = stmt
        merged = _cells(session.execute(live, spec.params()).mappings().all(), spec)
        half = spec.cell / 2
        for row in session.execute(stored, params).mappings():
            attrs = {k: v for k, v in row.items() if k not in ("_cx", "_cy", "id", "n") and v is not None}
            key = (row["_cx"], row["_cy"], *sorted(attrs.items()))
            cell = merged.get(key)
            if cell is None:
                merged[key] = {"geometry": shapely.Point(row["_cx"] * spec.cell + half, row["_cy"] * spec.cell + half),
                               "id": row["id"], "properties": attrs | {"n": row["n"]}}
            else:
                cell["properties"]["n"] += row["n"]
                cell["id"] = min(cell["id"], row["id"])
        return _encode(list(merged.values()), spec)


# pg_advisory_xact_lock(key): released at commit or rollback.
_ADVISORY = text("SELECT pg_advisory_xact_lock(:key)")
_SEQUENCES = frozenset({"pending_events_id_seq"})
_TRY_ADVISORY = text("SELECT pg_try_advisory_xact_lock(:key)")
_SHARED_ADVISORY = text("SELECT pg_advisory_xact_lock_shared(:key)")
_NO_BITMAP = text("SET LOCAL enable_bitmapscan = off")
_NO_SEQSCAN = text("SET LOCAL enable_seqscan = off")
_GENERIC_PLANS = text("SET LOCAL plan_cache_mode = force_generic_plan")


class PostgresDialect(Dialect):
    name = "postgresql"
    exact_spatial = True
    _insert = staticmethod(postgresql.insert)

    @override
    def index_geometry(self, session: Session, table: str, row_id: int, geom_wkb: bytes, bounds: BBox) -> None:
        _check_table(table)
        session.execute(text(f"UPDATE {table} SET geom = ST_GeomFromWKB(:w, 4490) WHERE id = :id"),
                        {"w": geom_wkb, "id": row_id})

    @override
    def unindex(self, session: Session, table: str, ids: Select[Any]) -> None:
        """The GiST index goes with the rows: nothing to do."""

    @override
    def parcel_candidates(self, bbox: BBox) -> Select[int]:
        minx, miny, maxx, maxy = bbox
        env = text("ST_Intersects(parcels.geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490))").bindparams(
            minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        return select(Parcel.id).where(env)

    @override
    def control_feature_filter(self, bbox: BBox) -> ColumnElement[bool] | TextClause:
        minx, miny, maxx, maxy = bbox
        return text("ST_Intersects(control_features.geom, ST_MakeEnvelope(:a, :b, :c, :d, 4490))").bindparams(
            a=minx, b=miny, c=maxx, d=maxy)

    @override
    def for_claim(self, stmt: Select[Any], of: Any) -> Select[Any]:
        return stmt.with_for_update(skip_locked=True, of=of)

    @override
    def box_clause(self, table: str, bbox: BBox) -> ColumnElement[bool]:
        _check_table(table)
        minx, miny, maxx, maxy = bbox
        return literal_column(f"{table}.geom").op("&&")(func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4490))

    @override
    def spatial_clause(self, table: str, op: str, geom: BaseGeometry) -> ColumnElement[bool]:
        _check_table(table)
        if op == "s_disjoint":  # NOT ST_Intersects uses the GiST index for its complement
            return not_(self.spatial_clause(table, "s_intersects", geom))
        literal_geom = func.ST_GeomFromWKB(literal(wkb.dumps(geom), LargeBinary), 4490)
        return getattr(func, SPATIAL_FUNCTIONS[op])(literal_column(f"{table}.geom"), literal_geom)

    @override
    def tile_statement(self, source: Select[Any], spec: TileSpec) -> Select[Any]:
        t = spec.table
        _check_table(t)
        box_ = func.ST_MakeEnvelope(*_bound("b"), 4490)
        rows = source.where(literal_column(f"{t}.geom").op("&&")(box_))
        if spec.points:
            tile = _pg_cells(rows, spec)
        else:
            geom: Any = literal_column(f"{t}.geom")
            if not spec.geographic:  # CGCS2000Quad tiles are in the storage CRS: no reprojection
                geom = func.ST_Transform(geom, 3857)
            env = func.ST_MakeEnvelope(*_bound("e"), 4490 if spec.geographic else 3857)
            mvt_geom = func.ST_AsMVTGeom(geom, env, spec.extent, spec.buffer, True)
            tile = rows.add_columns(mvt_geom.label("geom")).subquery("t")
        return select(func.ST_AsMVT(literal_column("t"), spec.layer, spec.extent, "geom", "id")).select_from(tile)

    @override
    def mvt(self, session: Session, stmt: Select[Any], spec: TileSpec) -> bytes:
        if not spec.points:
            # A street tile runs in under a millisecond, and planning it again for each tile's bound box cost as
            # much (PostgreSQL keeps custom plans: it cannot tell a tile's box is always small). The generic plan
            # is the same index probe; dot tiles, whose plans depend on the box, keep custom plans.
            session.execute(_GENERIC_PLANS)
        out = session.execute(stmt, spec.params()).scalar()
        return bytes(out) if out is not None else b""

    @override
    def cell_tile_statement(self, source: Select[Any], cells: Select[Any], spec: TileSpec) -> Any:
        box_ = func.ST_MakeEnvelope(*_bound("b"), 4490)
        t = spec.table
        live = _pg_cell_groups(source.where(literal_column(f"{t}.geom").op("&&")(box_)), spec)
        stored = cells.subquery("c")
        names = ["_cx", "_cy", "id", "n", *(c.name for c in live.c if c.name not in ("_cx", "_cy", "id", "n"))]
        both = union_all(select(*(live.c[n] for n in names)), select(*(stored.c[n] for n in names))).subquery("u")
        attrs = [both.c[n] for n in names[4:]]
        half = spec.cell / 2
        point = func.ST_MakePoint(both.c._cx * spec.cell + half, both.c._cy * spec.cell + half)
        tile = (select(point.label("geom"), func.min(both.c.id).label("id"), func.sum(both.c.n).cast(Integer).label("n"), *attrs)
                .group_by(both.c._cx, both.c._cy, *attrs).subquery("t"))
        return select(func.ST_AsMVT(literal_column("t"), spec.layer, spec.extent, "geom", "id")).select_from(tile)

    @override
    def mvt_cells(self, session: Session, stmt: Any, spec: TileSpec, params: dict[str, Any]) -> bytes:
        out = session.execute(stmt, spec.params() | params).scalar()
        return bytes(out) if out is not None else b""

    @override
    def for_update(self, stmt: Select[Any], of: Any) -> Select[Any]:
        return stmt.with_for_update(of=of)

    @override
    def scan_in_index_order(self, session: Session) -> None:
        # Statistics lag behind a burst (an import makes 20 000 heads at once, ANALYZE comes later): the planner
        # then expects a few rows, takes a bitmap scan and sorts every due head to return 50 of them.
        session.execute(_NO_BITMAP)
        session.execute(_NO_SEQSCAN)

    writable_ctes = True
    lateral_joins = True

    @override
    def lock_for_writers(self, session: Session, key: int, wait_ms: int) -> None:
        session.execute(text(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
        session.execute(_ADVISORY, {"key": key})

    @override
    def try_lock(self, session: Session, key: int) -> bool:
        return bool(session.execute(_TRY_ADVISORY, {"key": key}).scalar())

    @override
    def wait_for_lock(self, session: Session, key: int, wait_ms: int) -> None:
        session.execute(text(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
        session.execute(_SHARED_ADVISORY, {"key": key})

    @override
    def reserve_ids(self, session: Session, sequence: str, n: int) -> list[int]:
        if sequence not in _SEQUENCES:  # put into SQL text: only ours
            raise ValueError(f"not a sequence of ours: {sequence}")
        rows = session.execute(text(f"SELECT nextval('{sequence}') FROM generate_series(1, :n)"), {"n": n})
        return sorted(int(v) for (v,) in rows)


def _bound(prefix: str) -> list[Any]:
    return [bindparam(f"{prefix}_{k}", type_=Float) for k in ("minx", "miny", "maxx", "maxy")]


def _pg_cell_groups(rows: Select[Any], spec: TileSpec) -> Any:
    """Low-zoom rows as grid-cell points in tile coordinates (the centre of each row's box, in Web Mercator by
    its formula: no reprojection of polygons), one per cell and attribute values, with their count `n`."""
    t = spec.table
    lon = (literal_column(f"{t}.minx", Float) + literal_column(f"{t}.maxx", Float)) / 2
    lat = (literal_column(f"{t}.miny", Float) + literal_column(f"{t}.maxy", Float)) / 2
    if spec.geographic:
        mx, my = lon, lat
    else:
        mx = lon * (MERCATOR_HALF / 180)
        my = func.ln(func.tan((lat + 90) * (math.pi / 360))) * EARTH_RADIUS
    minx, _, _, maxy = _bound("e")
    scale = bindparam("scale", type_=Float)
    cx = func.floor((mx - minx) * scale / spec.cell).cast(Integer).label("_cx")
    cy = func.floor((maxy - my) * scale / spec.cell).cast(Integer).label("_cy")
    inner = rows.add_columns(cx, cy).subquery("s")
    attrs = [c for c in inner.c if c.name not in ("id", "_cx", "_cy")]
    return (select(inner.c._cx, inner.c._cy, func.min(inner.c.id).label("id"), func.count().label("n"), *attrs)
            .where(inner.c._cx.between(-1, spec.extent // spec.cell), inner.c._cy.between(-1, spec.extent // spec.cell))
            .group_by(inner.c._cx, inner.c._cy, *attrs).subquery("g"))


def _pg_cells(rows: Select[Any], spec: TileSpec) -> Any:
    """The cells of `_pg_cell_groups` as points at their centres, the rows of ST_AsMVT."""
    groups = _pg_cell_groups(rows, spec)
    attrs = [c for c in groups.c if c.name not in ("id", "n", "_cx", "_cy")]
    half = spec.cell / 2
    point = func.ST_MakePoint(groups.c._cx * spec.cell + half, groups.c._cy * spec.cell + half)
    return select(point.label("geom"), groups.c.id, groups.c.n, *attrs).subquery("t")


def _tile_xy(lon: Any, lat: Any, spec: TileSpec) -> tuple[Any, Any]:
    """lon/lat (numpy arrays) → tile units, y down."""
    minx, _, maxx, maxy = spec.native_bounds()
    scale = spec.extent / (maxx - minx)
    if spec.geographic:
        return (np.asarray(lon) - minx) * scale, (maxy - np.asarray(lat)) * scale
    mx = np.asarray(lon) * (MERCATOR_HALF / 180)
    lat_r = np.radians(np.clip(np.asarray(lat), -85.06, 85.06))
    my = np.log(np.tan(np.pi / 4 + lat_r / 2)) * EARTH_RADIUS
    return (mx - minx) * scale, (maxy - my) * scale


def _attrs(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("id", "_g", "minx", "miny", "maxx", "maxy") and v is not None}


def _encode(features: list[dict[str, Any]], spec: TileSpec) -> bytes:
    if not features:  # as ST_AsMVT over no rows: an empty tile (the route answers 204)
        return b""
    return mapbox_vector_tile.encode([{"name": spec.layer, "features": features}],
                                     default_options={"extents": spec.extent, "y_coord_down": True})


def _cells(rows: Any, spec: TileSpec) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows as grid-cell points keyed by (column, row, attributes), with their count `n` and lowest id."""
    if not rows:
        return {}
    lon = np.array([(r["minx"] + r["maxx"]) / 2 for r in rows])
    lat = np.array([(r["miny"] + r["maxy"]) / 2 for r in rows])
    px, py = _tile_xy(lon, lat, spec)
    cx, cy = np.floor(px / spec.cell).astype(int), np.floor(py / spec.cell).astype(int)
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    n_cells = spec.extent // spec.cell
    for i, row in enumerate(rows):
        if not (-1 <= cx[i] <= n_cells and -1 <= cy[i] <= n_cells):
            continue
        attrs = _attrs(row)
        key = (int(cx[i]), int(cy[i]), *sorted(attrs.items()))
        cell = cells.get(key)
        if cell is None:
            half = spec.cell / 2
            cells[key] = {"geometry": shapely.Point(cx[i] * spec.cell + half, cy[i] * spec.cell + half),
                          "id": row["id"], "properties": attrs | {"n": 1}}
        else:
            cell["properties"]["n"] += 1
            cell["id"] = min(cell["id"], row["id"])
    return cells


def _polygons(rows: Any, spec: TileSpec) -> list[dict[str, Any]]:
    if not rows:
        return []
    geoms = shapely.from_wkb([r["_g"] for r in rows])

    def to_tile(xy: Any) -> Any:
        x, y = _tile_xy(xy[:, 0], xy[:, 1], spec)
        return np.column_stack([x, y])

    lo, hi = -spec.buffer, spec.extent + spec.buffer
    tiled = shapely.clip_by_rect(shapely.transform(geoms, to_tile), lo, lo, hi, hi)
    # snapped to the tile grid, as ST_AsMVTGeom does: the per-zoom simplification
    tiled = shapely.set_precision(tiled, 1.0)
    out = []
    for row, geom in zip(rows, tiled, strict=True):
        if geom is None or geom.is_empty or geom.area <= 0 and geom.geom_type.endswith("Polygon"):
            continue
        out.append({"geometry": geom, "id": row["id"], "properties": _attrs(row)})
    return out


@lru_cache(maxsize=64)
def _literal_geometry(data: bytes) -> BaseGeometry:
    geom = wkb.loads(data)
    shapely.prepare(geom)
    return geom


_RELATION = {  # the row's relation to the literal, asked of the prepared literal
    "s_intersects": lambda lit, row: shapely.intersects(lit, row),
    "s_within": lambda lit, row: shapely.contains(lit, row),
    "s_contains": lambda lit, row: shapely.within(lit, row),
    "s_equals": lambda lit, row: shapely.equals(lit, row),
    "s_touches": lambda lit, row: shapely.touches(lit, row),
    "s_crosses": lambda lit, row: shapely.crosses(lit, row),
    "s_overlaps": lambda lit, row: shapely.overlaps(lit, row),
}


def _sqlite_spatial(op: str, row_wkb: bytes | None, literal_wkb: bytes) -> int | None:
    if row_wkb is None:
        return None
    try:
        return int(bool(_RELATION[op](_literal_geometry(bytes(literal_wkb)), wkb.loads(bytes(row_wkb)))))
    except (KeyError, shapely.errors.GEOSException):
        return 0


def _sqlite_like(value: str | None, pattern: str) -> int | None:
    if value is None:
        return None
    return int(_like_regex(pattern).fullmatch(value) is not None)


@lru_cache(maxsize=256)
def _like_regex(pattern: str) -> Any:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _check_table(table: str) -> None:
    if table not in SPATIAL_TABLES:  # table names are put into SQL text: only ours
        raise ValueError(f"not a spatial table: {table}")


_DIALECTS: dict[str, Dialect] = {"sqlite": SQLiteDialect(), "postgresql": PostgresDialect()}


def dialect_for(name: str) -> Dialect:
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(f"unsupported database {name!r}: sqlite or postgresql") from None


def dialect_of(session: Session) -> Dialect:
    return dialect_for(session.get_bind().dialect.name)
