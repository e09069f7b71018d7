"""The standard boundary-coordinate TXT of construction-land submissions (建设用地报批坐标 TXT).

No library reads it, so it is parsed here. Layout:

    [属性描述]
    坐标系=2000国家大地坐标系
    几度分带=3
    投影类型=高斯克吕格
    计量单位=米
    带号=37
    [地块坐标]
    5,1.0800,DK-001,地块名称,面,,城镇住宅用地,0701,@      ← one header line per parcel, ending in @
    J1,1,3213899.215,37567207.811                         ← point, ring, X = northing, Y = easting (zone prefix)

Ring 1 is the outer ring; other ring numbers are holes of it, or further outer rings (a multipolygon) when
they lie outside the first one. Files come in GBK (most often) or UTF-8, with CRLF or LF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from yimatong.domain.geometry import zone_epsg
from yimatong.domain.profile import digits_only
from yimatong.formats.text import decode_text

HEADER_FIELDS = ("点数", "面积(公顷)", "地块编号", "地块名称", "图形属性", "图幅号", "地块用途", "地类编码")


class CoordinateTxtError(ValueError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"第{line}行：{message}" if line else message)
        self.line = line
        self.message = str(self)


@dataclass
class TxtParcel:
    header: dict[str, str]
    geometry: BaseGeometry  # in the file's CRS: x = easting, y = northing
    line: int


@dataclass
class CoordinateFile:
    attributes: dict[str, str]
    epsg: int
    parcels: list[TxtParcel] = field(default_factory=list)


def decode(data: bytes) -> str:
    text = decode_text(data)
    if text is None:
        raise CoordinateTxtError("文件编码无法识别（应为 GBK 或 UTF-8）")
    return text


def parse_coordinate_txt(data: bytes, zone_hint: int | None = None) -> CoordinateFile:
    lines = [ln.replace("，", ",").strip() for ln in decode(data).splitlines()]
    attrs, start = _attributes(lines)
    blocks = _blocks(lines, start)
    if not blocks:
        raise CoordinateTxtError("没有地块：缺少 [地块坐标] 段或其中没有以 @ 结尾的地块行")
    first_easting = blocks[0][1][0][2]
    epsg = _epsg(attrs, first_easting, zone_hint)
    parcels = [TxtParcel(header, _geometry(points, line), line) for line, points, header in
               ((b[0], b[1], b[2]) for b in blocks)]
    return CoordinateFile(attrs, epsg, parcels)


def _attributes(lines: list[str]) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    for i, ln in enumerate(lines):
        if ln.startswith("[地块坐标]"):
            return attrs, i + 1
        if "=" in ln and not ln.startswith("["):
            key, value = ln.split("=", 1)
            attrs[key.strip()] = value.strip()
    raise CoordinateTxtError("缺少 [地块坐标] 段")


Point = tuple[int, int, float, float]  # line, ring, x (easting), y (northing)


def _blocks(lines: list[str], start: int) -> list[tuple[int, list[Point], dict[str, str]]]:
    blocks: list[tuple[int, list[Point], dict[str, str]]] = []
    for i in range(start, len(lines)):
        ln, no = lines[i], i + 1
        if not ln:
            continue
        if ln.endswith("@"):
            values = [v.strip() for v in ln[:-1].rstrip(",").split(",")]
            blocks.append((no, [], dict(zip(HEADER_FIELDS, values, strict=False))))
            continue
        if not blocks:
            raise CoordinateTxtError("坐标行之前缺少以 @ 结尾的地块行", no)
        blocks[-1][1].append(_point(ln, no))
    for no, points, _ in blocks:
        if not points:
            raise CoordinateTxtError("地块没有坐标点", no)
    return blocks


def _point(ln: str, no: int) -> Point:
    parts = [p.strip() for p in ln.split(",")]
    if len(parts) < 4:
        raise CoordinateTxtError(f"坐标行应为 点号,圈号,X,Y，收到 {ln!r}", no)
    try:
        ring = int(parts[1])
        northing, easting = float(parts[2]), float(parts[3])
    except ValueError:
        raise CoordinateTxtError(f"圈号或坐标不是数字：{ln!r}", no) from None
    return no, ring, easting, northing


def _epsg(attrs: dict[str, str], first_easting: float, zone_hint: int | None) -> int:
    system = attrs.get("坐标系", "")
    if system and not re.search(r"2000|CGCS", system, re.I):
        raise CoordinateTxtError(f"不支持的坐标系“{system}”：仅支持 2000国家大地坐标系（CGCS2000）")
    width = attrs.get("几度分带", "3").strip()
    if width not in ("3", "3度", ""):
        raise CoordinateTxtError(f"仅支持 3 度分带，文件为 {width} 度分带")
    unit = attrs.get("计量单位", "米")
    if unit and unit not in ("米", "m", "M"):
        raise CoordinateTxtError(f"计量单位应为米，收到“{unit}”")
    prefixed = first_easting >= 1e7
    zone = int(first_easting // 1e6) if prefixed else None
    declared = attrs.get("带号", "").strip()
    if declared:
        if not digits_only(declared):
            raise CoordinateTxtError(f"带号“{declared}”不是数字")
        if zone is not None and int(declared) != zone:
            raise CoordinateTxtError(f"带号 {declared} 与坐标中的带号前缀 {zone} 不一致")
        zone = int(declared)
    zone = zone or zone_hint
    if zone is None:
        raise CoordinateTxtError("东坐标不带带号且文件未写带号：无法确定分带")
    return zone_epsg(zone, prefixed)


def _geometry(points: list[Point], header_line: int) -> BaseGeometry:
    rings: dict[int, list[tuple[float, float]]] = {}
    for _, ring, x, y in points:
        rings.setdefault(ring, []).append((x, y))
    shells: list[tuple[list[tuple[float, float]], list[list[tuple[float, float]]]]] = []
    for ring_no in rings:
        coords = rings[ring_no]
        if len(coords) < 3 or len(set(coords)) < 3:
            raise CoordinateTxtError(f"第 {ring_no} 圈少于 3 个不同的点", header_line)
        if coords[0] != coords[-1]:
            coords = [*coords, coords[0]]
        poly = Polygon(coords)
        owner = next((s for s in shells if Polygon(s[0]).contains(poly.representative_point())), None)
        if owner is None:
            shells.append((coords, []))
        else:
            owner[1].append(coords)
    polys = [Polygon(shell, holes) for shell, holes in shells]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def write_coordinate_txt(parcels: list[tuple[dict[str, str], BaseGeometry]], zone: int, with_prefix: bool = True,
                         attributes: dict[str, str] | None = None) -> bytes:
    """Write parcels given in the zone's CRS (x = easting without prefix); GBK with CRLF, as bureaus expect."""
    attrs = {"格式版本号": "1.01版本", "坐标系": "2000国家大地坐标系", "几度分带": "3", "投影类型": "高斯克吕格",
             "计量单位": "米", "带号": str(zone), "精度": "0.001", **(attributes or {})}
    out = ["[属性描述]", *[f"{k}={v}" for k, v in attrs.items()], "[地块坐标]"]
    offset = zone * 1_000_000 if with_prefix else 0
    for header, geom in parcels:
        rings = _rings(geom)
        count = sum(len(r) for _, r in rings)
        values = [str(count), *[header.get(f, "") for f in HEADER_FIELDS[1:]]]
        out.append(",".join(values) + ",@")
        n = 0
        for ring_no, coords in rings:
            first_no = n + 1
            for i, (x, y) in enumerate(coords):
                label = first_no if i == len(coords) - 1 else n + 1
                if i < len(coords) - 1:
                    n += 1
                out.append(f"J{label},{ring_no},{y:.3f},{x + offset:.3f}")
    return ("\r\n".join(out) + "\r\n").encode("gb18030")


def _rings(geom: BaseGeometry) -> list[tuple[int, list[tuple[float, float]]]]:
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    rings: list[tuple[int, list[tuple[float, float]]]] = []
    for poly in polys:
        rings.append((len(rings) + 1, list(poly.exterior.coords)))
        for hole in poly.interiors:
            rings.append((len(rings) + 1, list(hole.coords)))
    return rings
