"""Validation and repair of geometries from outside, within a time and memory budget.

GEOS validity is quadratic on some rings (a 20 000-vertex comb: 6.7 s) and repair grows with the number of
self-intersections (a random 5 000-vertex ring: 134 s and 5.9 GB with make_valid 'structure', over 10 min with
'linework'). No bound on vertices alone keeps that cheap, and a GEOS call cannot be interrupted, so:

- the O(n) checks (type, size limits, finite numbers, range) run here, in the caller's thread;
- a small geometry (≤ INLINE_VERTICES) that is already valid is finished here too (its validity check is cheap
  whatever its shape) — the common case, no process involved;
- everything else is validated and repaired in a worker process (forkserver: started once, then a fork per
  call) with an address-space limit (RLIMIT_AS) and a deadline per geometry and per request; a geometry over
  budget is refused naming its field, the worker is killed and a fresh one takes the rest.

Callers run this before they open a write transaction: nothing here touches the database.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeAlias

import shapely
from shapely.geometry.base import BaseGeometry

from yimatong.config import Settings
from yimatong.domain import geometry as geo

INLINE_VERTICES = 1_000  # is_valid of any ring this size costs milliseconds (a comb of 4 000 points: 0.26 s)


@dataclass(frozen=True)
class Budget:
    """Size limits and the time/memory budget of validation (from settings: see `budget_of`)."""

    limits: geo.Limits = field(default_factory=geo.Limits)
    seconds_per_geometry: float = 10.0
    seconds_per_request: float = 120.0
    memory_bytes: int = 1024 * 1024 * 1024


def budget_of(settings: Settings) -> Budget:
    return Budget(geo.Limits(settings.max_vertices_per_geometry, settings.max_parts_per_geometry,
                             settings.max_vertices_per_request),
                  settings.geometry_seconds, settings.geometry_request_seconds,
                  settings.geometry_memory_mb * 1024 * 1024)


def check_request_size(geoms: Sequence[BaseGeometry | None], field: str, limits: geo.Limits) -> None:
    """All geometries of one request together: over the limit, the request is refused whole (413)."""
    total = sum(int(shapely.get_num_coordinates(g)) for g in geoms if g is not None)
    if total > limits.vertices_per_request:
        raise geo.GeometryError(field, f"本次提交的地块共有 {total} 个顶点，超过每次 {limits.vertices_per_request} 个的"
                                       "上限（YMT_MAX_VERTICES_PER_REQUEST）：请分批提交", status=413)


Outcome: TypeAlias = BaseGeometry | geo.GeometryError


def check_geometries(items: Sequence[tuple[BaseGeometry, str]], budget: Budget,
                     check_china: bool = True) -> list[Outcome]:
    """Each (geometry in 4490, field) → the valid geometry or the GeometryError that refuses it; the order is kept.
    Raises GeometryError (413) only when the request as a whole is over its size or time budget."""
    out: list[Outcome | None] = [None] * len(items)
    heavy: list[int] = []
    for i, (geom, name) in enumerate(items):
        try:
            geo.precheck_polygon(geom, name, check_china, budget.limits)
        except geo.GeometryError as exc:
            out[i] = exc
            continue
        if shapely.get_num_coordinates(geom) <= INLINE_VERTICES and geom.is_valid:
            out[i] = geo.finish_polygon(geom, name)
        else:
            heavy.append(i)
    if heavy:
        for i, outcome in zip(heavy, _in_worker([items[i] for i in heavy], budget), strict=True):
            out[i] = outcome
    return out


def _in_worker(items: list[tuple[BaseGeometry, str]], budget: Budget) -> list[Outcome]:
    out: list[Outcome] = []
    deadline = time.monotonic() + budget.seconds_per_request
    worker: _Worker | None = None
    try:
        for geom, name in items:
            left = deadline - time.monotonic()
            if left <= 0:
                raise geo.GeometryError(name, f"几何校验总耗时超过本次请求 {budget.seconds_per_request:g} 秒的上限"
                                              "（YMT_GEOMETRY_REQUEST_SECONDS）：请分批提交或先简化图形", status=413)
            worker = worker or _Worker(budget.memory_bytes)
            outcome = worker.run(geom, name, min(budget.seconds_per_geometry, left))
            if outcome is None:  # over time, or the worker died (memory): it is gone, the next one starts fresh
                worker = None
                outcome = geo.GeometryError(name, f"几何图形过于复杂：校验与修复超过 {budget.seconds_per_geometry:g} 秒"
                                                  f"或 {budget.memory_bytes // 2**20} MB 的上限，未能完成。请在 GIS 软件中"
                                                  "修正自相交等问题或简化后再提交")
            out.append(outcome)
    finally:
        if worker is not None:
            worker.close()
    return out


_CONTEXT: Any = None


def _context() -> Any:
    """The forkserver, preloaded with shapely and this module: a fork of it costs milliseconds, and it is
    started from a clean single-threaded process (the server's threads are never forked)."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", __name__])
        _CONTEXT = ctx
    return _CONTEXT


class _Worker:
    def __init__(self, memory_bytes: int) -> None:
        self.conn, child = _context().Pipe()
        self.proc = _context().Process(target=_serve, args=(child, memory_bytes), daemon=True)
        self.proc.start()
        child.close()

    def run(self, geom: BaseGeometry, name: str, seconds: float) -> Outcome | None:
        try:
            self.conn.send((shapely.to_wkb(geom), name))
            if self.conn.poll(seconds):
                answer = self.conn.recv()
                if answer[0] == "ok":
                    return shapely.from_wkb(answer[1])
                return geo.GeometryError(answer[1], answer[2])
        except (EOFError, OSError):
            pass
        self.kill()
        return None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _serve(conn: Connection, memory_bytes: int) -> None:
    """The worker: geometries in (WKB, field), outcomes out, until told to stop."""
    _limit_address_space(memory_bytes)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        data, name = message
        try:
            conn.send(("ok", shapely.to_wkb(geo.finish_polygon(shapely.from_wkb(data), name))))
        except geo.GeometryError as exc:
            conn.send(("error", exc.field, exc.message))
        except MemoryError:
            return  # the parent sees the pipe close and refuses the geometry as over budget
        except shapely.errors.GEOSException as exc:
            if "bad_alloc" in str(exc):  # GEOS reports running out of address space so
                return
            conn.send(("error", name, f"几何图形无效且无法安全修复：{str(exc)[:200]}"))


def _limit_address_space(extra: int) -> None:
    """RLIMIT_AS = what the worker already maps + `extra`: GEOS then fails with bad_alloc instead of taking the
    machine (a 17 MB coordinate TXT once reached 13 GB)."""
    try:
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * resource.getpagesize()
    except OSError:  # not Linux: no measure of the mapping, no limit
        return
    limit = mapped + extra
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def validate_features(features: Sequence[Any], field: str, crs: int | None, budget: Budget) -> list[BaseGeometry]:
    """GeoJSON Features (a request's `parcels`) → valid polygons in 4490, all or nothing: raises GeometryError
    for the first refused one, with every refusal in `errors` (field, message). Run before the transaction."""
    shapes: list[tuple[BaseGeometry, str]] = []
    errors: list[tuple[str, str]] = []
    for i, feat in enumerate(features):
        name = f"{field}.{i}.geometry"
        try:
            shapes.append((geo.feature_to_shape(feat, name, crs), name))
        except geo.GeometryError as exc:
            errors.append((exc.field, exc.message))
    if errors:
        raise FeaturesRefused(errors)
    check_request_size([g for g, _ in shapes], field, budget.limits)
    outcomes = check_geometries(shapes, budget)
    errors = [(o.field, o.message) for o in outcomes if isinstance(o, geo.GeometryError)]
    if errors:
        raise FeaturesRefused(errors)
    return outcomes


class FeaturesRefused(geo.GeometryError):
    """Some features of a request refused: the first names the error, `errors` lists every one."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors[0][0], errors[0][1])
        self.errors = errors
