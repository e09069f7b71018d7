"""挂接地块 as a form: a coordinate TXT previewed (areas, spatial checks) with nothing written, then saved; the
same file again attaches nothing (through the form, and through the API's same command)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from forms.helpers import FORM, add_user, field_error, login, post
from yimatong.storage.models import ProjectParcel

TXT = (Path(__file__).resolve().parent.parent / "data" / "boundary-coordinates.txt").read_bytes()


def links(ymt: Any) -> int:
    with ymt.db.read() as s:
        return s.execute(select(func.count()).select_from(ProjectParcel)).scalar_one()


def preview(client: Any, code: str, csrf: str, data: bytes = TXT, name: str = "界址点坐标.txt") -> Any:
    return post(client, f"/code/{code}/parcels", csrf, {}, files={"file": (name, data, "text/plain")})


def test_preview_then_save_and_the_same_file_twice_adds_nothing(client, ymt) -> None:
    add_user(ymt, "lib", "registrar")
    csrf = login(client, "lib")
    code = post(client, "/projects/new", csrf, FORM).headers["location"].split("/")[2]
    r = preview(client, code, csrf)
    assert r.status_code == 200 and "预览" in r.text and "尚未保存" in r.text
    assert 'id="total-m2"' in r.text and "平方米" in r.text
    assert links(ymt) == 0  # the preview wrote nothing
    upload = re.search(r'name="upload" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    done = post(client, f"/code/{code}/parcels", csrf, {"upload": upload})
    assert done.status_code == 200 and "已挂接" in done.text
    attached = links(ymt)
    assert attached >= 1
    again = post(client, f"/code/{code}/parcels", csrf, {"upload": upload})  # the kept file went with the save
    assert again.status_code == 422 and "预览已过期" in again.text
    second = preview(client, code, csrf)
    assert 'id="count-taken">0<' in second.text and "不重复" in second.text
    assert links(ymt) == attached


def test_bad_files_are_named_in_chinese_and_csrf_is_required(client, ymt) -> None:
    add_user(ymt, "lib", "registrar")
    csrf = login(client, "lib")
    code = post(client, "/projects/new", csrf, FORM).headers["location"].split("/")[2]
    r = post(client, f"/code/{code}/parcels", csrf, {})
    assert r.status_code == 422 and (field_error(r.text, "file") or "").startswith("地块文件")
    r = preview(client, code, csrf, b"PK\x03\x04 not a zip", "地块.zip")
    assert r.status_code == 422 and "BadZipFile" not in r.text
    r = client.post(f"/code/{code}/parcels", files={"file": ("a.txt", TXT, "text/plain")}, follow_redirects=False)
    assert r.status_code == 403
    add_user(ymt, "look", "viewer")
    csrf = login(client, "look")
    r = preview(client, code, csrf)
    assert r.status_code == 403 and "无权挂接地块" in r.text
    assert links(ymt) == 0


def test_the_api_attaching_the_same_file_twice_does_not_duplicate_parcels(client, registrar_headers) -> None:
    code = client.post("/api/v1/projects", json={**{k: v for k, v in FORM.items() if k not in ("source_kind",)},
                                                   "year": 2026, "area_m2": 12000.0},
                       headers=registrar_headers).json()["code"]
    first = client.post(f"/api/v1/projects/{code}/parcels", files={"file": ("a.txt", TXT)}, headers=registrar_headers)
    second = client.post(f"/api/v1/projects/{code}/parcels", files={"file": ("a.txt", TXT)}, headers=registrar_headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["counts"]["taken"] >= 1
    assert second.json()["counts"]["taken"] == 0
    assert second.json()["counts"]["unchanged"] == first.json()["counts"]["taken"]
    parcels = client.get("/api/v1/parcels", params={"code": code}, headers=registrar_headers).json()
    assert len(parcels["features"]) == first.json()["counts"]["taken"]


def test_a_geojson_file_is_attached_the_same_way(client, ymt) -> None:
    add_user(ymt, "lib", "registrar")
    csrf = login(client, "lib")
    code = post(client, "/projects/new", csrf, FORM).headers["location"].split("/")[2]
    ring = [[111.690, 29.030], [111.692, 29.030], [111.692, 29.032], [111.690, 29.032], [111.690, 29.030]]
    body = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"地块编号": "DK-1"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]})
    r = preview(client, code, csrf, body.encode(), "地块.geojson")
    assert r.status_code == 200 and 'id="count-taken">1<' in r.text
    upload = re.search(r'name="upload" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    assert post(client, f"/code/{code}/parcels", csrf, {"upload": upload}).status_code == 200
    assert links(ymt) == 1
