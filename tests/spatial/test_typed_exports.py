"""GeoPackage and Shapefile exports declare typed fields (areas as reals in m², 亩 and 公顷, the date as a date,
codes as text), the GeoPackage its CRS (EPSG:4490), the Shapefile a .cpg of the encoding chosen; read back with
pyogrio (GDAL) as a GIS client would."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import pyogrio
import pytest

from api.helpers import register
from conftest import YMT
from spatial.spatial_helpers import WULING, square

TYPES = {"id": "OFTInteger64", "parcel_no": "OFTString", "name": "OFTString", "area_m2": "OFTReal",
         "area_mu": "OFTReal", "area_ha": "OFTReal", "codes": "OFTString", "created": "OFTDate"}


def export(db_url: str, tmp_path: Path, out: Path, *extra: str) -> None:
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([YMT, "export", "parcels", str(out), *extra], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def attached(client, registrar_headers, ymt) -> tuple[str, float]:  # type: ignore[no-untyped-def]
    code = register(client, registrar_headers)["code"]
    feature = square(WULING, half=0.002, parcel_no="DK-001", name="丹阳路，一号地块")
    r = client.post(f"/api/v1/projects/{code}/parcels", json=feature, headers=registrar_headers)
    assert r.status_code == 201, r.text
    return code, r.json()["features"][0]["properties"]["area_m2"]


def test_geopackage_fields_are_typed_and_the_crs_declared(attached, db_url: str, tmp_path: Path) -> None:
    code, area = attached
    out = tmp_path / "地块.gpkg"
    export(db_url, tmp_path, out)
    info = pyogrio.read_info(out)
    assert dict(zip(info["fields"], info["ogr_types"], strict=True)) == TYPES
    assert info["crs"] == "EPSG:4490" and info["geometry_type"] == "MultiPolygon"
    with sqlite3.connect(out) as db:
        assert db.execute("SELECT srs_id FROM gpkg_contents WHERE table_name = 'parcels'").fetchone() == (4490,)
    df = pyogrio.raw.read(out)
    fields = dict(zip(df[0]["fields"], df[3], strict=True))
    assert fields["area_m2"][0] == pytest.approx(area) and fields["area_mu"][0] == pytest.approx(area / 666.6667, 1e-4)
    assert fields["area_ha"][0] == pytest.approx(area / 10000, rel=1e-4) and fields["codes"][0] == code
    assert fields["created"][0].astype(dt.date) == dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


@pytest.mark.parametrize(("option", "cpg", "encoding"), [((), "UTF-8", "utf-8"), (("--encoding", "gbk"), "GBK", "gbk")])
def test_shapefile_fields_are_typed_and_the_cpg_says_the_encoding(attached, db_url: str, tmp_path: Path,
                                                                  option: tuple[str, ...], cpg: str,
                                                                  encoding: str) -> None:
    out = tmp_path / "地块.zip"
    export(db_url, tmp_path, out, *option)
    with zipfile.ZipFile(out) as z:
        assert z.read("parcels.cpg").decode().strip() == cpg
        assert "丹阳路，一号地块".encode(encoding) in z.read("parcels.dbf")
        z.extractall(tmp_path / "shp")
    info = pyogrio.read_info(tmp_path / "shp" / "parcels.shp")
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    # DBF has no 64-bit integers or text of unlimited length; it has reals and dates
    assert {k: types[k] for k in ("area_m2", "area_mu", "area_ha", "created", "codes", "name")} == {
        "area_m2": "OFTReal", "area_mu": "OFTReal", "area_ha": "OFTReal", "created": "OFTDate", "codes": "OFTString",
        "name": "OFTString"}
    assert types["id"] in ("OFTInteger", "OFTInteger64")
    names = pyogrio.raw.read(tmp_path / "shp" / "parcels.shp")[3][2]
    assert names[0] == "丹阳路，一号地块"


def test_unknown_encoding_is_refused(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([YMT, "export", "parcels", str(tmp_path / "x.zip"), "--encoding", "big5"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "gbk" in done.stderr and "Traceback" not in done.stderr
