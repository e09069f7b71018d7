"""Parcel files in real formats, written with GDAL and read back through the importer and the CLI paths."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio import raw
from shapely.geometry import box

from yimatong.domain import geometry as geo
from yimatong.formats.coordinate_txt import CoordinateTxtError, parse_coordinate_txt, write_coordinate_txt
from yimatong.formats.parcel_files import ParcelFileError, read_parcel_file

DATA = Path(__file__).resolve().parent.parent / "data"


def shapefile_zip(tmp_path: Path, geoms, names: list[str], crs: str | None, encoding: str = "GBK",  # type: ignore[no-untyped-def]
                  cpg: bool = False) -> bytes:
    path = tmp_path / "dk.shp"
    raw.write(str(path), np.array([shapely.to_wkb(g) for g in geoms], dtype=object),
              [np.array(names, dtype=object)], ["XMMC"], geometry_type="Polygon", crs=crs, encoding=encoding,
              driver="ESRI Shapefile")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in tmp_path.glob("dk.*"):
            if p.suffix == ".cpg" and not cpg:
                continue
            z.write(p, f"地块/{p.name}")
    return buf.getvalue()


def test_sample_txt_gbk_two_parcels_areas_match_header() -> None:
    parsed = parse_coordinate_txt((DATA / "boundary-coordinates.txt").read_bytes())
    assert parsed.epsg == 4525 and len(parsed.parcels) == 2
    for p in parsed.parcels:
        assert geo.area_m2(geo.to_storage(p.geometry, parsed.epsg)) / 10000 == pytest.approx(
            float(p.header["面积(公顷)"]), rel=0.01)


def test_txt_without_prefix_holes_multipolygon_round_trip() -> None:
    outer = box(567000, 3213000, 567400, 3213400)
    hole = box(567100, 3213100, 567200, 3213200)
    second = box(568000, 3213000, 568100, 3213100)
    geom = shapely.geometry.MultiPolygon([shapely.geometry.Polygon(outer.exterior.coords, [hole.exterior.coords]),
                                          second])
    for prefix in (True, False):
        data = write_coordinate_txt([({"地块编号": "A", "地块名称": "测试"}, geom)], 37, with_prefix=prefix)
        parsed = parse_coordinate_txt(data)
        assert parsed.epsg == (4525 if prefix else 4546)
        back = parsed.parcels[0].geometry
        if prefix:
            back = shapely.affinity.translate(back, xoff=-37_000_000)
        assert back.area == pytest.approx(geom.area) and back.geom_type == "MultiPolygon"
        assert parsed.parcels[0].header["地块名称"] == "测试"


def _gbk_or_utf8(text: str) -> bytes:
    try:
        return text.encode("gbk")  # what the bureau's tools write
    except UnicodeEncodeError:
        return text.encode("utf-8")


@pytest.mark.parametrize(("text", "line"), [
    ("[属性描述]\n坐标系=2000国家大地坐标系\n带号=37\n[地块坐标]\n4,1,A,B,面,,,,@\nJ1,1,abc,37567207\n", 6),
    ("[属性描述]\n[地块坐标]\nJ1,1,3213899.2,37567207.8\n", 3),
    ("[属性描述]\n坐标系=西安80\n[地块坐标]\n4,1,A,B,面,,,,@\nJ1,1,3213899,37567207\nJ2,1,3213999,37567207\n"
     "J3,1,3213999,37567307\n", None),
    # a zone written with superscript digits (str.isdigit() says yes, int() says no)
    ("[属性描述]\n坐标系=2000国家大地坐标系\n带号=³⁷\n[地块坐标]\n4,1,A,B,面,,,,@\nJ1,1,3213899,37567207\n"
     "J2,1,3213999,37567207\nJ3,1,3213999,37567307\nJ4,1,3213899,37567207\n", None),
])
def test_broken_txt_names_the_line(text: str, line: int | None) -> None:
    with pytest.raises(CoordinateTxtError) as exc:
        parse_coordinate_txt(_gbk_or_utf8(text))
    assert exc.value.line == line


def test_shapefile_zip_with_gbk_attributes_and_prj(tmp_path: Path) -> None:
    geoms = [box(567000, 3213000, 567100, 3213100), box(567200, 3213000, 567300, 3213100)]
    data = shapefile_zip(tmp_path, geoms, ["武陵区一号地", "武陵区二号地"], "EPSG:4546")
    items = read_parcel_file(data, "地块.zip")
    assert [i.properties["XMMC"] for i in items] == ["武陵区一号地", "武陵区二号地"]
    assert items[0].areas["area_m2"] == pytest.approx(10000, rel=0.001)
    assert 111 < items[0].geometry.centroid.x < 112


def test_shapefile_without_prj_in_prefixed_zone_is_detected(tmp_path: Path) -> None:
    data = shapefile_zip(tmp_path, [box(37567000, 3213000, 37567100, 3213100)], ["甲"], None, "UTF-8", cpg=True)
    items = read_parcel_file(data, "x.zip")
    assert items[0].areas["area_m2"] == pytest.approx(10000, rel=0.001)


def test_geopackage_and_geojson(tmp_path: Path) -> None:
    gpkg = tmp_path / "p.gpkg"
    raw.write(str(gpkg), np.array([shapely.to_wkb(box(111.69, 29.03, 111.70, 29.04))], dtype=object),
              [np.array(["甲"], dtype=object)], ["name"], driver="GPKG", crs="EPSG:4490", geometry_type="Polygon")
    assert read_parcel_file(gpkg.read_bytes(), "p.gpkg")[0].properties["name"] == "甲"
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"名称": "乙"},
                                                     "geometry": shapely.geometry.mapping(box(111.69, 29.03, 111.7, 29.04))}]}
    assert read_parcel_file(json.dumps(fc).encode(), "p.geojson")[0].properties["名称"] == "乙"


@pytest.mark.parametrize(("data", "name", "needle"), [
    (b"not a zip", "x.zip", "zip"),
    (b"PK\x05\x06" + b"\0" * 18, "x.zip", ".shp"),
    (b"{}", "x.dwg", "不支持"),
    (b"garbage", "x.gpkg", "无法读取"),
])
def test_broken_files_are_clear_errors(data: bytes, name: str, needle: str) -> None:
    with pytest.raises(ParcelFileError) as exc:
        read_parcel_file(data, name)
    assert needle in exc.value.message


def test_foreign_crs_is_refused(tmp_path: Path) -> None:
    data = shapefile_zip(tmp_path, [box(12430000, 3380000, 12430100, 3380100)], ["甲"], "EPSG:3857")
    with pytest.raises(ParcelFileError) as exc:
        read_parcel_file(data, "x.zip")
    assert exc.value.field == "crs"
