"""Parcel files in and out: GeoJSON, zipped Shapefile (GBK attributes are common), GeoPackage, and the
standard coordinate TXT. GIS formats go through GDAL (pyogrio); the TXT through coordinate_txt."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyogrio import raw
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from yimatong.domain import geometry as geo
from yimatong.formats.coordinate_txt import CoordinateTxtError, parse_coordinate_txt

EXTENSIONS = (".geojson", ".json", ".zip", ".gpkg", ".txt")


class ParcelFileError(ValueError):
    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class ParcelInput:
    """One feature of a parcel file: its geometry in EPSG:4490, validated, or the reason it is refused (an
    import with `partial` takes the other features; without it the file is refused naming each bad one)."""
    geometry: BaseGeometry | None
    properties: dict[str, Any]
    index: int
    areas: dict[str, float] = field(default_factory=dict)
    error: tuple[str, str] | None = None  # (field, message)


def require_valid(items: list[ParcelInput]) -> list[ParcelInput]:
    """For uses that take a file whole (control layers): the first bad feature refuses it, naming how many."""
    bad = [i for i in items if i.error]
    if bad:
        more = f"（共 {len(bad)} 个要素有误）" if len(bad) > 1 else ""
        raise ParcelFileError(bad[0].error[1] + more, bad[0].error[0])  # type: ignore[index]
    return items


def read_parcel_file(data: bytes, filename: str, crs: int | None = None, max_bytes: int = 200 * 1024 * 1024
                     ) -> list[ParcelInput]:
    name = filename.lower()
    if len(data) > max_bytes:
        raise ParcelFileError(f"文件超过上限 {max_bytes} 字节")
    if not name.endswith(EXTENSIONS):
        raise ParcelFileError(f"不支持的文件类型 {filename}：支持 GeoJSON、Shapefile（zip）、GeoPackage、坐标 TXT")
    raw_items = _read_txt(data, crs) if name.endswith(".txt") else _read_gis(data, name, crs)
    if not raw_items:
        raise ParcelFileError("文件中没有地块")
    out = []
    for i, (geom, props) in enumerate(raw_items):
        if geom is None:
            out.append(ParcelInput(None, props, i, error=(f"features.{i}.geometry", f"第 {i + 1} 个要素没有几何")))
            continue
        try:
            valid = geo.validate_polygon(geom, f"features.{i}.geometry")
        except geo.GeometryError as exc:
            out.append(ParcelInput(None, props, i, error=(exc.field, f"第 {i + 1} 个要素：{exc.message}")))
            continue
        out.append(ParcelInput(valid, props, i, geo.areas(valid)))
    return out


def _read_txt(data: bytes, crs: int | None) -> list[tuple[BaseGeometry, dict[str, Any]]]:
    zone_hint = None
    if crs is not None and geo.supported_epsg(crs) and crs not in geo.GEOGRAPHIC:
        zone_hint = (crs - 4534 + 25) if crs >= 4534 else (crs - 4513 + 25)
    try:
        parsed = parse_coordinate_txt(data, zone_hint=zone_hint)
    except CoordinateTxtError as exc:
        raise ParcelFileError(exc.message) from None
    return [(geo.to_storage(p.geometry, parsed.epsg), {**p.header, "_line": p.line}) for p in parsed.parcels]


def _read_gis(data: bytes, name: str, crs: int | None) -> list[tuple[BaseGeometry | None, dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="ymt-parcels-") as tmp:
        path = _materialise(data, name, Path(tmp))
        encoding = _encoding(path)
        try:
            meta, _, wkb, field_data = raw.read(str(path), encoding=encoding)
        except (DataSourceError, DataLayerError, RuntimeError, ValueError) as exc:
            raise ParcelFileError(f"无法读取地块文件：{str(exc).splitlines()[0][:200]}") from None
    src = _source_epsg(meta.get("crs"), crs, wkb)
    names = list(meta["fields"])
    out = []
    out: list[tuple[BaseGeometry | None, dict[str, Any]]] = []
    for i, blob in enumerate(wkb):
        props = {n: _plain(field_data[j][i]) for j, n in enumerate(names)}
        geom = None if blob is None else geo.to_storage(shapely.force_2d(shapely.from_wkb(blob)), src)
        out.append((geom, props))
    return out


def _materialise(data: bytes, name: str, tmp: Path) -> Path:
    if not name.endswith(".zip"):
        target = tmp / ("upload" + Path(name).suffix)
        target.write_bytes(data)
        return target
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [m for m in z.namelist() if not m.endswith("/") and ".." not in m and not m.startswith("/")]
            shp = [m for m in members if m.lower().endswith(".shp")]
            if not shp:
                raise ParcelFileError("zip 中没有 .shp 文件")
            stem = shp[0][:-4]
            for m in members:
                if m.lower().startswith(stem.lower() + "."):
                    (tmp / ("upload" + Path(m).suffix.lower())).write_bytes(z.read(m))
    except zipfile.BadZipFile:
        raise ParcelFileError("zip 文件已损坏或不是 zip") from None
    if not (tmp / "upload.dbf").exists() or not (tmp / "upload.shx").exists():
        raise ParcelFileError("Shapefile 不完整：zip 中须同时有 .shp、.shx、.dbf")
    return tmp / "upload.shp"


def _encoding(path: Path) -> str | None:
    """Shapefile attributes: the .cpg if present; otherwise UTF-8 when the .dbf decodes as UTF-8, else GBK."""
    if path.suffix != ".shp":
        return None
    cpg = path.with_suffix(".cpg")
    if cpg.exists():
        value = cpg.read_text(errors="ignore").strip().upper()
        return {"936": "GBK", "CP936": "GBK", "GB2312": "GBK", "UTF8": "UTF-8"}.get(value, value or None)
    dbf = path.with_suffix(".dbf").read_bytes()
    try:
        dbf.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        return "GBK"


def _source_epsg(wkt: str | None, given: int | None, wkb: Any) -> int:
    if given is not None:
        return geo.detect_crs((0, 0), given)
    if wkt:
        try:
            epsg = CRS.from_user_input(wkt).to_epsg(min_confidence=70)
        except Exception:  # noqa: BLE001 - pyproj raises several kinds for odd WKT
            epsg = None
        if epsg is not None:
            if not geo.supported_epsg(epsg):
                raise ParcelFileError(f"不支持的坐标系 EPSG:{epsg}；请转换为 CGCS2000（4490 或 3度带）后再导入", "crs")
            return epsg
    first = shapely.get_coordinates(shapely.from_wkb(next(b for b in wkb if b is not None)))[0]
    try:
        return geo.detect_crs((float(first[0]), float(first[1])))
    except geo.GeometryError as exc:
        raise ParcelFileError(exc.message, "crs") from None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def write_geojson(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def _columns(features: list[tuple[BaseGeometry, dict[str, Any]]], fields: list[str]) -> tuple[Any, list[Any]]:
    geoms = np.array([shapely.to_wkb(shapely.geometry.MultiPolygon([g]) if g.geom_type == "Polygon" else g)
                      for g, _ in features], dtype=object)
    data = [np.array([("" if p.get(f) is None else str(p.get(f))) for _, p in features], dtype=object)
            for f in fields]
    return geoms, data


def write_geopackage(features: list[tuple[BaseGeometry, dict[str, Any]]], path: Path,
                     fields: list[str]) -> None:
    """GeoPackage layer `parcels` in EPSG:4490 (attributes as text, geometry as MultiPolygon)."""
    geoms, data = _columns(features, fields)
    raw.write(str(path), geoms, data, fields, layer="parcels", driver="GPKG", geometry_type="MultiPolygon",
              crs="EPSG:4490", encoding="UTF-8")


def write_shapefile_zip(features: list[tuple[BaseGeometry, dict[str, Any]]], path: Path,
                        fields: list[str]) -> None:
    """A zipped Shapefile (.shp .shx .dbf .prj .cpg) in EPSG:4490, attributes in UTF-8 as the .cpg says —
    what ArcGIS users in the bureau open. Field names must fit the DBF's ten characters."""
    geoms, data = _columns(features, fields)
    with tempfile.TemporaryDirectory(prefix="ymt-shp-") as tmp:
        shp = Path(tmp) / "parcels.shp"
        raw.write(str(shp), geoms, data, fields, driver="ESRI Shapefile", geometry_type="MultiPolygon",
                  crs="EPSG:4490", encoding="UTF-8")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).iterdir()):
                zf.write(part, part.name)

