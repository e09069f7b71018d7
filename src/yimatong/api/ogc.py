"""OGC API - Features (Part 1 Core, GeoJSON; Part 2 CRS for EPSG:4490) for the layers GIS clients open:
`parcels` and `projects`. Behind the same bearer tokens as the REST API."""

from __future__ import annotations

from typing import Any

import orjson
import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from shapely import wkb
from shapely.ops import unary_union
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.api.deps import get_app, requires
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.domain.profile import digits_only
from yimatong.errors import NotFound, invalid
from yimatong.parcels import store as parcels
from yimatong.projects import listing as project_list
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import Parcel, Project, ProjectParcel

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
COLLECTIONS = {"parcels": ("地块", "项目所在地块（EPSG:4490）"),
               "projects": ("项目", "项目及其地块范围（多面），属性含项目码、名称、状态与当前阶段")}
GEOJSON = "application/geo+json"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(body: dict[str, Any], media: str = "application/json", headers: dict[str, str] | None = None
          ) -> Response:
    # orjson, with geometries already GeoJSON text (orjson.Fragment): GIS clients page through many features.
    return Response(orjson.dumps(body), media_type=media, headers=headers)


@router.get("", summary="OGC API 着陆页")
def landing(request: Request, _: Actor = Depends(requires(Action.READ))) -> Response:
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return _json({"title": "一码通 yimatong OGC API - Features", "description": "项目库地块与项目图层",
                  "links": [
                      {"href": base, "rel": "self", "type": "application/json", "title": "本页"},
                      {"href": root + "/openapi.json", "rel": "service-desc",
                       "type": "application/vnd.oai.openapi+json;version=3.0", "title": "OpenAPI"},
                      {"href": root + "/docs", "rel": "service-doc", "type": "text/html", "title": "接口文档"},
                      {"href": base + "/conformance", "rel": "conformance", "type": "application/json"},
                      {"href": base + "/collections", "rel": "data", "type": "application/json"}]})


@router.get("/conformance", summary="OGC 一致性声明")
def conformance(_: Actor = Depends(requires(Action.READ))) -> Response:
    return _json({"conformsTo": CONFORMANCE})


def _collection(request: Request, cid: str, bbox: list[float] | None) -> dict[str, Any]:
    base = _base(request)
    title, description = COLLECTIONS[cid]
    extent = {"spatial": {"bbox": [bbox or [-180, -90, 180, 90]], "crs": CRS84}}
    return {"id": cid, "title": title, "description": description, "itemType": "feature", "extent": extent,
            "crs": [CRS84, EPSG4490], "storageCrs": EPSG4490,
            "links": [{"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json"},
                      {"href": f"{base}/collections/{cid}/items", "rel": "items", "type": GEOJSON}]}


def _extent(session: Session, view: View) -> list[float] | None:
    """The extent of the parcels the caller may see (a restricted parcel must not widen it)."""
    row = session.execute(view.parcel_extent()).one()
    return None if row[0] is None else [float(v) for v in row]


@router.get("/collections", summary="OGC 图层列表")
def collections(request: Request, app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))
                ) -> Response:
    with app.db.read() as session:
        extent = _extent(session, View.of(app, actor))
    base = _base(request)
    return _json({"links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
                  "collections": [_collection(request, cid, extent) for cid in COLLECTIONS]})


def _check_collection(cid: str) -> None:
    if cid not in COLLECTIONS:
        raise NotFound(f"图层 {cid} 不存在", [("collectionId", "可选 parcels、projects")])


@router.get("/collections/{collection_id}", summary="OGC 图层")
def collection(collection_id: str, request: Request, app: App = Depends(get_app),
               actor: Actor = Depends(requires(Action.READ))) -> Response:
    _check_collection(collection_id)
    with app.db.read() as session:
        extent = _extent(session, View.of(app, actor))
    return _json(_collection(request, collection_id, extent))


def _crs(crs: str | None) -> str:
    if crs in (None, "", CRS84):
        return CRS84
    if crs == EPSG4490:
        return EPSG4490
    raise invalid("crs", f"不支持的 crs：可选 {CRS84} 或 {EPSG4490}")


def _geometry(geom: Any, crs: str) -> orjson.Fragment:
    # EPSG:4490 has latitude first (authority axis order); CRS84 is lon/lat.
    swapped = shapely.transform(geom, lambda xy: xy[:, ::-1]) if crs == EPSG4490 else geom
    return orjson.Fragment(shapely.to_geojson(swapped))


@router.get("/collections/{collection_id}/items", summary="OGC 要素",
            description="GeoJSON 要素集合，支持 bbox、limit、offset、crs（CRS84 或 EPSG:4490）。")
