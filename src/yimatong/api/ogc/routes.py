"""The OGC API endpoints: OGC API - Features Parts 1 (core, GeoJSON, OpenAPI 3.0), 2 (CRS) and 3 (queryables,
CQL2 filtering), and OGC API - Tiles (Mapbox Vector Tiles in WebMercatorQuad and CGCS2000Quad). Behind the same bearer tokens (or
the staff's login session) as the REST API; every read through the caller's `View`."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from yimatong.api.deps import get_app, requires
from yimatong.api.ogc import documents as docs
from yimatong.api.ogc import filtering, params
from yimatong.api.ogc.params import bad
from yimatong.api.ogc.providers import Provider, providers
from yimatong.api.schemas import responses
from yimatong.core.context import Actor, App, now, rfc3339
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.errors import NotFound
from yimatong.storage.dialect import dialect_of

# OGC API exception rules: 400 for unknown or invalid parameters, 404 for what does not exist (or is not visible)
router = APIRouter(prefix="/ogc", tags=["OGC API"], responses=responses(400, 401, 404))
DOC_PARAMS = {"f"}
TILE_FORMAT = 2  # bump when the tile layout changes: old ETags must not match (2: dots per 64-unit cell)
READ = Depends(requires(Action.READ))


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(body: dict[str, Any], media: str = docs.JSON, headers: dict[str, str] | None = None) -> Response:
    # orjson, with geometries already GeoJSON text (orjson.Fragment): GIS clients page through many features
    return Response(orjson.dumps(body), media_type=media, headers=headers)


def _doc_params(request: Request, extra: set[str] | None = None) -> None:
    params.only(request.query_params, DOC_PARAMS | (extra or set()))
    params.check_format(request.query_params, {"json", "application/json"})


def _provider(app: App, cid: str) -> Provider:
    found = _providers(app).get(cid)
    if found is None:
        raise NotFound(f"图层 {cid} 不存在", [("collectionId", f"可选 {', '.join(_providers(app))}")])
    return found


_CACHE: dict[int, dict[str, Provider]] = {}


def _providers(app: App) -> dict[str, Provider]:
    if id(app) not in _CACHE:
        _CACHE[id(app)] = providers(app)
    return _CACHE[id(app)]


@router.get("", summary="OGC API 着陆页")
def landing(request: Request, _: Actor = READ) -> Response:
    _doc_params(request)
    return _json(docs.landing(_base(request), str(request.base_url).rstrip("/")))


@router.get("/api", summary="OGC API 的 OpenAPI 3.0 定义", response_class=Response, responses={200: {"content": {docs.OAS30: {}}, "description": "成功"}})
def api_definition(request: Request, app: App = Depends(get_app), actor: Actor = READ) -> Response:
    _doc_params(request)
    view = View.of(app, actor)
    with app.db.read() as session:
        names = {cid: sorted(set(p.queryables(dialect_of(session), view)) - {"geometry"})
                 for cid, p in _providers(app).items()}
    return _json(docs.openapi30(_base(request), _providers(app), names), docs.OAS30)


@router.get("/conformance", summary="OGC 一致性声明")
def conformance(request: Request, _: Actor = READ) -> Response:
    _doc_params(request)
    return _json({"conformsTo": docs.CONFORMANCE})


@router.get("/collections", summary="OGC 图层列表")
def collections(request: Request, app: App = Depends(get_app), actor: Actor = READ) -> Response:
    _doc_params(request)
    base, view = _base(request), View.of(app, actor)
    with app.db.read() as session:
        cols = [docs.collection(base, p, p.extent(session, view)) for p in _providers(app).values()]
    return _json({"links": [{"href": f"{base}/collections", "rel": "self", "type": docs.JSON}], "collections": cols})


@router.get("/collections/{collection_id}", summary="OGC 图层")
def collection(collection_id: str, request: Request, app: App = Depends(get_app), actor: Actor = READ) -> Response:
    _doc_params(request)
    p = _provider(app, collection_id)
    with app.db.read() as session:
        extent = p.extent(session, View.of(app, actor))
    return _json(docs.collection(_base(request), p, extent))


@router.get("/collections/{collection_id}/queryables", summary="OGC 可查询属性（JSON Schema）",
            response_class=Response, responses={200: {"content": {docs.SCHEMA: {}}, "description": "成功"}})
def queryables(collection_id: str, request: Request, app: App = Depends(get_app), actor: Actor = READ) -> Response:
    _doc_params(request)
    p = _provider(app, collection_id)
    with app.db.read() as session:
        qs = p.queryables(dialect_of(session), View.of(app, actor))
    return _json(docs.queryables(str(request.url.remove_query_params("f")), p, qs), docs.SCHEMA)


@router.get("/collections/{collection_id}/items", summary="OGC 要素", response_class=Response, responses={200: {"content": {docs.GEOJSON: {}}, "description": "成功"}},
            description="GeoJSON 要素集合：bbox（4 或 6 个数）、bbox-crs、crs、datetime、limit、offset，CQL2 过滤"
                        "（filter、filter-lang=cql2-text|cql2-json、filter-crs），以及可查询属性作为查询参数"
                        "（如 ?division=430702）。未知参数或无效取值返回 400。")
def items(collection_id: str, request: Request, app: App = Depends(get_app), actor: Actor = READ) -> Response:
    p = _provider(app, collection_id)
    view = View.of(app, actor)
    with app.db.read() as session:
        names = set(p.queryables(dialect_of(session), view)) - {"geometry"}
        q = params.items_query(request.query_params, names, p.time_property is not None)
        fjson = filtering.parse(q.filter, q.filter_lang) if q.filter is not None else None
        where = p.where(session, view, q, fjson)
        page = p.page(session, view, q, where, fjson)
    links = _links(request, collection_id, q.offset, q.limit, len(page.features), page.matched)
    return _json({"type": "FeatureCollection", "features": page.features, "numberMatched": page.matched,
                  "numberReturned": len(page.features), "timeStamp": rfc3339(now()), "links": links},
                 docs.GEOJSON, {"Content-Crs": f"<{q.crs.uri}>"})


def _links(request: Request, cid: str, offset: int, limit: int, returned: int, matched: int) -> list[dict[str, Any]]:
    url = request.url
    links = [{"href": str(url), "rel": "self", "type": docs.GEOJSON},
             {"href": f"{_base(request)}/collections/{cid}", "rel": "collection", "type": docs.JSON}]
    if offset + returned < matched:
        links.append({"href": str(url.include_query_params(offset=offset + limit, limit=limit)), "rel": "next",
                      "type": docs.GEOJSON})
    if offset > 0:
        links.append({"href": str(url.include_query_params(offset=max(0, offset - limit), limit=limit)),
                      "rel": "prev", "type": docs.GEOJSON})
    return links


@router.get("/collections/{collection_id}/items/{feature_id}", summary="OGC 单个要素", response_class=Response, responses={200: {"content": {docs.GEOJSON: {}}, "description": "成功"}})
def item(collection_id: str, feature_id: str, request: Request, app: App = Depends(get_app),
         actor: Actor = READ) -> Response:
    p = _provider(app, collection_id)
    params.only(request.query_params, {"f", "crs"})
    params.check_format(request.query_params)
    out_crs = params.crs_param(request.query_params, "crs")
    with app.db.read() as session:
        f = p.one(session, View.of(app, actor), feature_id, out_crs)
    f["links"] = [{"href": str(request.url), "rel": "self", "type": docs.GEOJSON},
                  {"href": f"{_base(request)}/collections/{collection_id}", "rel": "collection", "type": docs.JSON}]
    return _json(f, docs.GEOJSON, {"Content-Crs": f"<{out_crs.uri}>"})


# --- OGC API - Tiles -----------------------------------------------------------------------------------------
@router.get("/tileMatrixSets", summary="瓦片矩阵集列表")
def tile_matrix_sets(request: Request, _: Actor = READ) -> Response:
    _doc_params(request)
    return _json(docs.tile_matrix_sets(_base(request)))


@router.get("/tileMatrixSets/{tms_id}", summary="瓦片矩阵集")
def tile_matrix_set(tms_id: str, request: Request, _: Actor = READ) -> Response:
    _doc_params(request)
    _check_tms(tms_id)
    return _json(docs.tile_matrix_set(tms_id))


def _check_tms(tms_id: str) -> None:
    if tms_id not in docs.TMS_TITLES:
        raise NotFound(f"瓦片矩阵集 {tms_id} 不存在", [("tileMatrixSetId", f"可选 {'、'.join(docs.TMS_TITLES)}")])


def _tiled(app: App, cid: str) -> Provider:
    p = _provider(app, cid)
    if not p.tiles:
        raise NotFound(f"图层 {cid} 没有矢量瓦片", [("collectionId", "此图层不提供瓦片")])
    return p


@router.get("/collections/{collection_id}/tiles", summary="图层的瓦片集列表")
def collection_tilesets(collection_id: str, request: Request, app: App = Depends(get_app), _: Actor = READ
                        ) -> Response:
    _doc_params(request)
    return _json(docs.tilesets(_base(request), _tiled(app, collection_id)))


_LAYER_PROPS = {
    "parcels": {"id": {"type": "integer"}, "stage": {"type": "string"}, "code": {"type": "string"},
                "n": {"type": "integer", "description": "低缩放级下格内地块数"}},
    "control_layers": {"id": {"type": "integer"}, "kind": {"type": "string"}, "name": {"type": "string"}},
}


@router.get("/collections/{collection_id}/tiles/{tms_id}", summary="图层的瓦片集")
def collection_tileset(collection_id: str, tms_id: str, request: Request, app: App = Depends(get_app),
                       _: Actor = READ) -> Response:
    _doc_params(request)
    _check_tms(tms_id)
    p = _tiled(app, collection_id)
    return _json(docs.tileset(_base(request), p, tms_id, _LAYER_PROPS.get(p.id, {}), app.settings.tile_polygon_zoom))


def _tile_index(text: str, name: str, limit: int | None) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 8:
        raise bad(name, f"{name} 应为非负整数")
    value = int(text)
    if limit is not None and value >= limit:  # Tiles /req/core/tc-error: outside the matrix is 404
        raise NotFound(f"{name} {value} 超出瓦片矩阵范围", [(name, f"应小于 {limit}")])
    return value


@router.get("/collections/{collection_id}/tiles/{tms_id}/{tile_matrix}/{tile_row}/{tile_col}",
            summary="矢量瓦片（Mapbox Vector Tile）", response_class=Response,
            responses={200: {"content": {docs.MVT: {}}, "description": "矢量瓦片"}, 204: {"description": "空瓦片"},
                       304: {"description": "未变化"}})
def tile(collection_id: str, tms_id: str, tile_matrix: str, tile_row: str, tile_col: str, request: Request,
         app: App = Depends(get_app), actor: Actor = READ) -> Response:
    params.only(request.query_params, {"f"})
    params.check_format(request.query_params, {"mvt", docs.MVT})
    _check_tms(tms_id)
    p = _tiled(app, collection_id)
    z = _tile_index(tile_matrix, "tileMatrix", docs.MAX_ZOOM + 1)
    width, height = docs.matrix_size(tms_id, z)
    y = _tile_index(tile_row, "tileRow", height)
    x = _tile_index(tile_col, "tileCol", width)
    view = View.of(app, actor)
    p.prepare_tile(z)
    with app.db.read() as session:
        etag = _etag(p, tms_id, z, x, y, view, p.tile_state(session, view), app.settings.tile_polygon_zoom)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        body = p.tile(session, view, z, x, y, tms_id)
    if not body:  # Tiles /rec/core/tc-empty: an empty tile is 204
        return Response(status_code=204, headers=headers)
    return Response(body, media_type=docs.MVT, headers=headers)


def _etag(p: Provider, tms: str, z: int, x: int, y: int, view: View, state: tuple[Any, ...], polygon_zoom: int
          ) -> str:
    """Who sees what (role, districts), the data's state and the tile: equal ETags mean equal tiles."""
    actor = view.actor
    who = (actor.role, sorted(actor.divisions)) if actor is not None else ("public", [])
    key = orjson.dumps([TILE_FORMAT, p.id, tms, z, x, y, who, [str(s) for s in state], polygon_zoom])
    return '"' + hashlib.sha256(key).hexdigest()[:32] + '"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in header.split(",")]

