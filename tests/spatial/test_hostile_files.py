"""Archives that explode: zipped Shapefiles are opened within member-count and unpacked-size limits (declared
and actual), members streamed to disk; refused with 413 naming the file. And the NaN coordinate TXT."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio import raw
from shapely.geometry import box

from conftest import YMT
from spatial.service_helpers import configured
from yimatong.formats.archives import ZipLimits
from yimatong.formats.parcel_files import ParcelFileError, ReadLimits, read_parcel_file


def shapefile_parts(tmp_path: Path) -> dict[str, bytes]:
    path = tmp_path / "dk.shp"
    raw.write(str(path), np.array([shapely.to_wkb(box(37567000, 3213000, 37567100, 3213100))], dtype=object),
              [np.array(["武陵区一号地"], dtype=object)], ["XMMC"], geometry_type="Polygon", crs="EPSG:4525",
              encoding="UTF-8", driver="ESRI Shapefile")
    return {p.suffix: p.read_bytes() for p in tmp_path.glob("dk.*")}


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_small_zip_holding_a_huge_dbf_is_refused_before_unpacking(tmp_path: Path) -> None:
    """A 1 MB zip with a 1 GiB .dbf took the process to 2.3 GB (the member was read whole)."""
    parts = shapefile_parts(tmp_path)
    bomb = zipped({"dk.shp": parts[".shp"], "dk.shx": parts[".shx"], "dk.dbf": b"\0" * (24 * 2**20)})
    assert len(bomb) < 100_000
    limits = ReadLimits(zip=ZipLimits(unzipped_bytes=16 * 2**20))
    with pytest.raises(ParcelFileError) as exc:
        read_parcel_file(bomb, "地块.zip", limits=limits)
    assert exc.value.status == 413 and "地块.zip" in exc.value.message and exc.value.field == "file"
    good = zipped({f"dk{s}": d for s, d in parts.items()})
    assert read_parcel_file(good, "地块.zip", limits=limits)[0].properties["XMMC"] == "武陵区一号地"


def test_a_zip_with_too_many_members_is_refused(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path)
    many = zipped({**{f"dk{s}": d for s, d in parts.items()}, **{f"junk/{i}.txt": b"" for i in range(1200)}})
    with pytest.raises(ParcelFileError) as exc:
        read_parcel_file(many, "many.zip")
    assert exc.value.status == 413 and "1000 个的上限" in exc.value.message


def test_zip_bomb_through_the_api_is_413_and_the_service_answers(tmp_path: Path, db_url: str) -> None:
    parts = shapefile_parts(tmp_path)
    bomb = zipped({"dk.shp": parts[".shp"], "dk.shx": parts[".shx"], "dk.dbf": b"\0" * (24 * 2**20)})
    with configured(db_url, tmp_path, max_unzipped_bytes=16 * 2**20) as (client, headers):
        r = client.post("/api/v1/imports/parcels", files={"file": ("地块.zip", bomb)}, headers=headers)
        assert r.status_code == 413 and r.json()["errors"][0]["field"] == "file"
        assert "地块.zip" in r.json()["detail"]


NAN_TXT = ("[属性描述]\r\n坐标系=2000国家大地坐标系\r\n几度分带=3\r\n带号=37\r\n[地块坐标]\r\n"
           "5,1.0000,DK-1,甲,面,,,,@\r\nJ1,1,3207120.400,NaN\r\nJ2,1,3207120.400,37567910.250\r\n"
           "J3,1,3207220.400,37567910.250\r\nJ4,1,3207220.400,37567810.250\r\n").encode("gbk")


def test_nan_easting_is_422_with_the_line_on_the_api(client, registrar_headers) -> None:
    """Was a 500."""
    from api.helpers import register

    code = register(client, registrar_headers)["code"]
    for path in ("/api/v1/imports/parcels", f"/api/v1/projects/{code}/parcels"):
        r = client.post(path, files={"file": ("坐标.txt", NAN_TXT)}, headers=registrar_headers)
        assert r.status_code == 422, r.text
        assert "第7行" in r.json()["detail"] and "有限数值" in r.json()["detail"]


def test_nan_easting_is_a_message_in_the_cli(db_url: str, tmp_path: Path) -> None:
    """Was a traceback."""
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "坐标.txt").write_bytes(NAN_TXT)
    done = subprocess.run([YMT, "import", "parcels", str(tmp_path / "坐标.txt")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode not in (0,) and "Traceback" not in done.stderr
    assert "第7行" in done.stderr and "有限数值" in done.stderr
