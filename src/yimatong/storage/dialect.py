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

from typing import Any, ClassVar

from shapely import wkb
from shapely.geometry import box
from sqlalchemy import ColumnElement, Select, Table, TextClause, false, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from typing_extensions import override

from yimatong.storage.models import Parcel

BBox = tuple[float, float, float, float]
SPATIAL_TABLES = ("parcels", "control_features")


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


# pg_advisory_xact_lock(key): released at commit or rollback.
_ADVISORY = text("SELECT pg_advisory_xact_lock(:key)")
_NO_BITMAP = text("SET LOCAL enable_bitmapscan = off")
_NO_SEQSCAN = text("SET LOCAL enable_seqscan = off")


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
    def for_update(self, stmt: Select[Any], of: Any) -> Select[Any]:
        return stmt.with_for_update(of=of)

    @override
    def scan_in_index_order(self, session: Session) -> None:
        # Statistics lag behind a burst (an import makes 20 000 heads at once, ANALYZE comes later): the planner
        # then expects a few rows, takes a bitmap scan and sorts every due head to return 50 of them.
        session.execute(_NO_BITMAP)
        session.execute(_NO_SEQSCAN)

    @override
    def lock_for_writers(self, session: Session, key: int, wait_ms: int) -> None:
        session.execute(text(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
        session.execute(_ADVISORY, {"key": key})


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
