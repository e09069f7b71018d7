"""Parcel files in and out: GeoJSON, zipped Shapefile (GBK attributes are common), GeoPackage, and the
standard coordinate TXT. GIS formats go through GDAL (pyogrio); the TXT through coordinate_txt."""

from __future__ import annotations

import codecs
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

from yimatong.config import Settings
from yimatong.domain import geometry as geo
from yimatong.formats import geometry_check
from yimatong.formats.archives import ArchiveError, Unpacker, ZipLimits, open_zip
from yimatong.formats.coordinate_txt import CoordinateTxtError, parse_coordinate_txt

EXTENSIONS = (".geojson", ".json", ".zip", ".gpkg", ".txt")


class ParcelFileError(ValueError):
    """A file refused whole: 413 when over a size limit, else 422."""

    def __init__(self, message: str, field: str = "file", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@dataclass
class ParcelInput:
    """One feature of a parcel file: its geometry in EPSG:4490, validated, or the reason it is refused (an
    import with `partial` takes the other features; without it the file is refused naming each bad one).
    `warnings` are (field, message) pairs the file itself contradicts (a TXT header's area or point count)."""
    geometry: BaseGeometry | None
    properties: dict[str, Any]
    index: int
    areas: dict[str, float] = field(default_factory=dict)
    error: tuple[str, str] | None = None  # (field, message)
    warnings: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReadLimits:
    """What one parcel file may hold and cost (from settings: see `limits_of`)."""

    max_bytes: int = 200 * 1024 * 1024
    geometry: geometry_check.Budget = field(default_factory=geometry_check.Budget)
    zip: ZipLimits = field(default_factory=ZipLimits)


def limits_of(settings: Settings) -> ReadLimits:
    return ReadLimits(settings.max_upload_bytes, geometry_check.budget_of(settings),
                      ZipLimits(settings.max_zip_members, settings.max_unzipped_bytes))


def require_valid(items: list[ParcelInput]) -> list[ParcelInput]:
    """For uses that take a file whole (control layers): the first bad feature refuses it, naming how many."""
    bad = [i for i in items if i.error]
    if bad:
        more = f"（共 {len(bad)} 个要素有误）" if len(bad) > 1 else ""
        raise ParcelFileError(bad[0].error[1] + more, bad[0].error[0])  # type: ignore[index]
    return items


Raw = tuple[BaseGeometry | None, dict[str, Any], str | None, list[tuple[str, str]]]  # geometry, props, error, warnings


def read_parcel_file(data: bytes, filename: str, crs: int | None = None, max_bytes: int | None = None,
                     limits: ReadLimits | None = None) -> list[ParcelInput]:
    """Read, bound and validate every feature of a parcel file. Slow on hostile files only within the limits'
    budget; touches no database, so callers run it before they open a write transaction."""
    limits = limits or ReadLimits()
    max_bytes = max_bytes or limits.max_bytes
    name = filename.lower()
    if len(data) > max_bytes:
        raise ParcelFileError(f"文件超过上限 {max_bytes} 字节", status=413)
    if not name.endswith(EXTENSIONS):
        raise ParcelFileError(f"不支持的文件类型 {filename}：支持 GeoJSON、Shapefile（zip）、GeoPackage、坐标 TXT")
    raw_items = _read_txt(data, crs, limits) if name.endswith(".txt") else _read_gis(data, filename, crs, limits)
    if not raw_items:
        raise ParcelFileError("文件中没有地块")
    try:
        geometry_check.check_request_size([g for g, *_ in raw_items], "file", limits.geometry.limits)
    except geo.GeometryError as exc:
        raise ParcelFileError(exc.message, exc.field, exc.status) from None
    return _validated(raw_items, limits.geometry)


def _validated(raw_items: list[Raw], budget: geometry_check.Budget) -> list[ParcelInput]:
    out: list[ParcelInput] = []
    todo: list[tuple[BaseGeometry, str]] = []
    for i, (geom, props, error, warnings) in enumerate(raw_items):
        item = ParcelInput(None, props, i, warnings=warnings)
        if error is not None:
            item.error = (f"features.{i}.geometry", f"第 {i + 1} 个要素：{error}")
        elif geom is None:
            item.error = (f"features.{i}.geometry", f"第 {i + 1} 个要素没有几何")
        else:
            todo.append((geom, f"features.{i}.geometry"))
        out.append(item)
    try:
        outcomes = iter(geometry_check.check_geometries(todo, budget))
    except geo.GeometryError as exc:  # the request's budget as a whole
        raise ParcelFileError(exc.message, "file", exc.status) from None
    for item in out:
        if item.error is not None:
            continue
        outcome = next(outcomes)
        if isinstance(outcome, geo.GeometryError):
            item.error = (outcome.field, f"第 {item.index + 1} 个要素：{outcome.message}")
        else:
            item.geometry, item.areas = outcome, geo.areas(outcome)
    return out


def _read_txt(data: bytes, crs: int | None, limits: ReadLimits) -> list[Raw]:
    zone_hint = None
    if crs is not None and geo.projected(crs):
        _, zone_hint, _ = geo.zone_of_epsg(crs)  # zone numbers tell the width: 13–23 are 6°, 25–45 3°
    try:
        parsed = parse_coordinate_txt(data, zone_hint=zone_hint, limits=limits.geometry.limits)
    except CoordinateTxtError as exc:
        raise ParcelFileError(exc.message, exc.field, exc.status) from None
    out: list[Raw] = []
    for i, p in enumerate(parsed.parcels):
        props = {**p.header, "_line": p.line}
        warnings = [(f"features.{i}.{f}", m) for f, m in p.warnings]
        geom = None if p.geometry is None else geo.to_storage(p.geometry, parsed.epsg)
        out.append((geom, props, p.error, warnings))
    return out


def _read_gis(data: bytes, filename: str, crs: int | None, limits: ReadLimits) -> list[Raw]:
    with tempfile.TemporaryDirectory(prefix="ymt-parcels-") as tmp:
        path = _materialise(data, filename, Path(tmp), limits.zip)
        encoding = _encoding(path)
        try:
            meta, _, wkb, field_data = raw.read(str(path), encoding=encoding)
        except (DataSourceError, DataLayerError, RuntimeError, ValueError) as exc:
            raise ParcelFileError(f"无法读取地块文件：{str(exc).splitlines()[0][:200]}") from None
    names = list(meta["fields"])
    geoms = [None if blob is None else shapely.from_wkb(blob) for blob in wkb]
    try:  # bounded before any reprojection or validation
        geometry_check.check_request_size(geoms, "file", limits.geometry.limits)
    except geo.GeometryError as exc:
        raise ParcelFileError(exc.message, exc.field, exc.status) from None
    src = _source_epsg(meta.get("crs"), crs, geoms)
    out: list[Raw] = []
    for i, g in enumerate(geoms):
        props = {n: _plain(field_data[j][i]) for j, n in enumerate(names)}
        out.append((None if g is None else geo.to_storage(shapely.force_2d(g), src), props, None, []))
    return out


SMALL_MEMBER = 64 * 1024  # .cpg and .prj are a few bytes


def _materialise(data: bytes, filename: str, tmp: Path, limits: ZipLimits) -> Path:
    name = filename.lower()
    if not name.endswith(".zip"):
        target = tmp / ("upload" + Path(name).suffix)
        target.write_bytes(data)
        return target
    try:
        z = open_zip(data, filename, limits)
    except ArchiveError as exc:
        raise ParcelFileError(exc.message, exc.field, exc.status) from None
    with z:
        infos = [i for i in z.infolist() if not i.is_dir() and ".." not in i.filename and
                 not i.filename.startswith("/")]
        shp = [i for i in infos if i.filename.lower().endswith(".shp")]
        if not shp:
            raise ParcelFileError("zip 中没有 .shp 文件")
        stem = shp[0].filename[:-4].lower() + "."
        unpack = Unpacker(z, filename, limits)
        try:
            for info in infos:
                suffix = Path(info.filename).suffix.lower()
                if info.filename.lower().startswith(stem) and suffix in SHAPEFILE_PARTS:
                    unpack.extract(info, tmp / ("upload" + suffix))
        except ArchiveError as exc:
            raise ParcelFileError(exc.message, exc.field, exc.status) from None
    if not (tmp / "upload.dbf").exists() or not (tmp / "upload.shx").exists():
        raise ParcelFileError("Shapefile 不完整：zip 中须同时有 .shp、.shx、.dbf")
    return tmp / "upload.shp"


SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd")


def _encoding(path: Path) -> str | None:
    """Shapefile attributes: the .cpg if present; otherwise UTF-8 when the .dbf decodes as UTF-8, else GBK
    (read in chunks: a .dbf may be hundreds of MB)."""
    if path.suffix != ".shp":
        return None
    cpg = path.with_suffix(".cpg")
    if cpg.exists():
        value = cpg.read_bytes()[:SMALL_MEMBER].decode("ascii", errors="ignore").strip().upper()
        return {"936": "GBK", "CP936": "GBK", "GB2312": "GBK", "UTF8": "UTF-8"}.get(value, value or None)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path.with_suffix(".dbf"), "rb") as f:
            while chunk := f.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        return "UTF-8"
    except UnicodeDecodeError:
        return "GBK"


