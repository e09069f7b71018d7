"""Geometry of parcels: coordinate systems, areas, validation and safe repair. Pure (Shapely 2 + pyproj).

Storage CRS is EPSG:4490 (CGCS2000 geographic, lon/lat). Inputs may be 4490, WGS84 (4326), a CGCS2000
3-degree Gauss-Krüger zone, with the zone number prefixed to the easting (EPSG:4513–4533, zones 25–45) or
without (EPSG:4534–4554), or a CGCS2000 6-degree zone (EPSG:4491–4501 prefixed, zones 13–23; EPSG:4502–4512
without prefix). Areas are planar areas in the 3-degree zone that covers the parcel.

Everything here is pure and may be slow on hostile input (GEOS validity is quadratic on some rings, repair
grows with the number of self-intersections): callers outside the core run `validate_polygon` under the budget
of `formats.geometry_check`, never inside a write transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

STORAGE_EPSG = 4490
GEOGRAPHIC = (4490, 4326)
PREFIXED = range(4513, 4534)      # zone 25..45, easting with zone prefix
UNPREFIXED = range(4534, 4555)    # zone 25..45 (CM 75E..135E), easting without prefix
# 6-degree zones 13..23 (EPSG:4491 "CGCS2000 / Gauss-Kruger zone 13" … 4501, false easting zone·10⁶ + 500 000;
# EPSG:4502 "CGCS2000 / Gauss-Kruger CM 75E" … 4512 without prefix). A 6° zone's central meridian 6z−3 is the
# 3° zone 2z−1's, so e.g. 6° zone 19 (CM 111°E, Changde) is EPSG:4546's projection with another false easting.
PREFIXED_6 = range(4491, 4502)
UNPREFIXED_6 = range(4502, 4513)
SQM_PER_MU = 10000 / 15
CHINA_BBOX = (73.0, 3.0, 136.0, 54.0)
REPAIR_TOLERANCE = 0.01           # a repair may change the area by less than 1 %


class GeometryError(ValueError):
    """A geometry refused. `status` 413 when it is refused for its size (the request is too large), else 422."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Size bounds on geometries from outside (settings YMT_MAX_VERTICES_PER_GEOMETRY, …). A cadastral parcel has
    tens to a few thousand vertices; a control-layer polygon (生态保护红线) can have tens of thousands."""

    vertices_per_geometry: int = 100_000
    parts_per_geometry: int = 1_000
    vertices_per_request: int = 1_000_000


def supported_epsg(epsg: int) -> bool:
    return any(epsg in r for r in (GEOGRAPHIC, PREFIXED, UNPREFIXED, PREFIXED_6, UNPREFIXED_6))


def projected(epsg: int) -> bool:
    return supported_epsg(epsg) and epsg not in GEOGRAPHIC


def zone_epsg(zone: int, prefixed: bool) -> int:
    if not 25 <= zone <= 45:
        raise GeometryError("crs", f"3度带带号 {zone} 超出中国范围（25–45）")
    return (4513 if prefixed else 4534) + zone - 25


def zone6_epsg(zone: int, prefixed: bool) -> int:
    if not 13 <= zone <= 23:
        raise GeometryError("crs", f"6度带带号 {zone} 超出中国范围（13–23）")
    return (4491 if prefixed else 4502) + zone - 13


def zone_of_epsg(epsg: int) -> tuple[int, int, bool]:
    """(zone width in degrees, zone number, prefixed) of a supported projected CRS."""
    for first, width, base, prefixed in ((4513, 3, 25, True), (4534, 3, 25, False), (4491, 6, 13, True),
                                         (4502, 6, 13, False)):
        if first <= epsg < first + (21 if width == 3 else 11):
            return width, base + epsg - first, prefixed
    raise GeometryError("crs", f"EPSG:{epsg} 不是 CGCS2000 高斯-克吕格分带坐标系")


def central_meridian(width: int, zone: int) -> int:
    return 3 * zone if width == 3 else 6 * zone - 3


def prefixed_zone(easting: float) -> tuple[int, int] | None:
    """(width, zone) read from an easting with the zone number in front (e.g. 37567207.8 → 3° zone 37,
    19567207.8 → 6° zone 19); None for an easting without prefix. China's 6° zones are 13–23, 3° zones 25–45,
    so the prefix alone tells the width."""
    if not 1e7 <= easting < 1e8:
        return None
    zone = int(easting // 1e6)
    if 13 <= zone <= 23:
        return 6, zone
    if 25 <= zone <= 45:
        return 3, zone
    raise GeometryError("crs", f"东坐标的带号前缀 {zone} 不是中国的 3度带（25–45）或 6度带（13–23）")


def gk_zone_for_lon(lon: float) -> int:
    return int(math.floor(lon / 3 + 0.5))


@lru_cache(maxsize=128)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(f"EPSG:{src}", f"EPSG:{dst}", always_xy=True)


def reproject(geom: BaseGeometry, src: int, dst: int) -> BaseGeometry:
    if src == dst:
        return geom
    t = _transformer(src, dst)
    # shapely.transform hands pyproj whole coordinate arrays at once (not one point at a time)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def detect_crs(sample_xy: tuple[float, float], declared: int | None = None, zone_hint: int | None = None) -> int:
    """The CRS of coordinates: the declared one if given, else guessed from the magnitudes."""
    if declared is not None:
        if not supported_epsg(declared):
            raise GeometryError("crs", f"不支持的坐标系 EPSG:{declared}；支持 4490、4326 和 CGCS2000 3度带 4513–4554、"
                                       "6度带 4491–4512")
        return declared
    x, y = sample_xy
    if not (math.isfinite(x) and math.isfinite(y)):
        raise GeometryError("crs", "坐标含非数值（NaN 或无穷大）")
    if -180 <= x <= 180 and -180 <= y <= 180:
        return STORAGE_EPSG  # degrees; swapped lat/lon is caught with a clear message by validate_polygon
    if 1e7 <= x < 1e8 and 0 < y < 1e7:
        width, zone = prefixed_zone(x)  # type: ignore[misc]
        return zone_epsg(zone, True) if width == 3 else zone6_epsg(zone, True)
    if 0 < x < 1e6 and 0 < y < 1e7:
        if zone_hint is None:
            raise GeometryError("crs", "投影坐标的东坐标不带带号，无法判断分带：请指明 crs（如 EPSG:4546）")
        return zone_epsg(zone_hint, prefixed=False)
    raise GeometryError("crs", f"无法从坐标 ({x}, {y}) 判断坐标系：请指明 crs")


def to_storage(geom: BaseGeometry, src_epsg: int) -> BaseGeometry:
    return reproject(geom, src_epsg, STORAGE_EPSG)


def from_storage(geom: BaseGeometry, dst_epsg: int) -> BaseGeometry:
    return reproject(geom, STORAGE_EPSG, dst_epsg)


def zone_of(geom_4490: BaseGeometry) -> int:
    return gk_zone_for_lon(geom_4490.centroid.x)


def area_m2(geom_4490: BaseGeometry) -> float:
    """Planar area in the 3-degree Gauss-Krüger zone of the parcel's centroid."""
    if geom_4490.is_empty:
        return 0.0
    return float(reproject(geom_4490, STORAGE_EPSG, zone_epsg(zone_of(geom_4490), prefixed=False)).area)


