"""Builders for spatial tests: parcels near real places in Changde, in lon/lat (EPSG:4490)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import box, mapping

WULING = (111.69, 29.04)     # 武陵区, near the city centre
DINGCHENG = (111.68, 28.96)  # 鼎城区, south of the Yuan river
SHIMEN = (111.38, 29.58)     # 石门县


def square(center: tuple[float, float], half: float = 0.001, **props: Any) -> dict[str, Any]:
    x, y = center
    return {"type": "Feature", "properties": props, "geometry": mapping(box(x - half, y - half, x + half, y + half))}
