"""The grid of the map's dots: at low zoom each parcel is a point at the centre of its box, merged per grid cell.

A tile of zoom z holds `CELLS_PER_TILE` × `CELLS_PER_TILE` cells (`TileSpec.cell` units of its 4 096), and the tiles
of a tile matrix set are aligned on one grid per zoom: a cell of a zoom-z tile is the cell of *level* z + 6 of the
whole matrix set (level L has 2^L cells across WebMercatorQuad's world, 2^(L+1) across CGCS2000Quad's two level-0
tiles). A cell of level L is the union of four cells of level L + 1 (x // 2, y // 2), so counts kept at the finest
level add up to every coarser one exactly. That is what lets the store of cell counts (`parcels/cells.py`) answer
a city tile from a few thousand stored cells instead of reading every parcel under it.

Pure functions of coordinates (numpy arrays), no I/O. Tile matrix sets: OGC 17-083r4 Annex D.1 (WebMercatorQuad,
EPSG:3857) and the WorldCRS84Quad layout of Annex D.2 over EPSG:4490 (CGCS2000Quad, see `storage.dialect.TileSpec`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MERCATOR_HALF = 20037508.342789244  # half the Web Mercator world (EPSG:3857), metres
EARTH_RADIUS = 6378137.0
MAX_MERCATOR_LAT = 85.06  # Web Mercator's limit, as the tile encoders clip
EXTENT = 4096             # tile units per tile side (MVT's default extent)
# tile units per grid cell: 64 × 64 cells per tile, one dot per 8 × 8 pixels of a 512-pixel tile. With 32 units
# (4 × 4 px) a county view at 1 000 000 parcels was ~100 000 dots, and decoding and drawing them in the browser
# took over a second of each step (bench_map); the map draws a dot of 1.5-8 px by its count.
CELL = 64
CELLS_PER_TILE = EXTENT // CELL
LEVEL_OFFSET = CELLS_PER_TILE.bit_length() - 1  # log2(64) = 6: a zoom-z tile's cells are those of level z + 6
MERCATOR = "WebMercatorQuad"
GEOGRAPHIC = "CGCS2000Quad"
TMS_IDS = {MERCATOR: 0, GEOGRAPHIC: 1}  # as stored (a small integer per row)


def level_of(zoom: int) -> int:
    return zoom + LEVEL_OFFSET


def mercator(lon: Any, lat: Any) -> tuple[Any, Any]:
    """EPSG:4490/4326 lon/lat (degrees) → Web Mercator metres (the spherical formula of EPSG:3857)."""
    lat_r = np.radians(np.clip(np.asarray(lat, dtype=float), -MAX_MERCATOR_LAT, MAX_MERCATOR_LAT))
    return (np.asarray(lon, dtype=float) * (MERCATOR_HALF / 180),
            np.log(np.tan(np.pi / 4 + lat_r / 2)) * EARTH_RADIUS)


def cells(lon: Any, lat: Any, tms: str, level: int) -> tuple[Any, Any]:
    """The cell (column, row; rows from the top) of level `level` holding each point, as int64 arrays.

    The same arithmetic as a tile's own: tile units are (x - tile's left) × 4096 / tile size, the cell their
    floor over `CELL`; with the tile's left at -half + col × size this is ((x + half) / world) × 2^level."""
    if tms == GEOGRAPHIC:
        x, y, half = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), 180.0
        across = float(1 << (level + 1))  # two 180° tiles at level 0
        col = np.floor((x + 180.0) / 360.0 * across)
        row = np.floor((90.0 - y) / 180.0 * float(1 << level))
    elif tms == MERCATOR:
        x, y = mercator(lon, lat)
        half = MERCATOR_HALF
        across = float(1 << level)
        col = np.floor((x + half) / (2 * half) * across)
        row = np.floor((half - y) / (2 * half) * across)
    else:
        raise ValueError(f"unknown tile matrix set {tms}")
    return col.astype(np.int64), row.astype(np.int64)


def coarser(col: int, row: int, levels: int = 1) -> tuple[int, int]:
    """The cell `levels` levels up that holds this one."""
    return col >> levels, row >> levels


def tile_cell_range(x: int, y: int) -> tuple[int, int, int, int]:
    """The cells a zoom-z tile (x, y) draws, at level z + 6: its own 64 × 64 and one ring around them (the
    tile's buffer, so a dot on a tile's edge is drawn whole on both sides): first/last column, first/last row."""
    return x * CELLS_PER_TILE - 1, (x + 1) * CELLS_PER_TILE, y * CELLS_PER_TILE - 1, (y + 1) * CELLS_PER_TILE
