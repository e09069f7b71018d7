"""Parcel files to projects, control layers, and parcel exports."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, App, aware
from yimatong.core.visibility import View
from yimatong.domain import geometry as geo
from yimatong.domain.policy import Action
from yimatong.errors import Invalid, TooLarge, invalid
from yimatong.formats import parcel_files
from yimatong.formats.coordinate_txt import write_coordinate_txt
from yimatong.parcels import spatial as spatial_checks
from yimatong.parcels import store as parcels
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import ControlLayerFeature, Parcel, Project, ProjectParcel
from yimatong.uow import UnitOfWork
from yimatong.uow import run as uow_run

CODE_KEYS = ("项目码", "code", "ymt_code", "CODE", "XMDM")
NAME_KEYS = ("项目名称", "name", "NAME", "XMMC")


class _DryRun(Exception):
    pass


def read_file(app: App, data: bytes, filename: str, crs: int | None) -> list[parcel_files.ParcelInput]:
    """Read, bound and validate a parcel file (worker process, deadline, memory limit): no database, so it runs
    before any write transaction is opened."""
    try:
        return parcel_files.read_parcel_file(data, filename, crs, limits=parcel_files.limits_of(app.settings))
    except parcel_files.ParcelFileError as exc:
        if exc.status == 413:
            raise TooLarge(exc.message, [(exc.field, exc.message)]) from None
        raise invalid(exc.field, exc.message) from None


def import_parcels(app: App, actor: Actor, data: bytes | Path, filename: str, crs: int | None = None,
                   code: str | None = None, dry_run: bool = False, partial: bool = False,
                   strict: bool = False) -> dict[str, Any]:
    """Attach the parcels of a file to projects (named by `code` or by each feature's attributes); the file is
    read and every geometry validated before the write transaction. `strict`: a parcel whose file contradicts
    itself (a TXT header's area or point count off the coordinates by more than 0.1 %) is refused instead of taken
    with a warning."""
    app.profile.policy.check(actor, Action.PARCEL_ATTACH)
    raw = data.read_bytes() if isinstance(data, Path) else data
    items = read_file(app, raw, filename, crs)
    report: dict[str, Any] = {"kind": "parcels", "filename": filename, "dry_run": dry_run, "partial": partial,
                              "strict": strict, "counts": {"rows": len(items), "taken": 0, "refused": 0},
                              "taken": [], "refused": [], "warnings": [], "unchanged": []}
    _file_warnings(items, report, strict)

    def work(uow: UnitOfWork) -> None:
        _attach_all(uow, items, code, report)
        if (report["refused"] and not partial) or dry_run:
            raise _DryRun

    with contextlib.suppress(_DryRun):
        uow_run(app, actor, work)
    report["counts"]["taken"] = len(report["taken"])
    report["counts"]["refused"] = len(report["refused"])
    report["counts"]["unchanged"] = len(report["unchanged"])
    report["written"] = not dry_run and (partial or not report["refused"])
    return report


def _file_warnings(items: list[parcel_files.ParcelInput], report: dict[str, Any], strict: bool) -> None:
    for item in items:
        row = item.properties.get("_line", item.index + 1)
        for field, message in item.warnings:
            report["warnings"].append({"kind": "file_mismatch", "row": row, "field": field, "detail": message})
            if strict and item.error is None:
                item.error = (field, f"{message}（严格模式：不导入与自身不符的地块）")


def _attach_all(uow: UnitOfWork, items: list[parcel_files.ParcelInput], code: str | None,
                report: dict[str, Any]) -> None:
    session = uow.session
    known: dict[int, list[tuple[int, BaseGeometry]]] = {}  # project id → its parcels (id, normalised shape)
    for item in items:
        row = item.properties.get("_line", item.index + 1)
        if item.error or item.geometry is None:
            field, message = item.error or ("geometry", "没有几何")
            report["refused"].append({"row": row, "column": field, "reason": message})
            continue
        project, reason = _target(session, item.properties, code)
        if project is None:
            report["refused"].append({"row": row, "column": "项目码", "reason": reason})
            continue
        refused = uow.policy.refusal(uow.actor, Action.PARCEL_ATTACH, division=project.division)
        if refused is not None:
            report["refused"].append({"row": row, "column": "项目码", "reason": refused[1]})
            continue
        project = uow.project(project.code, Action.PARCEL_ATTACH)
        same = _already_attached(uow, project, item.geometry, known)
        if same is not None:  # the same file (or the same parcel) again: nothing new to attach
            report["unchanged"].append({"row": row, "code": project.code, "parcel_id": same,
                                                       **item.areas})
            continue
        with uow.savepoint():
            warnings = spatial_checks.check_geometry(session, uow.app, project.division, item.geometry)
            props = {k: v for k, v in item.properties.items() if not k.startswith("_")}
            parcel = parcels.attach(uow, project, item.geometry, props)
        known[project.id].append((parcel.id, shapely.normalize(item.geometry)))
        report["taken"].append({"row": row, "code": project.code, "parcel_id": parcel.id, **item.areas})
        report["warnings"] += [w | {"row": row} for w in warnings]


def _already_attached(uow: UnitOfWork, project: Project, geom: BaseGeometry,
                      known: dict[int, list[tuple[int, BaseGeometry]]]) -> int | None:
    """The parcel of `project` with this very geometry (vertex order and ring start aside), if any: attaching
    a file twice, or a file that lists a parcel twice, must not duplicate parcels."""
    if project.id not in known:
        known[project.id] = [(p.id, shapely.normalize(parcels.geometry_of(p)))
                             for p in parcels.project_parcels(uow.session, uow.view, project)]
    shape = shapely.normalize(geom)
    for parcel_id, other in known[project.id]:
        if other.bounds == shape.bounds and shape.equals_exact(other, 1e-9):
            return parcel_id
    return None


def _target(session: Session, props: dict[str, Any], code: str | None) -> tuple[Project | None, str]:
    wanted = code or next((str(props[k]).strip() for k in CODE_KEYS if props.get(k)), None)
    if wanted:
        project = session.execute(select(Project).where(Project.code == wanted)).scalars().first()
        if project is None:
            return None, f"项目码 {wanted} 未登记"
        if project.status != "active":
            return None, f"项目 {wanted} 状态为 {project.status}"
        return project, ""
    name = next((str(props[k]).strip() for k in NAME_KEYS if props.get(k)), None)
    if not name:
        return None, "要素没有项目码或项目名称属性，也未指定 --code"
    found = session.execute(select(Project).where(Project.name == name, Project.status == "active")).scalars().all()
    if len(found) != 1:
        return None, f"项目名称“{name}”{'未找到' if not found else '对应多个项目'}，请改用项目码"
    return found[0], ""


def import_control_layer(app: App, actor: Actor, data: bytes | Path, filename: str, kind: str,
                         crs: int | None = None, replace: bool = True) -> dict[str, Any]:
    app.profile.policy.check(actor, Action.IMPORT)
    if kind not in spatial_checks.CONTROL_KINDS:
        raise invalid("kind", f"管控图层类型应为 {', '.join(spatial_checks.CONTROL_KINDS)}")
    raw = data.read_bytes() if isinstance(data, Path) else data
    items = read_file(app, raw, filename, crs)
    try:
        parcel_files.require_valid(items)  # a control layer is taken whole: a hole in a red line is no red line
    except parcel_files.ParcelFileError as exc:
        raise invalid(exc.field, exc.message) from None
    def work(uow: UnitOfWork) -> None:
        uow.allow(Action.IMPORT)
        if replace:
            _delete_layer(uow.session, kind)
        for item in items:
            _store_control(uow.session, kind, item, uow.now)

    uow_run(app, actor, work)
    return {"kind": kind, "label": spatial_checks.CONTROL_KINDS[kind], "filename": filename,
            "features": len(items), "replaced": replace}


def _delete_layer(session: Session, kind: str) -> None:
    dialect_of(session).unindex(session, "control_features",
                                select(ControlLayerFeature.id).where(ControlLayerFeature.kind == kind))
    session.execute(delete(ControlLayerFeature).where(ControlLayerFeature.kind == kind))


def _store_control(session: Session, kind: str, item: parcel_files.ParcelInput, at: datetime) -> None:
    assert item.geometry is not None  # require_valid
    minx, miny, maxx, maxy = item.geometry.bounds
    name = next((str(item.properties[k])[:200] for k in ("name", "名称", "NAME", "MC") if item.properties.get(k)), None)
    feat = ControlLayerFeature(kind=kind, name=name, geom_wkb=wkb.dumps(item.geometry), minx=minx, miny=miny,
                               maxx=maxx, maxy=maxy, properties={k: v for k, v in item.properties.items()
                                                                 if not k.startswith("_")}, imported_at=at)
    session.add(feat)
    session.flush()
    dialect_of(session).index_geometry(session, "control_features", feat.id, feat.geom_wkb, (minx, miny, maxx, maxy))


def export_parcels(app: App, actor: Actor, path: Path, fmt: str | None = None, code: str | None = None,
                   encoding: str = "UTF-8") -> int:
    """GeoJSON, GeoPackage, zipped Shapefile (attributes in `encoding`: UTF-8 or GBK) or the coordinate TXT (by
    extension), in id order. GeoPackage and Shapefile fields are typed: areas real, the date a date, codes text."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("geojson", "json", "gpkg", "zip", "txt"):
        raise Invalid("导出格式应为 .geojson、.gpkg、.zip（Shapefile）或 .txt", [("file", "不支持的导出格式")])
    rows = _export_rows(app, View.of(app, actor), code)
    if fmt in ("geojson", "json"):
        path.write_bytes(parcel_files.write_geojson([f for _, _, f in rows]))
    elif fmt in ("gpkg", "zip"):
        if path.exists():
            path.unlink()
        features = [(g, _typed(app, p, f["properties"])) for p, g, f in rows]
        if fmt == "gpkg":
            parcel_files.write_geopackage(features, path)
        else:
            parcel_files.write_shapefile_zip(features, path, encoding=encoding)
    else:
        path.write_bytes(_export_txt(rows))
    return len(rows)


def _typed(app: App, parcel: Parcel, props: dict[str, Any]) -> dict[str, Any]:
    m2 = float(parcel.area_m2)
    # the local date people know the parcel by, in the profile's time zone
    zone = app.profile.tz
    return props | {"codes": ",".join(props["codes"]), "area_m2": round(m2, 2), "area_mu": round(geo.m2_to_mu(m2), 4),
                    "area_ha": round(geo.m2_to_ha(m2), 4), "created": aware(parcel.created_at).astimezone(zone).date()}


def _export_rows(app: App, view: View, code: str | None) -> list[tuple[Parcel, Any, dict[str, Any]]]:
    with app.db.read() as session:
        stmt = view.parcel_query().order_by(Parcel.id)
        if code:
            linked = (view.link_query(ProjectParcel.parcel_id).join(Project, Project.id == ProjectParcel.project_id)
                      .where(Project.code == code))
            stmt = stmt.where(Parcel.id.in_(linked))
        items = list(session.execute(stmt).scalars())
        codes = view.codes_of_parcels(session, [p.id for p in items])
    return [(p, parcels.geometry_of(p), parcels.parcel_feature(p, codes.get(p.id, []))) for p in items]


def _export_txt(rows: list[tuple[Parcel, Any, dict[str, Any]]]) -> bytes:
    if not rows:
        return write_coordinate_txt([], 37)
    zone = geo.zone_of(rows[0][1])
    epsg = geo.zone_epsg(zone, prefixed=False)
    items = []
    for p, g, _ in rows:
        header = {"面积(公顷)": f"{p.area_m2 / 10000:.4f}", "地块编号": p.parcel_no or str(p.id),
                  "地块名称": p.name or "", "图形属性": "面"}
        items.append((header, geo.from_storage(g, epsg)))
    return write_coordinate_txt(items, zone, with_prefix=True)
