"""Coordinate reference systems of the OGC API (Features Part 2): which ones we serve and accept, their axis order,
and the transformations to and from the storage CRS (EPSG:4490, kept as lon/lat in the database).

Part 2 (OGC 18-058r1) §6.2: a CRS is named by its URI; coordinates are in the CRS's *authority* axis order, except
CRS84 (lon, lat). EPSG:4490 and EPSG:4326 are (lat, lon); the CGCS2000 Gauss-Krüger zones EPSG:4491-4512 (6°) and
4513-4554 (3°) are (northing, easting). Req /req/crs/bbox-crs-action: a bbox in bbox-crs is taken in that CRS's axis
order, so the swap happens *before* any range check (the issue's lat,lon bbox in EPSG:4490 was refused because the
check ran first).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
STORAGE_EPSG = 4490
STORAGE = EPSG_URI + "4490"
# CGCS2000 geographic, WGS 84, and every CGCS2000 Gauss-Krüger zone (6°: 4491-4512, 3°: 4513-4554)
SUPPORTED_EPSG = (4490, 4326, *range(4491, 4513), *range(4513, 4555))
SUPPORTED = [CRS84] + [EPSG_URI + str(code) for code in SUPPORTED_EPSG]

_FORMS = (re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)$"),
          re.compile(r"^\[?EPSG:(\d+)\]?$", re.IGNORECASE),
          re.compile(r"^urn:ogc:def:crs:EPSG:[^:]*:(\d+)$", re.IGNORECASE))
_CRS84_FORMS = {CRS84, "https://www.opengis.net/def/crs/OGC/1.3/CRS84", "[OGC:CRS84]", "OGC:CRS84",
                "urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84"}


@dataclass(frozen=True)
class Crs:
    """One served CRS: its URI, EPSG code (None: CRS84) and whether its first axis is north (lat or northing)."""

    uri: str
    epsg: int | None
    north_first: bool

    @property
    def geographic(self) -> bool:
        return self.epsg in (None, 4490, 4326)


class UnknownCrs(ValueError):
    pass


def parse(text: str | None) -> Crs:
    """The CRS named by `text` (a URI, a safe CURIE [EPSG:n], EPSG:n or an OGC URN); CRS84 when absent."""
    if text is None or text.strip() == "" or text.strip() in _CRS84_FORMS:
        return Crs(CRS84, None, False)
    value = text.strip()
    for form in _FORMS:
        m = form.match(value)
        if m and int(m.group(1)) in SUPPORTED_EPSG:
            code = int(m.group(1))
            return Crs(EPSG_URI + str(code), code, _north_first(code))
    raise UnknownCrs(value)


@lru_cache(maxsize=128)
def _north_first(code: int) -> bool:
    return CRS.from_epsg(code).axis_info[0].direction in ("north", "south")


@lru_cache(maxsize=128)
def _to_storage(code: int) -> Transformer:
    return Transformer.from_crs(code, STORAGE_EPSG, always_xy=True)


@lru_cache(maxsize=128)
def _from_storage(code: int) -> Transformer:
    return Transformer.from_crs(STORAGE_EPSG, code, always_xy=True)


def _identity(crs: Crs) -> bool:
    # CGCS2000 and WGS 84 differ by centimetres: our parcels are metre-level, so no datum shift is applied
    return crs.geographic


def bbox_to_storage(box: tuple[float, float, float, float], crs: Crs) -> tuple[float, float, float, float]:
    """A bbox given in `crs` (its axis order) as lon/lat in the storage CRS."""
    a, b, c, d = box
    minx, miny, maxx, maxy = (b, a, d, c) if crs.north_first else (a, b, c, d)
    if _identity(crs) or crs.epsg is None:
        return minx, miny, maxx, maxy
    out = _to_storage(crs.epsg).transform_bounds(minx, miny, maxx, maxy, densify_pts=21)
    return float(out[0]), float(out[1]), float(out[2]), float(out[3])


def geometry_to_storage(geom: BaseGeometry, crs: Crs) -> BaseGeometry:
    """A geometry given in `crs` (filter-crs of a CQL2 literal) as lon/lat in the storage CRS."""
    if crs.north_first:
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    if _identity(crs) or crs.epsg is None:
        return geom
    t = _to_storage(crs.epsg)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def geometry_from_storage(geom: BaseGeometry, crs: Crs) -> BaseGeometry:
    """A stored lon/lat geometry in `crs`, in its axis order (the items' `crs` parameter)."""
    if not _identity(crs) and crs.epsg is not None:
        t = _from_storage(crs.epsg)
        geom = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    if crs.north_first:
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    return geom


def valid_lonlat(box: tuple[float, float, float, float]) -> bool:
    minx, miny, maxx, maxy = box
    return all(math.isfinite(v) for v in box) and -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def describe() -> dict[str, Any]:
    return {"crs": SUPPORTED, "storageCrs": STORAGE}
