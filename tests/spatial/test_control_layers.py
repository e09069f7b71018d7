"""Control layers imported by the bureau, checked per project and across the library."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from shapely.geometry import box, mapping

from api.helpers import register
from conftest import YMT
from spatial.spatial_helpers import WULING, square


def layer(path: Path, geoms, name: str) -> Path:  # type: ignore[no-untyped-def]
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": name},
                                                     "geometry": mapping(g)} for g in geoms]}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def test_farmland_redline_and_boundary(client, registrar_headers, db_url, tmp_path) -> None:
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "d")}
    x, y = WULING
    farmland = layer(tmp_path / "jbnt.geojson", [box(x, y - 0.002, x + 0.002, y + 0.002)], "基本农田图斑")
    boundary = layer(tmp_path / "kfbj.geojson", [box(x - 0.0005, y - 0.01, x + 0.01, y + 0.01)], "开发边界")
    for kind, path in (("basic_farmland", farmland), ("dev_boundary", boundary)):
        out = subprocess.run([YMT, "import", "control_layer", str(path), "--kind", kind], env=env, capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
    code = register(client, registrar_headers)["code"]
    r = client.post(f"/api/v1/projects/{code}/parcels", json=square(WULING), headers=registrar_headers)
    kinds = {(w["kind"], w.get("layer")) for w in r.json()["features"][0]["warnings"]}
    assert kinds == {("control_layer", "basic_farmland"), ("control_layer", "dev_boundary")}
    issues = client.get("/api/v1/checks/spatial", params={"code": code}, headers=registrar_headers).json()["issues"]
    farm = next(i for i in issues if i.get("layer") == "basic_farmland")
    assert 20000 < farm["area_m2"] < 23000  # 0.001° x 0.002° near 29°N: ~97 m x ~222 m
    warnings = client.get("/api/v1/warnings", params={"kind": "spatial_conflict"}, headers=registrar_headers).json()
    assert {w["level"] for w in warnings["items"]} == {1, 2} and {w["code"] for w in warnings["items"]} == {code}
    bad = subprocess.run([YMT, "import", "control_layer", str(farmland), "--kind", "forest"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
