"""Engine and transactions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import contextvars
import functools
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, bindparam, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from yimatong.storage.dialect import dialect_for, dialect_of
from yimatong.storage.files import ensure_private_file, private_file_mode


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` as the CLI contract says; use the psycopg 3 driver for it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, begin: str = "IMMEDIATE", wait_seconds: float = 60.0,
                bound_lock_waits: bool = False) -> Engine:
    """`bound_lock_waits` (PostgreSQL): every lock a statement of this engine waits for is waited for at most
    wait_seconds (the connection's `lock_timeout`), then the statement fails as busy (a 503 with Retry-After).
    Set once per connection rather than by a `SET LOCAL` in every transaction: that was one round trip more
    in every write (registration's hot path); a transaction that needs another bound still sets its own."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, begin, wait_seconds)
    # jit=off: PostgreSQL JIT-compiles a statement whose estimated cost passes jit_above_cost; ours are short
    # queries whose estimates (visibility subplans, spatial predicates) pass it anyway, and compiling took 10-500 ms
    # of a 5 ms page (an OGC filtered page over most of 100 000 parcels: 0.6 s with JIT, 0.2 s without).
    options = ["-c jit=off"]
    if bound_lock_waits:
        options.append(f"-c lock_timeout={max(1, int(wait_seconds * 1000))}")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                         connect_args={"options": " ".join(options)})


def _sqlite_engine(url: str, begin: str, wait_seconds: float) -> Engine:
    db_path = make_url(url).database
    if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
        # created 0600 before SQLite opens it (SQLite would use the umask; its -wal/-shm copy the file's mode)
        ensure_private_file(Path(db_path))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": wait_seconds}, pool_size=10,
                           max_overflow=20)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control from pysqlite so that we can BEGIN IMMEDIATE ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")  # then "database is locked": a 503
        _ensure_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        dialect_for("sqlite").on_connect(dbapi_conn)  # the SQL functions of spatial filters (OGC API)
        if db_path and db_path != ":memory:":
            for suffix in ("-wal", "-shm"):  # left 0644 by an installation before 0600 was the rule
                private_file_mode(Path(db_path + suffix))

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the write lock at BEGIN (IMMEDIATE): no lock-upgrade deadlocks under concurrent
        # writers. The read engine begins DEFERRED and never blocks on writers in WAL mode.
        if begin == "IMMEDIATE":  # what is left of the write wait after queuing in this process
            conn.exec_driver_sql(f"PRAGMA busy_timeout={_WAIT_LEFT_MS.get(int(wait_seconds * 1000))}")
        conn.exec_driver_sql(f"BEGIN {begin}")

    return engine


def _ensure_wal(cur: sqlite3.Cursor) -> None:
    """Switch a database to WAL once. The switch needs the file to itself and SQLite does not wait for that
    (no busy handler), so a connection opened while another reads retries briefly instead of failing."""
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    for _ in range(100):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            time.sleep(0.05)
    cur.execute("PRAGMA journal_mode=WAL")


_WAIT_LEFT_MS: contextvars.ContextVar[int] = contextvars.ContextVar("ymt_sqlite_wait_left_ms")

WRITER_LOCK_KEY = 7240529  # an advisory lock key: arbitrary but fixed


