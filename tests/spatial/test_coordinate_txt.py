"""The coordinate TXT as bureaus really write it: real-world variants in tests/data (GBK, UTF-8, UTF-16; CRLF and
LF), header fields with full-width commas, 3°/6° zones, coordinate-system spellings, swapped axes, headers that
contradict the coordinates; and write → parse round trips of arbitrary polygons."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from yimatong.domain import geometry as geo
from yimatong.formats.coordinate_txt import CoordinateTxtError, parse_coordinate_txt, write_coordinate_txt
from yimatong.formats.parcel_files import read_parcel_file

DATA = Path(__file__).resolve().parent.parent / "data"


def txt(name: str) -> bytes:
    return (DATA / name).read_bytes()


def make(system: str = "2000国家大地坐标系", width: str = "3", zone: str = "37", header: str = "5,1.0000,A,甲,面,,,,@",
         points: str = "", enc: str = "gbk") -> bytes:
    points = points or ("J1,1,3207120.400,37567810.250\nJ2,1,3207120.400,37567910.250\n"
                        "J3,1,3207220.400,37567910.250\nJ4,1,3207220.400,37567810.250\nJ1,1,3207120.400,37567810.250\n")
    return (f"[属性描述]\n坐标系={system}\n几度分带={width}\n投影类型=高斯克吕格\n计量单位=米\n带号={zone}\n[地块坐标]\n"
            f"{header}\n{points}").encode(enc)


def test_full_width_commas_stay_inside_names() -> None:
    """Every header field of a parcel whose name holds a full-width comma was shifted by one."""
    parsed = parse_coordinate_txt(txt("txt-gbk-crlf-fullwidth-names.txt"))
    first, second = parsed.parcels
    assert first.header["地块名称"] == "鼎城区善卷路东侧，二期地块"
    assert (first.header["图形属性"], first.header["图幅号"], first.header["地块用途"], first.header["地类编码"]) == (
        "面", "H-49-112", "城镇住宅用地", "0701")
    assert second.header["地块名称"] == "武陵区（城北）柳叶大道，三号地块" and second.header["地类编码"] == "0901"
    assert parsed.epsg == 4525 and first.warnings == [] and first.geometry.area == pytest.approx(10800)


def test_header_typed_with_full_width_commas_throughout_is_read() -> None:
    parsed = parse_coordinate_txt(make(header="5，1.0000，A，甲地块，面，，，，@"))
    assert parsed.parcels[0].header["地块名称"] == "甲地块" and parsed.parcels[0].warnings == []


def test_six_degree_zone_19_is_the_projection_of_3_degree_zone_37_with_its_own_false_easting() -> None:
    """6° zone 19 (EPSG:4497, CM 111°E, false easting 19 500 000) covers Changde: the same places as 3° zone 37."""
    six = parse_coordinate_txt(txt("txt-utf8-lf-6degree-zone19.txt"))
    assert six.epsg == 4497
    three = parse_coordinate_txt(txt("txt-gbk-crlf-fullwidth-names.txt"))
    a = geo.to_storage(six.parcels[0].geometry, six.epsg)
    b = geo.to_storage(three.parcels[0].geometry, three.epsg)
    assert a.symmetric_difference(b).area < 1e-14 and 111.6 < a.centroid.x < 111.8
    items = read_parcel_file(txt("txt-utf8-lf-6degree-zone19.txt"), "zone19.txt")
    assert items[0].areas["area_m2"] == pytest.approx(10800, rel=1e-3)


def test_utf16_with_bom_and_tab_separated_points() -> None:
    parsed = parse_coordinate_txt(txt("txt-utf16-bom-tabs.txt"))
    p = parsed.parcels[0]
    assert parsed.epsg == 4525 and p.header["地块名称"] == "桃源县示例地块"
    assert p.geometry.area == pytest.approx(10000) and p.warnings == []  # 点数 4: the count without closing points


def test_hole_and_second_outer_ring_make_one_multipolygon() -> None:
    p = parse_coordinate_txt(txt("txt-gbk-lf-hole-multipart.txt")).parcels[0]
    assert isinstance(p.geometry, MultiPolygon) and len(p.geometry.geoms) == 2
    assert len(p.geometry.geoms[0].interiors) == 1 and p.geometry.area == pytest.approx(40000)
    assert p.warnings == []


@pytest.mark.parametrize("width", ["3", "3度", "3度带", "3°", "３度带", "3 度带"])
def test_zone_width_spellings(width: str) -> None:
    assert parse_coordinate_txt(make(width=width)).epsg == 4525


@pytest.mark.parametrize("system", ["2000国家大地坐标系", "CGCS2000", "CGCS 2000", "国家2000坐标系",
                                    "2000国家大地坐标系(CGCS2000)", "ＣＧＣＳ２０００", "cgcs2000坐标系"])
def test_cgcs2000_spellings_are_accepted(system: str) -> None:
    assert parse_coordinate_txt(make(system=system)).epsg == 4525


@pytest.mark.parametrize(("system", "named"), [
    ("1980西安坐标系", "1980西安坐标系"), ("西安80", "1980西安坐标系"), ("北京54", "1954北京坐标系"),
    ("1954年北京坐标系", "1954北京坐标系"), ("常德市独立坐标系", "独立坐标系"), ("地方坐标系2000", "独立坐标系"),
    ("城建2000坐标系", "独立坐标系"), ("WGS84", "WGS84"),
])
def test_other_systems_are_refused_by_name(system: str, named: str) -> None:
    """Any text containing "2000" used to pass."""
    with pytest.raises(CoordinateTxtError) as exc:
        parse_coordinate_txt(make(system=system))
    assert named in exc.value.message


def test_unknown_system_text_is_refused() -> None:
    with pytest.raises(CoordinateTxtError, match="仅支持 2000国家大地坐标系"):
        parse_coordinate_txt(make(system="2000年测绘成果"))


def test_city_system_file_is_refused_by_name() -> None:
    with pytest.raises(CoordinateTxtError, match="独立坐标系"):
        parse_coordinate_txt(txt("txt-gbk-crlf-city-system.txt"))


def test_swapped_x_and_y_are_detected_and_said() -> None:
    with pytest.raises(CoordinateTxtError) as exc:
        parse_coordinate_txt(txt("txt-gbk-crlf-swapped-xy.txt"))
    assert "颠倒" in exc.value.message and exc.value.line == 14
    unprefixed = make(zone="37", points="J1,1,567810.250,3207120.400\nJ2,1,567910.250,3207120.400\n"
                                        "J3,1,567910.250,3207220.400\n")
    with pytest.raises(CoordinateTxtError, match="颠倒"):
        parse_coordinate_txt(unprefixed)


@pytest.mark.parametrize(("width", "zone", "needle"), [
    ("6", "37", "3 度带"),      # a 37 prefix is a 3° zone
    ("3", "19", "19"),          # a 19 prefix is a 6° zone
    ("1.5度", "37", "几度分带"),
])
def test_contradicting_zone_declarations_are_refused(width: str, zone: str, needle: str) -> None:
    prefix = zone if zone != "19" else "19"
    points = "".join(f"J{i},1,3207120.400,{prefix}5678{i}0.250\n" for i in range(1, 4))
    with pytest.raises(CoordinateTxtError) as exc:
        parse_coordinate_txt(make(width=width, zone=zone, points=points))
    assert needle in exc.value.message


def test_points_outside_the_zone_are_refused() -> None:
    """An easting 400 km from the central meridian is not in a 3° zone (wrong zone number, or not metres)."""
    points = "J1,1,3207120.400,37967810.250\nJ2,1,3207120.400,37967910.250\nJ3,1,3207220.400,37967910.250\n"
    with pytest.raises(CoordinateTxtError, match="不在 3 度带第 37 带"):
        parse_coordinate_txt(make(points=points))


@pytest.mark.parametrize("bad", ["NaN", "nan", "inf", "-Infinity", "1e999"])
def test_non_finite_first_easting_names_the_line(bad: str) -> None:
    """`NaN` as the first easting was a 500 on the API and a traceback in the CLI."""
    points = f"J1,1,3207120.400,{bad}\nJ2,1,3207120.400,37567910.250\nJ3,1,3207220.400,37567910.250\n"
    with pytest.raises(CoordinateTxtError) as exc:
        parse_coordinate_txt(make(points=points))
    assert exc.value.line == 9 and "有限数值" in exc.value.message


def test_header_area_and_point_count_are_compared_with_the_geometry() -> None:
    first, second = parse_coordinate_txt(txt("txt-gbk-crlf-header-mismatch.txt")).parcels
    fields = {f: m for f, m in first.warnings}
    assert set(fields) == {"点数", "面积(公顷)"}
    assert "1.2000" in fields["面积(公顷)"] and "1.0800" in fields["面积(公顷)"] and "9" in fields["点数"]
    assert second.warnings == []


@pytest.mark.parametrize(("area", "warned"), [
    ("1.0000", False), ("1.0010", False), ("1.0011", True), ("1", False), ("1.0公顷", False), ("1.00 ha", False),
    ("0.9989", True), ("一公顷", True),
])
def test_area_tolerance_is_a_tenth_of_a_percent_beyond_rounding(area: str, warned: bool) -> None:
    p = parse_coordinate_txt(make(header=f"5,{area},A,甲,面,,,,@")).parcels[0]
    assert bool(p.warnings) is warned, p.warnings


def test_vertex_limit_refuses_the_parcel_and_the_request() -> None:
    ring = [(3207120.4 + 50 * math.sin(i / 50), 37567810.25 + 50 * math.cos(i / 50))
            for i in range(300)]
    points = "".join(f"J{i},1,{x:.3f},{y:.3f}\n" for i, (x, y) in enumerate(ring, start=1))
    data = make(points=points) + ("7,1.0000,B,乙,面,,,,@\n" + make().decode("gbk").split("@\n", 1)[1]).encode("gbk")
    parsed = parse_coordinate_txt(data, limits=geo.Limits(vertices_per_geometry=100, vertices_per_request=1000))
    assert parsed.parcels[0].error is not None and "100" in parsed.parcels[0].error
    assert parsed.parcels[1].error is None
    with pytest.raises(CoordinateTxtError) as exc:
        parse_coordinate_txt(data, limits=geo.Limits(vertices_per_request=200))
    assert exc.value.status == 413


# --- properties -------------------------------------------------------------------------------------------------

NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=24)


@st.composite
def zone_polygons(draw: st.DrawFn) -> Polygon | MultiPolygon:
    """Convex parcels (with a hole now and then, and a second part) somewhere in zone 37, coordinates in mm."""
    cx = draw(st.floats(430_000, 570_000))
    cy = draw(st.floats(3_150_000, 3_330_000))
    pts = draw(st.lists(st.tuples(st.floats(-400, 400), st.floats(-400, 400)), min_size=3, max_size=40))
    hull = shapely.convex_hull(shapely.MultiPoint([(cx + round(x, 3), cy + round(y, 3)) for x, y in pts]))
    if not isinstance(hull, Polygon) or hull.area < 10:
        hull = shapely.box(cx, cy, cx + 50, cy + 50)
    hull = shapely.set_precision(hull, 0.001)
    if draw(st.booleans()):
        c = hull.centroid
        hole = shapely.set_precision(shapely.affinity.scale(hull, 0.3, 0.3, origin=c), 0.001)
        if hull.contains(hole) and hole.area > 1:
            hull = Polygon(hull.exterior.coords, [hole.exterior.coords])
    if draw(st.booleans()):
        far = shapely.affinity.translate(hull, xoff=5_000)
        return MultiPolygon([hull, far])
    return hull


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(zone_polygons(), NAMES, NAMES), min_size=1, max_size=4), st.booleans())
def test_write_then_parse_gives_back_every_parcel(parcels, prefixed: bool) -> None:  # type: ignore[no-untyped-def]
    items = [({"地块编号": no, "地块名称": name, "图形属性": "面"}, geom) for geom, no, name in parcels]
    parsed = parse_coordinate_txt(write_coordinate_txt(items, 37, with_prefix=prefixed))
    assert parsed.epsg == (4525 if prefixed else 4546)
    assert len(parsed.parcels) == len(items)
    for (header, geom), back in zip(items, parsed.parcels, strict=True):
        got = shapely.affinity.translate(back.geometry, xoff=-37_000_000 if prefixed else 0)
        assert got.geom_type == geom.geom_type
        assert got.symmetric_difference(geom).area <= 1e-3 * max(geom.length, 1)
        for key in ("地块编号", "地块名称"):
            assert back.header[key] == header[key].replace(",", "，").strip()
        assert back.warnings == [] and back.error is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: ("[属性描述]\n[地块坐标]\n" + t).encode()))
def test_parsing_never_raises_anything_but_a_txt_error(data: bytes) -> None:
    with contextlib.suppress(CoordinateTxtError):
        parse_coordinate_txt(data)