M_PER_DEG_LAT = 110_946.0   # CGCS2000 ellipsoid, mean near 30°N
M_PER_DEG_LON_EQ = 111_319.5


def approx_area_m2(geom_4490: BaseGeometry) -> float:
    """A fast local estimate (degrees² scaled at the centroid's latitude), within ~0.5 % of `area_m2` for
    parcel-sized shapes: for screening thousands of overlaps at once, where a projection per shape is too slow."""
    if geom_4490.is_empty:
        return 0.0
    lat = math.radians(geom_4490.centroid.y)
    return float(geom_4490.area * M_PER_DEG_LON_EQ * math.cos(lat) * M_PER_DEG_LAT)


def approx_areas_m2(geoms: Any) -> Any:
    """approx_area_m2 over an array of geometries at once (same formula, numpy arrays in and out)."""
    areas = shapely.area(geoms)
    lat = np.radians(shapely.get_y(shapely.centroid(geoms)))
    return np.where(shapely.is_empty(geoms), 0.0, areas * M_PER_DEG_LON_EQ * np.cos(lat) * M_PER_DEG_LAT)


def m2_to_mu(m2: float) -> float:
    return m2 / SQM_PER_MU


def m2_to_ha(m2: float) -> float:
    return m2 / 10000


def areas(geom_4490: BaseGeometry) -> dict[str, float]:
    m2 = area_m2(geom_4490)
    return {"area_m2": round(m2, 2), "area_mu": round(m2_to_mu(m2), 4), "area_ha": round(m2_to_ha(m2), 4)}


def _ring_area(geom: BaseGeometry) -> float:
    """Area as the rings say, even for an invalid polygon (shoelace per ring)."""
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    total = 0.0
    for p in polys:
        total += abs(Polygon(p.exterior).area) - sum(abs(Polygon(i).area) for i in p.interiors)
    return total


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in geom.geoms if isinstance(g, Polygon | MultiPolygon)]
        if polys:
            merged = shapely.union_all(polys)
            return merged if isinstance(merged, Polygon | MultiPolygon) else None
    return None


def size_of(geom: BaseGeometry) -> tuple[int, int]:
    """(vertices, rings) of a geometry: what its validation and repair cost grows with."""
    parts = shapely.get_parts(geom)
    return int(shapely.get_num_coordinates(geom)), int(len(parts) + shapely.get_num_interior_rings(parts).sum())