class Database:
    """One engine and its session factory; `write()` and `read()` are the only ways in."""

    def __init__(self, url: str, write_wait_seconds: float = 60.0) -> None:
        self.url = normalize_url(url)
        self.write_wait_ms = max(1, int(write_wait_seconds * 1000))
        self.engine = make_engine(self.url, wait_seconds=write_wait_seconds, bound_lock_waits=True)
        self.read_engine = make_engine(self.url, "DEFERRED") if is_sqlite(self.engine) else self.engine
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._read_factory = sessionmaker(self.read_engine, expire_on_commit=False)
        self.sql = dialect_for(self.engine.dialect.name)  # the dialect layer, chosen once
        # SQLite: the writers of this process queue here, and only the one at the head waits in SQLite's busy
        # handler. That handler does not queue: each waiter looks again every 100 ms, so with four threads of
        # a server (and an import in another process) polling, one could miss every look for the whole write
        # wait and answer 503 although the lock was free most of the time (issue 16).
        self._writers = threading.RLock() if self.sql.single_writer else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self, exclusive: bool = False) -> Iterator[Session]:
        """A read-write transaction, committed on success, rolled back on any exception.

        Writers do not queue behind each other on PostgreSQL: what must be ordered is ordered by the rows it
        shares — a project's row lock (`uow.project`), a serial scope's counter row, a unique key — and the
        ledger by its sequencer (`ledger.sequencer`), not inside the writers' transactions. SQLite has one
        writer at a time anyway (BEGIN IMMEDIATE, waiting up to write_wait_seconds).

        `exclusive=True` takes the library-wide writers' lock (released at commit, waited for at most
        write_wait_seconds, then a 503): it serialises only the operations that take it — the administrative
        ones that must not run twice at once (signing-key rotation, `ymt init`'s hash choice) — never the
        ordinary writers."""
        with self._queued(), self._factory() as session, session.begin():
            # a busy row answers 503, never hangs: the engine's connections bound every lock wait (lock_timeout)
            if exclusive:
                self.sql.lock_for_writers(session, WRITER_LOCK_KEY, self.write_wait_ms)
            yield session

    @contextmanager
    def _queued(self) -> Iterator[None]:
        """SQLite: wait for this process's other writers (at most the write wait, then the 503 of a busy
        database), and give SQLite's busy handler only what is left of the wait."""
        if self._writers is None:
            yield
            return
        t = time.monotonic()
        if not self._writers.acquire(timeout=self.write_wait_ms / 1000):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        token = _WAIT_LEFT_MS.set(max(1, self.write_wait_ms - int((time.monotonic() - t) * 1000)))
        try:
            yield
        finally:
            _WAIT_LEFT_MS.reset(token)
            self._writers.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        # Closing (not rolling back) keeps loaded attributes readable after the block; the pool resets the
        # connection's transaction on return.
        with self._read_factory() as session:
            yield session

    def ping(self) -> None:
        """Raise unless the database answers (readiness)."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def is_busy(exc: BaseException) -> bool:
    """A write gave up waiting for another one (PostgreSQL lock_timeout, SQLite busy_timeout)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "55P03" or "database is locked" in str(orig or exc)


def insert_together(session: Session, parts: Sequence[tuple[Table, list[dict[str, Any]]]]) -> None:
    """Insert rows into several tables (none needing what another returns). Where a WITH clause may write
    (PostgreSQL), the tables given one row each go in one statement — one round trip instead of one per table:
    the hot path of registration; a table given several rows gets its own multi-row insert, so that their ids
    follow their order (the parts of a WITH clause run in no defined order). Elsewhere one insert per table."""
    parts = [(t, rows) for t, rows in parts if rows]
    single = [(t, rows) for t, rows in parts if len(rows) == 1] if dialect_of(session).writable_ctes else []
    if len(single) < 2:
        single = []
    for t, rows in parts:
        if not any(t is s for s, _ in single):
            session.execute(insert(t), rows)
    if single:
        params = {f"p{i}_{col}": value for i, (_, rows) in enumerate(single) for col, value in rows[0].items()}
        session.execute(_together(tuple((t, tuple(rows[0])) for t, rows in single)), params)


@functools.lru_cache(maxsize=64)
def _together(shape: tuple[tuple[Table, tuple[str, ...]], ...]) -> Any:
    """The statement of `insert_together` for one shape (tables and their columns), built once: single-row
    INSERTs with a bound parameter per value, all but the last in the WITH clause — a form SQLAlchemy compiles
    once and caches (a multi-row VALUES it compiles on every call)."""
    inserts = [insert(t).values({c: bindparam(f"p{i}_{c}", type_=t.c[c].type) for c in cols})
               for i, (t, cols) in enumerate(shape)]
    *first, last = inserts
    return last.add_cte(*(stmt.cte(f"w{k}") for k, stmt in enumerate(first)))