def _source_epsg(wkt: str | None, given: int | None, geoms: list[BaseGeometry | None]) -> int:
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
    first = next((shapely.get_coordinates(g)[0] for g in geoms if g is not None and not g.is_empty), (0.0, 0.0))
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


FieldKind = str  # "int" | "real" | "text" | "date"
EXPORT_FIELDS: list[tuple[str, FieldKind]] = [
    ("id", "int"), ("parcel_no", "text"), ("name", "text"), ("area_m2", "real"), ("area_mu", "real"),
    ("area_ha", "real"), ("codes", "text"), ("created", "date")]  # names fit the DBF's ten characters


def _column(values: list[Any], kind: FieldKind) -> Any:
    """A typed column, so that GDAL declares the field as Integer64, Real, Date or String (OGR types)."""
    if kind == "int":
        return np.array([int(v) for v in values], dtype=np.int64)
    if kind == "real":
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if kind == "date":
        return np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "D") for v in values],
                        dtype="datetime64[D]")
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def _columns(features: list[tuple[BaseGeometry, dict[str, Any]]], fields: list[tuple[str, FieldKind]]
             ) -> tuple[Any, list[Any]]:
    geoms = np.array([shapely.to_wkb(shapely.geometry.MultiPolygon([g]) if g.geom_type == "Polygon" else g)
                      for g, _ in features], dtype=object)
    data = [_column([p.get(name) for _, p in features], kind) for name, kind in fields]
    return geoms, data


