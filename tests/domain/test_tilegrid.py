"""The dot grid (domain/tilegrid.py): a point's cell at level z + 6 is the cell a zoom-z tile puts it in, and a
cell's parent holds it — the two facts the stored cells rest on (parcels/cells.py)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from yimatong.domain import tilegrid
from yimatong.storage.dialect import TileSpec, _tile_xy

# near the grid's lines a float's last bit decides; points that close to a line are drawn by one tile or the
# other depending on rounding, which is no property of the grid
MARGIN = 1e-6

lons = st.floats(-179.99, 179.99)
lats = st.floats(-84.9, 84.9)
tms_ids = st.sampled_from([tilegrid.MERCATOR, tilegrid.GEOGRAPHIC])


def _tile_of(lon: float, lat: float, z: int, tms: str) -> tuple[int, int]:
    if tms == tilegrid.GEOGRAPHIC:
        size = 180 / 2**z
        return int((lon + 180) // size), int((90 - lat) // size)
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


@given(lons, lats, st.integers(0, 16), tms_ids)
def test_a_points_cell_is_the_one_its_tile_draws_it_in(lon: float, lat: float, z: int, tms: str) -> None:
    x, y = _tile_of(lon, lat, z, tms)
    spec = TileSpec(z, x, y, "parcels", points=True, tms=tms)
    px, py = _tile_xy(np.array([lon]), np.array([lat]), spec)  # tile units, as the tile encoders compute them
    local = px[0] / spec.cell, py[0] / spec.cell
    if min(abs(v - round(v)) for v in local) < MARGIN:
        return
    col, row = tilegrid.cells(np.array([lon]), np.array([lat]), tms, tilegrid.level_of(z))
    assert (int(col[0]) - x * tilegrid.CELLS_PER_TILE, int(row[0]) - y * tilegrid.CELLS_PER_TILE) == (
        math.floor(local[0]), math.floor(local[1]))
    c0, c1, r0, r1 = tilegrid.tile_cell_range(x, y)
    assert c0 < col[0] < c1 and r0 < row[0] < r1  # inside the tile, not its buffer ring


@given(lons, lats, st.integers(1, 20), tms_ids)
def test_a_cells_parent_holds_it(lon: float, lat: float, level: int, tms: str) -> None:
    fine = tilegrid.cells(np.array([lon]), np.array([lat]), tms, level)
    coarse = tilegrid.cells(np.array([lon]), np.array([lat]), tms, level - 1)
    # exact, not approximately: the levels differ by a power of two, by which floats multiply without rounding
    assert tilegrid.coarser(int(fine[0][0]), int(fine[1][0])) == (int(coarse[0][0]), int(coarse[1][0]))


def test_cells_of_the_world_stay_in_range() -> None:
    col, row = tilegrid.cells(np.array([-180.0, 179.999999]), np.array([85.0, -85.0]), tilegrid.MERCATOR, 7)
    assert col.tolist() == [0, 127] and row.tolist() == [0, 127]
    col, row = tilegrid.cells(np.array([-180.0, 179.999999]), np.array([89.999999, -89.999999]),
                              tilegrid.GEOGRAPHIC, 7)
    assert col.tolist() == [0, 255] and row.tolist() == [0, 127]  # two tiles across at zoom 0