def check_size(geom: BaseGeometry, field: str, limits: Limits) -> None:
    """Refuse a geometry too large to validate within bounds (before any quadratic work is started)."""
    vertices, rings = size_of(geom)
    if vertices > limits.vertices_per_geometry:
        raise GeometryError(field, f"几何图形有 {vertices} 个顶点，超过每个地块 {limits.vertices_per_geometry} 个的上限"
                                   "（YMT_MAX_VERTICES_PER_GEOMETRY）：请简化或拆分后再提交")
    if rings > limits.parts_per_geometry:
        raise GeometryError(field, f"几何图形有 {rings} 个环（部件），超过每个地块 {limits.parts_per_geometry} 个的上限"
                                   "（YMT_MAX_PARTS_PER_GEOMETRY）：请拆分后再提交")


def precheck_polygon(geom: BaseGeometry, field: str = "geometry", check_china: bool = True,
                     limits: Limits | None = None) -> BaseGeometry:
    """The checks that cost O(vertices): type, emptiness, size, finite numbers, range. What is left (validity and
    repair) is `finish_polygon`."""
    if not isinstance(geom, Polygon | MultiPolygon):
        raise GeometryError(field, f"地块几何必须是 Polygon 或 MultiPolygon，收到 {geom.geom_type}")
    if geom.is_empty:
        raise GeometryError(field, "地块几何为空")
    check_size(geom, field, limits or Limits())
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise GeometryError(field, "坐标含非数值（NaN 或无穷大）")
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError(field, "坐标超出经纬度范围：坐标应为 EPSG:4490 经度、纬度（或用 crs 指明投影坐标系）")
    if check_china and (minx < CHINA_BBOX[0] or maxx > CHINA_BBOX[2] or miny < CHINA_BBOX[1] or maxy > CHINA_BBOX[3]):
        raise GeometryError(field, f"坐标不在中国范围内（经度 {minx:.4f}–{maxx:.4f}，纬度 {miny:.4f}–{maxy:.4f}）："
                                   "是否经纬度顺序颠倒？")
    return geom


def finish_polygon(geom: BaseGeometry, field: str = "geometry") -> BaseGeometry:
    """A prechecked polygon, valid and oriented: repaired when invalid and the repair keeps its area."""
    if geom.is_valid:
        return _oriented(geom)
    return _repair(geom, field)


def validate_polygon(geom: BaseGeometry, field: str = "geometry", check_china: bool = True,
                     limits: Limits | None = None) -> BaseGeometry:
    """Accept Polygon/MultiPolygon in 4490; repair an invalid one only when the repair keeps its area."""
    return finish_polygon(precheck_polygon(geom, field, check_china, limits), field)


def _repair(geom: BaseGeometry, field: str) -> BaseGeometry:
    reason = explain_validity(geom)
    # 'structure' unions the rings, each made valid on its own: a random 350-vertex self-intersecting ring took
    # 23 s with the default 'linework' (which nodes every segment against every other) and 0.17 s this way
    # (bench/geometry_repair.py). It keeps both lobes of a bow tie and drops collapsed spikes.
    fixed = _polygonal(shapely.make_valid(geom, method="structure", keep_collapsed=False))
    expected = _ring_area(geom)
    if fixed is None or fixed.is_empty or expected <= 0:
        raise GeometryError(field, f"几何图形无效且无法安全修复：{reason}")
    if abs(fixed.area - expected) / expected >= REPAIR_TOLERANCE:
        raise GeometryError(field, f"几何图形无效（{reason}），自动修复会使面积变化超过 1%，请修正后再提交")
    return _oriented(fixed)


def _oriented(geom: BaseGeometry) -> BaseGeometry:
    return shapely.force_2d(shapely.geometry.polygon.orient(geom) if isinstance(geom, Polygon) else
                            MultiPolygon([shapely.geometry.polygon.orient(p) for p in geom.geoms]))


def feature_to_shape(feature: Any, field: str = "geometry", crs: int | None = None) -> BaseGeometry:
    """A GeoJSON Feature (or bare geometry) → a polygon in 4490, prechecked (not yet checked for validity)."""
    if not isinstance(feature, dict):
        raise GeometryError(field, "应为 GeoJSON Feature 对象")
    geometry = feature.get("geometry") if feature.get("type") == "Feature" else feature
    if feature.get("type") == "Feature" and geometry is None:
        raise GeometryError(field, "Feature 缺少 geometry")
    if not isinstance(geometry, dict) or "type" not in geometry or "coordinates" not in geometry:
        raise GeometryError(field, "geometry 应含 type 与 coordinates")
    if geometry["type"] not in ("Polygon", "MultiPolygon"):
        raise GeometryError(field, f"地块几何必须是 Polygon 或 MultiPolygon，收到 {geometry['type']}")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        raise GeometryError(field, f"坐标结构无效：{exc}") from None
    if geom.is_empty:
        raise GeometryError(field, "地块几何为空")
    first = shapely.get_coordinates(geom)[0]
    src = detect_crs((float(first[0]), float(first[1])), crs)
    return to_storage(geom, src)


def feature_to_geometry(feature: Any, field: str = "geometry", crs: int | None = None,
                        limits: Limits | None = None) -> BaseGeometry:
    """A GeoJSON Feature (or bare geometry) → a validated polygon in 4490 (unbudgeted: see geometry_check)."""
    return validate_polygon(feature_to_shape(feature, field, crs), field, limits=limits)
