"""Parcels, the project box (项目盒) and spatial checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from yimatong.api.deps import get_app, requires
from yimatong.api.problems import problem
from yimatong.api.schemas import responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain import geometry as geo
from yimatong.domain.policy import Action
from yimatong.errors import Invalid, invalid
from yimatong.formats import geometry_check
from yimatong.onecode import box as project_box
from yimatong.parcels import files as parcel_import
from yimatong.parcels import spatial as spatial_checks
from yimatong.parcels import store as parcels
from yimatong.projects import listing as project_list
from yimatong.uow import run

router = APIRouter(prefix="/api/v1", tags=["地块与项目盒 Parcels"])
GEOJSON: dict[str, Any] = {"application/geo+json": {}}


@router.get("/parcels", responses=responses(401, 422) | {200: {"description": "GeoJSON FeatureCollection",
                                                               "content": GEOJSON | {"application/json": {}}}},
            summary="地块列表（GeoJSON）",
            description="按范围（bbox=minlon,minlat,maxlon,maxlat）或项目码筛选地块；要素属性含 id、area_m2、codes。游标分页。")
def list_parcels(bbox: str | None = Query(None), code: str | None = Query(None, max_length=40),
                 limit: int = Query(100, ge=1, le=1000), cursor: str | None = Query(None),
                 app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> JSONResponse:
    with app.db.read() as session:
        body = parcels.page(session, View.of(app, actor), project_list.parse_bbox(bbox), code, limit, cursor)
    return JSONResponse(body, media_type="application/geo+json")


@router.get("/parcels/{parcel_id}", responses=responses(401, 404, 422), summary="地块")
def get_parcel(parcel_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
               actor: Actor = Depends(requires(Action.READ))) -> JSONResponse:
    view = View.of(app, actor)
    with app.db.read() as session:
        p = parcels.get_parcel(session, view, parcel_id)
        feature = parcels.parcel_feature(p, view.codes_of_parcels(session, [p.id]).get(p.id, []))
    feature["properties"] |= geo.areas(parcels.geometry_of(p))
    return JSONResponse(feature, media_type="application/geo+json")


@router.post("/projects/{code}/parcels", status_code=201, responses=responses(400, 401, 403, 404, 409, 413, 422),
             summary="为项目挂接地块",
             description="提交 GeoJSON Feature（JSON，可用 crs 参数指明 EPSG），或 multipart 的 `file`（标准坐标 TXT、"
                         "GeoJSON、zip 打包的 Shapefile、GeoPackage）。返回地块及其面积（平方米、亩、公顷）与空间检查提示。")
async def attach_parcels(request: Request, code: str, crs: int | None = Query(None, ge=1, le=99999),
                         strict: bool = Query(False, description="文件：与自身不符的地块（TXT 面积、点数）拒收"),
                         app: App = Depends(get_app), actor: Actor = Depends(requires(Action.PARCEL_ATTACH))
                         ) -> JSONResponse:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/"):
        form = await request.form(max_part_size=app.settings.max_upload_bytes)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise invalid("file", "缺少文件 file")
        data = await upload.read()
        # off the event loop: reading and checking a file (geometry budget included) takes seconds
        report = await run_in_threadpool(parcel_import.import_parcels, app, actor, data, upload.filename or "upload",
                                         crs=crs, code=code, strict=strict)
        if report["refused"]:  # nothing was written: name every refused feature
            raise Invalid(report["refused"][0]["reason"],
                          [(r["column"], r["reason"]) for r in report["refused"][:50]])
        return JSONResponse(report, status_code=201)
    try:
        feature = await request.json()
    except ValueError:
        return _bad_json()
    return JSONResponse(await run_in_threadpool(_attach_feature, app, actor, code, feature, crs), status_code=201)


def _bad_json() -> JSONResponse:
    return problem(400, "请求体不是合法的 JSON", [("body", "JSON 解析失败")])


def _attach_feature(app: App, actor: Actor, code: str, feature: Any, crs: int | None) -> dict[str, Any]:
    features = feature["features"] if isinstance(feature, dict) and feature.get("type") == "FeatureCollection" \
        else [feature]
    geoms = parcels.parse_features(features, "features", crs, geometry_check.budget_of(app.settings))  # before the transaction
    return run(app, actor, lambda uow: spatial_checks.attach_features(uow, code, list(zip(geoms, features, strict=True))))


@router.get("/project-box", responses=responses(401, 404, 422), summary="项目盒（按坐标）",
            description="点击地图上一点（EPSG:4490 经纬度），返回该处地块上所有项目的业务记录，按阶段顺序再按时间排列。")
def box_at_point(lon: float = Query(..., ge=-180, le=180), lat: float = Query(..., ge=-90, le=90),
                 app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return project_box.box_at_point(session, app, View.of(app, actor), lon, lat)


@router.get("/parcels/{parcel_id}/box", responses=responses(401, 404, 422), summary="项目盒（按地块）",
            description="一个地块上（含与之有面积重叠的地块上）所有项目的业务记录，按阶段顺序再按时间排列；受限成果按权限过滤。")
def box_for_parcel(parcel_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
                   actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return project_box.box_for_parcel(session, app, View.of(app, actor), parcel_id)


@router.get("/checks/spatial", responses=responses(401, 404, 422), summary="空间检查",
            description="项目地块是否超出项目码所示行政区、是否与其他在办项目地块重叠、是否占用永久基本农田、生态保护红线或位于城镇开发边界外。")
def spatial_check(code: str = Query(..., max_length=40), app: App = Depends(get_app),
                  actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return {"code": code, "issues": spatial_checks.check_project(session, app, View.of(app, actor), code)}