def write_geopackage(features: list[tuple[BaseGeometry, dict[str, Any]]], path: Path,
                     fields: list[tuple[str, FieldKind]] = EXPORT_FIELDS) -> None:
    """GeoPackage layer `parcels` in EPSG:4490 (srs_id 4490 in gpkg_spatial_ref_sys), MultiPolygon, typed fields."""
    geoms, data = _columns(features, fields)
    raw.write(str(path), geoms, data, [n for n, _ in fields], layer="parcels", driver="GPKG",
              geometry_type="MultiPolygon", crs="EPSG:4490", encoding="UTF-8")


def write_shapefile_zip(features: list[tuple[BaseGeometry, dict[str, Any]]], path: Path,
                        fields: list[tuple[str, FieldKind]] = EXPORT_FIELDS, encoding: str = "UTF-8") -> None:
    """A zipped Shapefile (.shp .shx .dbf .prj .cpg) in EPSG:4490, typed fields, attributes in UTF-8 or GBK as the
    .cpg says — what ArcGIS users in the bureau open (older ArcMap versions read GBK only)."""
    if encoding not in ("UTF-8", "GBK"):
        raise ParcelFileError(f"Shapefile 编码应为 UTF-8 或 GBK，收到 {encoding}", "encoding")
    geoms, data = _columns(features, fields)
    with tempfile.TemporaryDirectory(prefix="ymt-shp-") as tmp:
        shp = Path(tmp) / "parcels.shp"
        raw.write(str(shp), geoms, data, [n for n, _ in fields], driver="ESRI Shapefile",
                  geometry_type="MultiPolygon", crs="EPSG:4490", encoding=encoding)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).iterdir()):
                zf.write(part, part.name)
