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
they lie outside the first one.

As files are really written: GBK (most often), UTF-8 with or without BOM, or UTF-16 with BOM; CRLF or LF.
Header fields are separated by ASCII commas only — a full-width comma belongs to the name it is in (a header
written entirely with full-width commas is read with those). Point lines may use commas of either width,
spaces or tabs. 几度分带 is written `3`, `3度`, `3度带` or `3°` (6 likewise); 6° zones 13–23 are read as
EPSG:4491–4512. 坐标系 must be one of the CGCS2000 spellings below; local, city and 1954/1980 systems are refused
by name. X and Y swapped is detected and said. The header's 点数 and 面积 are compared with the geometry: a
difference is a warning on the parcel (callers may refuse it: `strict`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

import shapely
from shapely import prepared
from shapely.geometry import MultiPoint, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from yimatong.domain import geometry as geo
from yimatong.formats.text import decode_text

HEADER_FIELDS = ("点数", "面积(公顷)", "地块编号", "地块名称", "图形属性", "图幅号", "地块用途", "地类编码")
AREA_FIELD, POINTS_FIELD = HEADER_FIELDS[1], HEADER_FIELDS[0]
MISMATCH = 0.001  # a header's area or point count more than 0.1 % off the geometry is reported


class CoordinateTxtError(ValueError):
    """The file refused whole (413 when over a size limit)."""

    def __init__(self, message: str, line: int | None = None, field: str = "file", status: int = 422) -> None:
        super().__init__(f"第{line}行：{message}" if line else message)
        self.line = line
        self.message = str(self)
        self.field = field
        self.status = status


@dataclass
class TxtParcel:
    header: dict[str, str]
    geometry: BaseGeometry | None  # in the file's CRS: x = easting, y = northing; None when `error`
    line: int
    points: int = 0  # coordinate lines of the parcel
    error: str | None = None  # why this parcel (not the file) is refused
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (header field, message)


@dataclass
class CoordinateFile:
    attributes: dict[str, str]
    epsg: int
    parcels: list[TxtParcel] = field(default_factory=list)


def decode(data: bytes) -> str:
    text = decode_text(data)
    if text is None:
        raise CoordinateTxtError("文件编码无法识别（应为 GBK、UTF-8 或带 BOM 的 UTF-16）")
    return text


def parse_coordinate_txt(data: bytes, zone_hint: int | None = None, limits: geo.Limits | None = None
                         ) -> CoordinateFile:
    limits = limits or geo.Limits()
    lines = [ln.strip().lstrip("\ufeff").strip() for ln in decode(data).splitlines()]
    attrs, start = _attributes(lines)
    blocks = _blocks(lines, start, limits)
    if not blocks:
        raise CoordinateTxtError("没有地块：缺少 [地块坐标] 段或其中没有以 @ 结尾的地块行")
    first = next((b.points[0] for b in blocks if b.points), None)
    if first is None:
        raise CoordinateTxtError("地块没有坐标点", blocks[0].line)
    _not_swapped(first)
    epsg = _epsg(attrs, first, zone_hint)
    _inside_zone(blocks, epsg)
    return CoordinateFile(attrs, epsg, [_parcel(b) for b in blocks])


SECTION = re.compile(r"^[\[【]\s*(.+?)\s*[\]】]$")


def _attributes(lines: list[str]) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    for i, ln in enumerate(lines):
        section = SECTION.match(ln)
        if section and section.group(1).replace(" ", "") == "地块坐标":
            return attrs, i + 1
        ln = ln.replace("＝", "=")
        if "=" in ln and not section:
            key, value = ln.split("=", 1)
            attrs[key.strip()] = value.strip()
    raise CoordinateTxtError("缺少 [地块坐标] 段")


Point = tuple[int, int, float, float]  # line, ring, x (easting), y (northing)


@dataclass
class _Block:
    line: int
    header: dict[str, str]
    points: list[Point] = field(default_factory=list)
    count: int = 0  # point lines seen (points beyond the limit are counted, not kept)
    error: str | None = None


def _blocks(lines: list[str], start: int, limits: geo.Limits) -> list[_Block]:
    blocks: list[_Block] = []
    total = 0
    for i in range(start, len(lines)):
        ln, no = lines[i], i + 1
        if not ln or SECTION.match(ln):
            continue
        if ln.endswith(("@", "＠")):
            blocks.append(_Block(no, _header(ln[:-1])))
            continue
        if not blocks:
            raise CoordinateTxtError("坐标行之前缺少以 @ 结尾的地块行", no)
        block = blocks[-1]
        point = _point(ln, no)
        block.count += 1
        total += 1
        if total > limits.vertices_per_request:
            raise CoordinateTxtError(f"文件的坐标点超过每次 {limits.vertices_per_request} 个的上限"
                                     "（YMT_MAX_VERTICES_PER_REQUEST）：请分批导入", no, status=413)
        if block.count > limits.vertices_per_geometry:
            block.error = (f"地块（第 {block.line} 行）的坐标点超过每个地块 {limits.vertices_per_geometry} 个的上限"
                           "（YMT_MAX_VERTICES_PER_GEOMETRY）：请简化或拆分后再提交")
            block.points = []
            continue
        if block.error is None:
            block.points.append(point)
    for b in blocks:
        if not b.count:
            raise CoordinateTxtError("地块没有坐标点", b.line)
    return blocks


def _header(text: str) -> dict[str, str]:
    """ASCII commas separate the fields; a full-width comma is part of a name (一号地块，二期) — unless the
    line has no ASCII comma at all, when it was typed with full-width ones throughout."""
    sep = "," if "," in text or "，" not in text else "，"
    values = [v.strip() for v in text.rstrip().rstrip(sep).split(sep)]
    return dict(zip(HEADER_FIELDS, values, strict=False))


POINT_SPLIT = re.compile(r"[,，\s]+")


def _point(ln: str, no: int) -> Point:
    parts = [p for p in POINT_SPLIT.split(ln) if p]
    if len(parts) < 4:
        raise CoordinateTxtError(f"坐标行应为 点号,圈号,X,Y，收到 {ln[:80]!r}", no)
    try:
        ring = int(parts[1])
        northing, easting = float(parts[2]), float(parts[3])
    except ValueError:
        raise CoordinateTxtError(f"圈号或坐标不是数字：{ln[:80]!r}", no) from None
    if not (math.isfinite(northing) and math.isfinite(easting)):
        raise CoordinateTxtError(f"坐标不是有限数值（NaN 或无穷大）：{ln[:80]!r}", no)
    return no, ring, easting, northing


def _not_swapped(point: Point) -> None:
    """X is the northing and Y the easting (GB/T surveying convention). Swapped columns are said, never fixed
    silently: a guessed axis order would put a parcel somewhere else."""
    no, _, easting, northing = point
    prefix_on_x = northing >= 1e7 > easting
    plain_swap = easting < 1e7 and northing < 1e6 < easting
    if prefix_on_x or plain_swap:
        raise CoordinateTxtError(
            f"X、Y 坐标顺序颠倒：X 应为北坐标（纵坐标，如 3213899.215），Y 应为东坐标（横坐标，如 37567207.811）；"
            f"本文件的 X={northing:.3f} 像东坐标、Y={easting:.3f} 像北坐标。请交换两列后再导入", no)


# CGCS2000 as bureaus write it (after NFKC, upper-case, without spaces and separators); compared whole.
CGCS2000 = {"2000国家大地坐标系", "国家2000坐标系", "国家2000大地坐标系", "CGCS2000", "CGCS2000坐标系",
            "CGCS2000国家大地坐标系", "中国2000国家大地坐标系", "2000国家坐标系", "2000坐标系", "2000大地坐标系",
            "2000中国大地坐标系", "CHINAGEODETICCOORDINATESYSTEM2000", "CGCS2000大地坐标系"}
REFUSED_SYSTEMS = (  # (what the text contains, what it is called)
    (("独立", "城建", "地方", "任意", "假定", "自定义"), "独立坐标系（城建、地方坐标系）"),
    (("1954", "北京54", "北京", "BJ54"), "1954北京坐标系"),
    (("1980", "西安80", "西安", "XIAN80", "C80"), "1980西安坐标系"),
    (("WGS", "GPS"), "WGS84 坐标系"),
)


def _normal(text: str) -> str:
    return re.sub(r"[\s_\-·.]", "", unicodedata.normalize("NFKC", text)).upper()


def check_system(system: str) -> None:
    """坐标系 from the header: CGCS2000 spellings pass, others are refused by name."""
    norm = _normal(system)
    for needles, label in REFUSED_SYSTEMS:
        if any(n in norm for n in needles):
            raise CoordinateTxtError(f"坐标系“{system}”是{label}，不能直接导入：请先转换为 2000国家大地坐标系（CGCS2000）")
    parts = [p for p in re.split(r"[()（）\[\]/,，]", norm) if p]
    if not parts or not all(p in CGCS2000 for p in parts):
        raise CoordinateTxtError(f"不支持的坐标系“{system}”：仅支持 2000国家大地坐标系（CGCS2000）")


WIDTH = re.compile(r"^([36])(度带|度分带|度|°带|°|O)?$")  # NFKC turns º into o
ZONE = re.compile(r"^第?(\d{1,2})带?$")
METRES = {"米", "M", "METRE", "METER", "METRES", "METERS", "公尺"}
PROJECTIONS = ("高斯", "克吕格", "GAUSS", "KRUGER", "KRÜGER", "横轴墨卡托", "TRANSVERSEMERCATOR", "GK")


def _epsg(attrs: dict[str, str], first: Point, zone_hint: int | None) -> int:
    system = attrs.get("坐标系", "")
    if system:
        check_system(system)
    projection = attrs.get("投影类型", "")
    if projection and not any(p in _normal(projection) for p in PROJECTIONS):
        raise CoordinateTxtError(f"投影类型“{projection}”不支持：坐标 TXT 应为高斯-克吕格投影平面坐标")
    unit = attrs.get("计量单位", "")
    if unit and _normal(unit) not in METRES:
        raise CoordinateTxtError(f"计量单位应为米，收到“{unit}”")
    width = _declared_width(attrs.get("几度分带", ""))
    zone = _declared_zone(attrs.get("带号", ""))
    try:
        from_prefix = geo.prefixed_zone(first[2])
    except geo.GeometryError as exc:
        raise CoordinateTxtError(exc.message, first[0]) from None
    if from_prefix is not None:
        p_width, p_zone = from_prefix
        if width is not None and width != p_width:
            raise CoordinateTxtError(f"几度分带为 {width} 度，但东坐标的带号前缀 {p_zone} 是 {p_width} 度带的带号", first[0])
        if zone is not None and zone != p_zone:
            raise CoordinateTxtError(f"带号 {zone} 与坐标中的带号前缀 {p_zone} 不一致", first[0])
        return _zone_epsg(p_width, p_zone, True)
    zone = zone or zone_hint
    if zone is None:
        raise CoordinateTxtError("东坐标不带带号且文件未写带号：无法确定分带")
    return _zone_epsg(width or (6 if 13 <= zone <= 23 else 3), zone, False)


def _declared_width(text: str) -> int | None:
    if not text:
        return None
    m = WIDTH.match(_normal(text))
    if not m:
        raise CoordinateTxtError(f"几度分带“{text}”无法识别：应为 3 度带或 6 度带（如 3、3度、3度带、3°）")
    return int(m.group(1))


def _declared_zone(text: str) -> int | None:
    if not text:
        return None
    m = ZONE.match(text.replace(" ", ""))  # ASCII digits only: ³⁷ or ３７ is no zone number
    if not m:
        raise CoordinateTxtError(f"带号“{text}”不是数字")
    return int(m.group(1))


def _zone_epsg(width: int, zone: int, prefixed: bool) -> int:
    try:
        return geo.zone_epsg(zone, prefixed) if width == 3 else geo.zone6_epsg(zone, prefixed)
    except geo.GeometryError as exc:
        raise CoordinateTxtError(exc.message) from None


def _inside_zone(blocks: list[_Block], epsg: int) -> None:
    """Every point in the declared zone (its central meridian ± half the width, plus half a degree of slack),
    and every prefixed easting with the same prefix: a file mixing zones, or placed in the wrong one, is refused
    where it first goes wrong."""
    width, zone, prefixed = geo.zone_of_epsg(epsg)
    offset = zone * 1_000_000 if prefixed else 0
    for b in blocks:
        for no, _, easting, northing in b.points:
            if prefixed and int(easting // 1e6) != zone:
                raise CoordinateTxtError(f"东坐标 {easting:.3f} 的带号前缀与文件的 {zone} 带不同（一个文件只能用一个分带）", no)
            if not 0 < easting - offset < 1e6 or not 0 < northing < 1e7:
                raise CoordinateTxtError(f"坐标 X={northing:.3f}、Y={easting:.3f} 不在 {width} 度带第 {zone} 带内", no)
    lon = _lon_range(blocks, epsg)
    cm = geo.central_meridian(width, zone)
    if lon and (lon[0] < cm - width / 2 - 0.5 or lon[1] > cm + width / 2 + 0.5):
        raise CoordinateTxtError(f"坐标位于经度 {lon[0]:.2f}°–{lon[1]:.2f}°，不在 {width} 度带第 {zone} 带"
                                 f"（中央经线 {cm}°）内：请核对带号与几度分带")


def _lon_range(blocks: list[_Block], epsg: int) -> tuple[float, float] | None:
    xs = [p[2] for b in blocks for p in b.points]
    ys = [p[3] for b in blocks for p in b.points]
    if not xs:
        return None
    corners = MultiPoint([(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))])
    minx, _, maxx, _ = geo.to_storage(corners, epsg).bounds
    return minx, maxx


def _parcel(block: _Block) -> TxtParcel:
    parcel = TxtParcel(block.header, None, block.line, block.count, block.error)
    if block.error is None:
        try:
            parcel.geometry = _geometry(block.points)
        except ValueError as exc:
            parcel.error = str(exc)
    if parcel.geometry is not None:
        parcel.warnings = compare_header(block.header, parcel.geometry, block.points)
    return parcel


def _geometry(points: list[Point]) -> BaseGeometry:
    rings: dict[int, list[tuple[float, float]]] = {}
    for _, ring, x, y in points:
        rings.setdefault(ring, []).append((x, y))
    shells: list[tuple[list[tuple[float, float]], list[list[tuple[float, float]]], object]] = []
    for ring_no, coords in rings.items():
        if len(coords) < 3 or len(set(coords)) < 3:
            raise ValueError(f"第 {ring_no} 圈少于 3 个不同的点")
        if coords[0] != coords[-1]:
            coords = [*coords, coords[0]]
        try:
            inside = Polygon(coords).representative_point()
        except shapely.errors.GEOSException as exc:
            raise ValueError(f"第 {ring_no} 圈无法构成多边形：{str(exc)[:100]}") from None
        owner = next((s for s in shells if s[2].contains(inside)), None)  # type: ignore[attr-defined]
        if owner is None:
            shells.append((coords, [], prepared.prep(Polygon(coords))))
        else:
            owner[1].append(coords)
    polys = [Polygon(shell, holes) for shell, holes, _ in shells]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


AREA = re.compile(r"^([0-9]+(?:\.([0-9]+))?)(公顷|HA|HM2|HM²)?$")


def compare_header(header: dict[str, str], geom: BaseGeometry, points: list[Point]) -> list[tuple[str, str]]:
    """The header's 点数 and 面积(公顷) against the coordinates, each difference over 0.1 % said. 点数 is the
    number of coordinate lines (closing points included); a count without the closing points is accepted too.
    The area is the planar area of the file's own coordinates, as the surveyor computed it; a difference within
    the rounding of the written value (1.08 公顷: ±0.005) is no difference."""
    out: list[tuple[str, str]] = []
    declared_points = header.get(POINTS_FIELD, "")
    lines = len(points)
    closings = _closings(points)
    if declared_points:
        if not declared_points.isascii() or not declared_points.isdigit():
            out.append((POINTS_FIELD, f"点数“{declared_points}”不是整数，未与坐标核对"))
        elif all(abs(int(declared_points) - n) > MISMATCH * n for n in (lines, lines - closings)):
            out.append((POINTS_FIELD, f"点数为 {declared_points}，而坐标行有 {lines} 行"))
    declared_area = re.sub(r"\s", "", unicodedata.normalize("NFKC", header.get(AREA_FIELD, ""))).upper()
    if declared_area:
        m = AREA.match(declared_area)
        if not m:
            out.append((AREA_FIELD, f"面积“{header[AREA_FIELD]}”无法读取（应为公顷数），未与图形核对"))
        else:
            value, actual = float(m.group(1)), geom.area / 10_000
            rounding = 0.5 * 10 ** -len(m.group(2) or "")
            if abs(value - actual) > max(MISMATCH * actual, rounding):
                out.append((AREA_FIELD, f"面积为 {m.group(1)} 公顷，而按坐标计算为 {actual:.4f} 公顷"
                                        f"（相差 {abs(value - actual) / actual:.2%}）" if actual else
                            f"面积为 {m.group(1)} 公顷，而按坐标计算为 0"))
    return out


def _closings(points: list[Point]) -> int:
    """How many rings are closed by repeating their first point."""
    first: dict[int, tuple[float, float]] = {}
    last: dict[int, tuple[float, float]] = {}
    for _, ring, x, y in points:
        first.setdefault(ring, (x, y))
        last[ring] = (x, y)
    return sum(1 for r in first if first[r] == last[r])


def write_coordinate_txt(parcels: list[tuple[dict[str, str], BaseGeometry]], zone: int, with_prefix: bool = True,
                         attributes: dict[str, str] | None = None) -> bytes:
    """Write parcels given in the zone's CRS (x = easting without prefix); GBK with CRLF, as bureaus expect.
    点数 and 面积(公顷) are those of the geometry unless given; an ASCII comma inside a value (it would split the
    field) is written as a full-width one."""
    attrs = {"格式版本号": "1.01版本", "坐标系": "2000国家大地坐标系", "几度分带": "3", "投影类型": "高斯克吕格",
             "计量单位": "米", "带号": str(zone), "精度": "0.001", **(attributes or {})}
    out = ["[属性描述]", *[f"{k}={v}" for k, v in attrs.items()], "[地块坐标]"]
    offset = zone * 1_000_000 if with_prefix else 0
    for header, geom in parcels:
        rings = _rings(geom)
        count = sum(len(r) for _, r in rings)
        values = {POINTS_FIELD: str(count), AREA_FIELD: f"{geom.area / 10_000:.4f}", **header}
        out.append(",".join(_field(values.get(f, "")) for f in HEADER_FIELDS) + ",@")
        n = 0
        for ring_no, coords in rings:
            first_no = n + 1
            for i, (x, y) in enumerate(coords):
                label = first_no if i == len(coords) - 1 else n + 1
                if i < len(coords) - 1:
                    n += 1
                out.append(f"J{label},{ring_no},{y:.3f},{x + offset:.3f}")
    return ("\r\n".join(out) + "\r\n").encode("gb18030")


def _field(value: object) -> str:
    return re.sub(r"[\r\n]+", " ", str(value)).replace(",", "，").strip()


def _rings(geom: BaseGeometry) -> list[tuple[int, list[tuple[float, float]]]]:
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    rings: list[tuple[int, list[tuple[float, float]]]] = []
    for poly in polys:
        rings.append((len(rings) + 1, list(poly.exterior.coords)))
        for hole in poly.interiors:
            rings.append((len(rings) + 1, list(hole.coords)))
    return rings