def items(collection_id: str, request: Request, bbox: str | None = Query(None),
          limit: int = Query(10, ge=1, le=10000), offset: int = Query(0, ge=0, le=10**9),
          crs: str | None = Query(None), bbox_crs: str | None = Query(None, alias="bbox-crs"),
          app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> Response:
    _check_collection(collection_id)
    out_crs = _crs(crs)
    box = _bbox(bbox, bbox_crs)
    view = View.of(app, actor)
    with app.db.read() as session:
        if collection_id == "parcels":
            feats, matched = _parcel_items(session, view, box, limit, offset, out_crs)
        else:
            feats, matched = _project_items(session, view, box, limit, offset, out_crs)
    links = _links(request, collection_id, offset, limit, len(feats), matched)
    return _json({"type": "FeatureCollection", "features": feats, "numberMatched": matched,
                  "numberReturned": len(feats), "links": links}, GEOJSON, {"Content-Crs": f"<{out_crs}>"})


def _bbox(text: str | None, bbox_crs: str | None) -> tuple[float, float, float, float] | None:
    box = project_list.parse_bbox(text)
    if box is not None and _crs(bbox_crs) == EPSG4490:
        miny, minx, maxy, maxx = box  # bbox given in lat/lon order
        box = (minx, miny, maxx, maxy)
    return box


def _links(request: Request, cid: str, offset: int, limit: int, returned: int, matched: int) -> list[dict[str, Any]]:
    url = request.url
    links = [{"href": str(url), "rel": "self", "type": GEOJSON},
             {"href": f"{_base(request)}/collections/{cid}", "rel": "collection", "type": "application/json"}]
    if offset + returned < matched:
        links.append({"href": str(url.include_query_params(offset=offset + limit, limit=limit)), "rel": "next",
                      "type": GEOJSON})
    if offset > 0:
        links.append({"href": str(url.include_query_params(offset=max(0, offset - limit), limit=limit)),
                      "rel": "prev", "type": GEOJSON})
    return links


def _parcel_ids(session: Session, view: View, box: tuple[float, float, float, float] | None) -> Any:
    stmt = view.parcel_query(Parcel.id)
    if box is not None:
        stmt = stmt.where(Parcel.id.in_(dialect_of(session).parcels_in_bbox(session, box)))
    return stmt


def _parcel_items(session: Session, view: View, box: Any, limit: int, offset: int, crs: str
                  ) -> tuple[list[Any], int]:
    # Count and page over ids only (index-only scans), then load the rows of the page.
    ids = _parcel_ids(session, view, box)
    matched = session.execute(select(func.count()).select_from(ids.subquery())).scalar_one()
    page = [r[0] for r in session.execute(ids.order_by(Parcel.id).limit(limit).offset(offset))]
    rows = list(session.execute(view.parcel_query().where(Parcel.id.in_(page)).order_by(Parcel.id)).scalars()) \
        if page else []
    codes = view.codes_of_parcels(session, page)
    return [_parcel_feature(p, codes.get(p.id, []), crs) for p in rows], matched


def _parcel_feature(p: Parcel, codes: list[str], crs: str) -> dict[str, Any]:
    return {"type": "Feature", "id": p.id, "geometry": _geometry(wkb.loads(p.geom_wkb), crs),
            "properties": {"id": p.id, "area_m2": p.area_m2, "codes": ",".join(codes), "parcel_no": p.parcel_no,
                           "name": p.name}}


def _project_items(session: Session, view: View, box: Any, limit: int, offset: int, crs: str
                   ) -> tuple[list[Any], int]:
    stmt = view.project_query().where(Project.id.in_(view.link_query(ProjectParcel.project_id)))
    if box is not None:
        stmt = stmt.where(Project.id.in_(parcels.project_ids_in_bbox(session, view, box)))
    matched = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = list(session.execute(stmt.order_by(Project.id).limit(limit).offset(offset)).scalars())
    geoms = _project_geoms(session, view, [p.id for p in rows])
    return [_project_feature(p, geoms.get(p.id, []), crs) for p in rows], matched


def _project_geoms(session: Session, view: View, ids: list[int]) -> dict[int, list[Any]]:
    """The visible parcels of each project (a restricted result's parcels do not shape its geometry)."""
    geoms: dict[int, list[Any]] = {}
    if ids:
        q = (view.link_query(ProjectParcel.project_id, Parcel.geom_wkb).join(Parcel, Parcel.id == ProjectParcel.parcel_id)
             .where(ProjectParcel.project_id.in_(ids)))
        for pid, g in session.execute(q):
            geoms.setdefault(pid, []).append(wkb.loads(g))
    return geoms


def _project_feature(p: Project, geoms: list[Any], crs: str) -> dict[str, Any]:
    geom = unary_union(geoms)
    return {"type": "Feature", "id": p.code, "geometry": _geometry(geom, crs) if not geom.is_empty else None,
            "properties": {"code": p.code, "name": p.name, "status": p.status, "division": p.division,
                           "year": p.year, "supply_type": p.supply_type, "land_use": p.land_use,
                           "current_stage": p.current_stage, "area_m2": p.area_m2}}


@router.get("/collections/{collection_id}/items/{feature_id}", summary="OGC 单个要素")
def item(collection_id: str, feature_id: str, request: Request, crs: str | None = Query(None),
         app: App = Depends(get_app), actor: Actor = Depends(requires(Action.READ))) -> Response:
    _check_collection(collection_id)
    out_crs = _crs(crs)
    view = View.of(app, actor)
    with app.db.read() as session:
        if collection_id == "parcels":
            if not digits_only(feature_id) or int(feature_id) > 2**53:
                raise NotFound(f"要素 {feature_id} 不存在", [("featureId", "不存在")])
            p = parcels.get_parcel(session, view, int(feature_id), "featureId")
            f = _parcel_feature(p, view.codes_of_parcels(session, [p.id]).get(p.id, []), out_crs)
        else:
            found = session.execute(view.project_query().where(Project.code == feature_id)).scalars().first()
            if found is None:
                raise NotFound(f"要素 {feature_id} 不存在", [("featureId", "不存在")])
            f = _project_feature(found, _project_geoms(session, view, [found.id]).get(found.id, []), out_crs)
    f["links"] = [{"href": str(request.url), "rel": "self", "type": GEOJSON},
                  {"href": f"{_base(request)}/collections/{collection_id}", "rel": "collection",
                   "type": "application/json"}]
    return _json(f, GEOJSON, {"Content-Crs": f"<{out_crs}>"})

