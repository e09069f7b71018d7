"""挂接地块: a coordinate TXT, GeoJSON, zipped Shapefile or GeoPackage onto a project, in two steps.

The first step runs the very import `POST /api/v1/projects/{code}/parcels` runs (`parcels.files.import_parcels`)
as a dry run: every feature read and validated, the area of each, the spatial checks (outside the division,
overlaps, 永久基本农田, 生态保护红线, 城镇开发边界) — then rolled back. The file waits, private to the service,
under a random name bound to the person and the project, until the second step saves it or an hour passes.
A parcel the project already has (the same file sent twice) is reported as unchanged, not attached again."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from shapely.geometry import mapping
from starlette.datastructures import FormData, UploadFile

import yimatong.web.forms.common as common
from yimatong.core.context import App
from yimatong.domain.policy import Action
from yimatong.errors import AppError, Invalid, invalid
from yimatong.parcels import files as parcel_import
from yimatong.storage.files import private_dir, private_file_mode
from yimatong.web.forms.common import FieldErrors, form_route, text
from yimatong.web.forms.stages import _load

router = APIRouter(include_in_schema=False)
LABELS = {"file": "地块文件", "crs": "坐标系（EPSG）", "code": "项目码", "upload": "地块文件"}
CRS_CHOICES = [("", "自动识别（文件自带坐标系；TXT 按文件头）"), ("4490", "EPSG:4490 CGCS2000 经纬度"),
               ("4545", "EPSG:4545 CGCS2000 3 度带 111°E（常德）"), ("4546", "EPSG:4546 CGCS2000 3 度带 114°E"),
               ("4326", "EPSG:4326 WGS 84 经纬度")]
KEEP_SECONDS = 3600
PREVIEW_FEATURES = 500
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _dir(app: App) -> Path:
    return private_dir(Path(app.settings.data_dir) / "form-uploads")


def _keep(app: App, data: bytes, meta: dict[str, Any]) -> str:
    """Keep an uploaded file for the second step; old ones are swept at the same time."""
    folder = _dir(app)
    for old in folder.glob("*.json"):
        if old.stat().st_mtime < time.time() - KEEP_SECONDS:
            old.unlink(missing_ok=True)
            old.with_suffix(".bin").unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    for suffix, content in ((".bin", data), (".json", json.dumps(meta, ensure_ascii=False).encode())):
        path = folder / f"{token}{suffix}"
        path.write_bytes(content)
        private_file_mode(path)
    return token


def _take(app: App, token: str, actor_name: str, code: str) -> tuple[bytes, dict[str, Any]]:
    """The file kept by the first step — only for the same person and project, and only once."""
    folder = _dir(app)
    meta_path, data_path = folder / f"{token}.json", folder / f"{token}.bin"
    if not TOKEN.match(token) or not meta_path.exists() or not data_path.exists():
        raise invalid("upload", "预览已过期，请重新选择文件")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("actor") != actor_name or meta.get("code") != code:
        raise invalid("upload", "预览已过期，请重新选择文件")
    return data_path.read_bytes(), meta


def _drop(app: App, token: str) -> None:
    folder = _dir(app)
    (folder / f"{token}.json").unlink(missing_ok=True)
    (folder / f"{token}.bin").unlink(missing_ok=True)


def _crs(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 99999:
        raise invalid("crs", "应为 EPSG 编号，如 4490")
    return int(value)


def _page(request: Request, project: dict[str, Any], values: dict[str, Any], errors: FieldErrors,
          status: int = 200, **ctx: Any) -> Response:
    app = common.ymt(request)
    refused = app.profile.policy.refusal(common.actor_of(request), Action.PARCEL_ATTACH,
                                         division=project["division"])
    return common.render(request, "forms/parcels.html", 403 if refused else status, project=project,
                         values=values, errors=errors, crs_choices=CRS_CHOICES,
                         refusal=refused[1] if refused else None, **ctx)


@router.get("/code/{code}/parcels")
@form_route(Action.PARCEL_ATTACH)
def parcels_form(request: Request, code: str) -> Response:
    try:
        project, _ = _load(common.ymt(request), common.actor_of(request), code)
    except AppError as exc:
        return common.refused_page(request, exc)
    return _page(request, project, {}, FieldErrors())


def _refusals(report: dict[str, Any]) -> Invalid:
    return Invalid(report["refused"][0]["reason"], [(f"行 {r['row']}", f"第 {r['row']} 行（{r['column']}）：{r['reason']}")
                                                    for r in report["refused"][:50]])


@router.post("/code/{code}/parcels")
@form_route(Action.PARCEL_ATTACH)
async def parcels_post(request: Request, code: str) -> Response:
    actor = common.actor_of(request)
    app = common.ymt(request)
    form = await common.read_form(request)
    project, _ = await common.run(lambda: _load(app, actor, code))
    values = {"crs": text(form, "crs"), "strict": form.get("strict") == "on"}
    try:
        if text(form, "upload"):
            return await _save(request, project, form)
        return await _preview(request, project, form, values)
    except AppError as exc:
        return _page(request, project, values, FieldErrors.of(exc, LABELS), exc.status)


async def _preview(request: Request, project: dict[str, Any], form: FormData, values: dict[str, Any]) -> Response:
    actor, app, code = common.actor_of(request), common.ymt(request), project["code"]
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise invalid("file", "请选择坐标 TXT、GeoJSON、Shapefile（zip）或 GeoPackage 文件")
    data, name, crs = await upload.read(), upload.filename, _crs(values["crs"])
    report = await common.run(lambda: parcel_import.import_parcels(
        app, actor, data, name, crs=crs, code=code, dry_run=True, strict=values["strict"]))
    if report["refused"]:  # nothing can be saved: name every refused feature
        errors = FieldErrors.of(_refusals(report), LABELS)
        return _page(request, project, values, errors, 422, report=report)
    for w in report["warnings"]:  # the dry run's parcel ids are gone with its rollback
        w["detail"] = re.sub(r"^地块 \d+ ", "该地块", str(w.get("detail", "")))
    token = _keep(app, data, {"actor": actor.name, "code": code, "filename": name, "crs": crs,
                              "strict": values["strict"]})
    features = await common.run(lambda: _features(app, data, name, crs))
    return _page(request, project, values, FieldErrors(), report=report, upload=token, filename=name,
                 features=features)


def _features(app: App, data: bytes, name: str, crs: int | None) -> dict[str, Any]:
    """The file's parcels as GeoJSON for the preview map (the first few hundred)."""
    items = parcel_import.read_file(app, data, name, crs)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(i.geometry), "properties": {"row": i.properties.get("_line", i.index + 1)}}
        for i in items[:PREVIEW_FEATURES] if i.geometry is not None]}


async def _save(request: Request, project: dict[str, Any], form: FormData) -> Response:
    actor, app, code = common.actor_of(request), common.ymt(request), project["code"]
    token = text(form, "upload") or ""
    data, meta = _take(app, token, actor.name, code)
    report = await common.run(lambda: parcel_import.import_parcels(
        app, actor, data, meta["filename"], crs=meta["crs"], code=code, strict=meta["strict"]))
    if report["refused"]:
        raise _refusals(report)
    _drop(app, token)
    return common.render(request, "forms/parcels_done.html", project=project, report=report,
                         filename=meta["filename"])
