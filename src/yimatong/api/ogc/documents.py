"""The documents of the OGC API: conformance, collections, queryables, tile matrix sets and tilesets, and the
OpenAPI 3.0 definition that the `oas30` conformance class promises (served at /ogc/api, written here rather than
converted from FastAPI's 3.1 document: it describes exactly the OGC paths and parameters, with the limits GDAL reads
from it)."""

from __future__ import annotations

from typing import Any

from yimatong.api.ogc import crs as crslib
from yimatong.api.ogc.filtering import Queryable
from yimatong.api.ogc.params import DEFAULT_LIMIT, MAX_LIMIT
from yimatong.api.ogc.providers import Provider
from yimatong.domain import tilegrid
from yimatong.storage.dialect import GEOGRAPHIC_TMS

F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
F2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/"
F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
CQL = "http://www.opengis.net/spec/cql2/1.0/conf/"
TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
CONFORMANCE = [
    F1 + "core", F1 + "oas30", F1 + "geojson", F2 + "crs",
    F3 + "queryables", F3 + "queryables-query-parameters", F3 + "filter", F3 + "features-filter",
    CQL + "basic-cql2", CQL + "cql2-text", CQL + "cql2-json", CQL + "advanced-comparison-operators",
    CQL + "case-insensitive-comparison", CQL + "basic-spatial-functions", CQL + "basic-spatial-functions-plus",
    CQL + "temporal-functions",
    TILES + "core", TILES + "tileset", TILES + "tilesets-list", TILES + "geodata-tilesets", TILES + "mvt",
    TILES + "oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset", "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
GEOJSON = "application/geo+json"
JSON = "application/json"
SCHEMA = "application/schema+json"
MVT = "application/vnd.mapbox-vector-tile"
OAS30 = "application/vnd.oai.openapi+json;version=3.0"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
REL_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
WEB_MERCATOR = "WebMercatorQuad"
WEB_MERCATOR_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CGCS2000_QUAD = GEOGRAPHIC_TMS
TILE_TEMPLATE = "/tiles/{tms}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
MAX_ZOOM = 22
TMS_TITLES = {WEB_MERCATOR: "Web Mercator 四叉树（EPSG:3857）", CGCS2000_QUAD: "CGCS2000 经纬度四叉树（EPSG:4490）"}
TMS_CRS = {WEB_MERCATOR: EPSG3857, CGCS2000_QUAD: EPSG4490}
TMS_URI = {WEB_MERCATOR: WEB_MERCATOR_URI}  # CGCS2000Quad is ours, not in the OGC register: linked, not named


def landing(base: str, root: str) -> dict[str, Any]:
    return {"title": "一码通 yimatong OGC API", "description": "项目库的地块、项目、管控图层与预警图层（要素与矢量瓦片）",
            "links": [
                {"href": base, "rel": "self", "type": JSON, "title": "本页"},
                {"href": base + "/api", "rel": "service-desc", "type": OAS30, "title": "OpenAPI 3.0 定义"},
                {"href": root + "/docs", "rel": "service-doc", "type": "text/html", "title": "接口文档"},
                {"href": base + "/conformance", "rel": "conformance", "type": JSON, "title": "一致性声明"},
                {"href": base + "/collections", "rel": "data", "type": JSON, "title": "图层"},
                {"href": base + "/tileMatrixSets", "rel": REL_SCHEMES, "type": JSON, "title": "瓦片矩阵集"}]}


def collection(base: str, p: Provider, extent: list[float] | None) -> dict[str, Any]:
    url = f"{base}/collections/{p.id}"
    links = [{"href": url, "rel": "self", "type": JSON, "title": p.title},
             {"href": url + "/items", "rel": "items", "type": GEOJSON, "title": "要素"},
             {"href": url + "/queryables", "rel": REL_QUERYABLES, "type": SCHEMA, "title": "可查询属性"}]
    if p.tiles:
        links.append({"href": url + "/tiles", "rel": REL_TILESETS, "type": JSON, "title": "矢量瓦片"})
    return {"id": p.id, "title": p.title, "description": p.description, "itemType": "feature",
            "extent": {"spatial": {"bbox": [extent or [-180, -90, 180, 90]], "crs": crslib.CRS84}},
            "crs": crslib.SUPPORTED, "storageCrs": crslib.STORAGE, "links": links}


def queryables(url: str, p: Provider, qs: dict[str, Queryable]) -> dict[str, Any]:
    """Part 3 §6.2 / Req /req/queryables/get-queryables-response: a JSON Schema (2020-12) of the properties."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": url, "type": "object",
            "title": f"{p.title}的可查询属性", "properties": {q.name: q.schema() for q in qs.values()},
            "additionalProperties": False}


def tile_matrix_sets(base: str) -> dict[str, Any]:
    return {"tileMatrixSets": [{"id": t, "title": TMS_TITLES[t], "crs": TMS_CRS[t]} | _uri(t) | {
        "links": [{"href": f"{base}/tileMatrixSets/{t}", "rel": "self", "type": JSON}]} for t in TMS_TITLES]}


def _uri(tms: str) -> dict[str, str]:
    return {"uri": TMS_URI[tms]} if tms in TMS_URI else {}


def tile_matrix_set(tms: str) -> dict[str, Any]:
    return web_mercator_quad() if tms == WEB_MERCATOR else cgcs2000_quad()


def matrix_size(tms: str, z: int) -> tuple[int, int]:
    """(matrixWidth, matrixHeight) of level z: the geographic set has two columns at level 0."""
    return (2 ** (z + 1) if tms == CGCS2000_QUAD else 2**z), 2**z


def web_mercator_quad() -> dict[str, Any]:
    """OGC 17-083r4 (TMS 2.0) Annex D.1, WebMercatorQuad."""
    half = 20037508.3427892
    return {"id": WEB_MERCATOR, "title": "Google Maps Compatible for the World", "uri": WEB_MERCATOR_URI,
            "crs": EPSG3857, "orderedAxes": ["X", "Y"], "wellKnownScaleSet":
                "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
            "tileMatrices": [{"id": str(z), "scaleDenominator": 559082264.028717 / 2**z,
                              "cellSize": 156543.033928041 / 2**z, "cornerOfOrigin": "topLeft",
                              "pointOfOrigin": [-half, half], "tileWidth": 256, "tileHeight": 256,
                              "matrixWidth": 2**z, "matrixHeight": 2**z} for z in range(MAX_ZOOM + 1)]}


def cgcs2000_quad() -> dict[str, Any]:
    """WorldCRS84Quad's layout (OGC 17-083r4 Annex D.2: level 0 is two 180° × 180° tiles, each level halves them)
    over CGCS2000 geographic (EPSG:4490). TMS 2.0 §7.1 (/req/tilematrixset/orderedAxes, pointOfOrigin): the CRS's
    axis order is latitude, longitude, so `orderedAxes` is [Lat, Lon] and the origin (the top-left corner) is
    [90, -180] in that order. Scales as Annex D.2's (CGCS2000's semi-major axis is WGS 84's, 6 378 137 m: the same
    metres per degree); tile rows still count from the top and columns from longitude -180."""
    return {"id": CGCS2000_QUAD, "title": "CGCS2000 经纬度四叉树（与 WorldCRS84Quad 同一分级，EPSG:4490）",
            "crs": EPSG4490, "orderedAxes": ["Lat", "Lon"],
            "tileMatrices": [{"id": str(z), "scaleDenominator": 279541132.0143589 / 2**z,
                              "cellSize": 0.703125 / 2**z, "cornerOfOrigin": "topLeft",
                              "pointOfOrigin": [90.0, -180.0], "tileWidth": 256, "tileHeight": 256,
                              "matrixWidth": 2 ** (z + 1), "matrixHeight": 2**z} for z in range(MAX_ZOOM + 1)]}


def tilesets(base: str, p: Provider) -> dict[str, Any]:
    return {"tilesets": [_tileset_summary(base, p, t) for t in TMS_TITLES]}


def _tileset_summary(base: str, p: Provider, tms: str) -> dict[str, Any]:
    url = f"{base}/collections/{p.id}/tiles/{tms}"
    uri = {"tileMatrixSetURI": TMS_URI[tms]} if tms in TMS_URI else {}
    return {"title": f"{p.title}（矢量瓦片，{tms}）", "dataType": "vector", "crs": TMS_CRS[tms]} | uri | {
            "links": [{"href": url, "rel": "self", "type": JSON},
                      {"href": f"{base}/tileMatrixSets/{tms}", "rel": REL_SCHEME, "type": JSON},
                      {"href": f"{base}/collections/{p.id}{TILE_TEMPLATE.format(tms=tms)}", "rel": "item",
                       "type": MVT, "templated": True}]}


def tileset(base: str, p: Provider, tms: str, layer_props: dict[str, dict[str, Any]], polygon_zoom: int
            ) -> dict[str, Any]:
    doc = _tileset_summary(base, p, tms)
    doc["links"].append({"href": f"{base}/collections/{p.id}", "rel": "http://www.opengis.net/def/rel/ogc/1.0/geodata",
                         "type": JSON})
    doc["layers"] = [{"id": p.id, "title": p.title, "dataType": "vector", "geometryDimension": 2,
                      "minTileMatrix": "0", "maxTileMatrix": str(MAX_ZOOM),
                      "propertiesSchema": {"type": "object", "properties": layer_props}}]
    if p.id == "parcels":
        doc["description"] = (f"第 {polygon_zoom} 级以下每个地块为其外包框中心的点，按 {tilegrid.CELL} 个瓦片单位（瓦片共 "
                              f"{tilegrid.EXTENT} 单位）的格网合并，n 为格内地块数，id 为格内最小地块编号；"
                              f"第 {polygon_zoom} 级起为按瓦片格网简化的面")
    return doc


# --- OpenAPI 3.0 -------------------------------------------------------------------------------------------------
def _param(name: str, schema: dict[str, Any], description: str, where: str = "query", **extra: Any
           ) -> dict[str, Any]:
    out = {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description,
           "style": "form", "explode": False} | extra
    if where == "path":
        out["style"] = "simple"
    return out


PARAMS = {
    "collectionId": _param("collectionId", {"type": "string"}, "图层标识", "path"),
    "featureId": _param("featureId", {"type": "string"}, "要素标识", "path"),
    "f": _param("f", {"type": "string", "enum": ["json", "geojson"]}, "格式"),
    "limit": _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                    "每页要素数"),
    "offset": _param("offset", {"type": "integer", "minimum": 0, "default": 0}, "跳过的要素数（配合 next 链接翻页）"),
    "bbox": _param("bbox", {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                   "范围：4 个或 6 个数字，按 bbox-crs 的轴序（默认 CRS84 经度,纬度）"),
    "bbox-crs": _param("bbox-crs", {"type": "string", "format": "uri", "enum": crslib.SUPPORTED}, "bbox 的坐标参照系"),
    "crs": _param("crs", {"type": "string", "format": "uri", "enum": crslib.SUPPORTED}, "输出坐标参照系"),
    "datetime": _param("datetime", {"type": "string"}, "RFC 3339 时刻或区间 start/end（开放端 ..）"),
    "filter": _param("filter", {"type": "string"}, "CQL2 过滤表达式"),
    "filter-lang": _param("filter-lang", {"type": "string", "enum": ["cql2-text", "cql2-json"],
                                          "default": "cql2-text"}, "过滤表达式的编码"),
    "filter-crs": _param("filter-crs", {"type": "string", "format": "uri", "enum": crslib.SUPPORTED},
                         "过滤表达式中几何的坐标参照系"),
    "tileMatrix": _param("tileMatrix", {"type": "string", "pattern": "^[0-9]+$"}, "缩放级", "path"),
    "tileRow": _param("tileRow", {"type": "integer", "minimum": 0}, "行号", "path"),
    "tileCol": _param("tileCol", {"type": "integer", "minimum": 0}, "列号", "path"),
}
ITEMS = ["collectionId", "f", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang",
         "filter-crs"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _get(summary: str, media: str, params: list[str], errors: tuple[int, ...] = (400, 401, 404),
         extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "成功", "content": {media: {"schema": {"type": "object"}
                                                                                if media != MVT else
                                                                                {"type": "string", "format": "binary"}}}}}
    for code in errors:
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    return {"get": {"summary": summary, "parameters": [_ref(p) for p in params] + (extra or []),
                    "responses": responses}}


def openapi30(base: str, providers: dict[str, Provider], queryable_names: dict[str, list[str]]) -> dict[str, Any]:
    """The OpenAPI 3.0.3 definition of the OGC API (Features Part 1 /req/oas30, Tiles /req/oas30)."""
    problem = {"description": "问题详情（RFC 9457）", "content": {"application/problem+json": {"schema": {
        "type": "object", "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                         "status": {"type": "integer"}, "detail": {"type": "string"},
                                         "errors": {"type": "array", "items": {"type": "object"}}}}}}}
    paths: dict[str, Any] = {
        "/": _get("着陆页", JSON, ["f"], (401,)),
        "/conformance": _get("一致性声明", JSON, ["f"], (401,)),
        "/api": _get("本 OpenAPI 3.0 定义", OAS30, [], (401,)),
        "/collections": _get("图层列表", JSON, ["f"], (400, 401)),
        "/tileMatrixSets": _get("瓦片矩阵集", JSON, ["f"], (401,)),
    }
    for t in TMS_TITLES:
        paths[f"/tileMatrixSets/{t}"] = _get(t, JSON, ["f"], (401,))
    for cid, p in providers.items():
        c = f"/collections/{cid}"
        q_params = [_param(name, {"type": "string"}, f"可查询属性 {name} 等于此值") for name in queryable_names[cid]]
        fixed = {**PARAMS["collectionId"], "schema": {"type": "string", "enum": [cid]}}
        paths[c] = _get(p.title, JSON, ["f"], extra=[fixed])
        items = [x for x in ITEMS if x != "collectionId" and (x != "datetime" or p.time_property)]
        paths[c + "/items"] = _get(f"{p.title}要素", GEOJSON, items, extra=[fixed, *q_params])
        paths[c + "/items/{featureId}"] = _get(f"{p.title}单个要素", GEOJSON, ["featureId", "crs", "f"], extra=[fixed])
        paths[c + "/queryables"] = _get(f"{p.title}可查询属性", SCHEMA, ["f"], extra=[fixed])
        if p.tiles:
            paths[c + "/tiles"] = _get(f"{p.title}瓦片集列表", JSON, ["f"], extra=[fixed])
            for t in TMS_TITLES:
                paths[f"{c}/tiles/{t}"] = _get(f"{p.title}瓦片集（{t}）", JSON, ["f"], extra=[fixed])
                paths[c + TILE_TEMPLATE.format(tms=t)] = _get(
                    f"{p.title}矢量瓦片（{t}）", MVT, ["tileMatrix", "tileRow", "tileCol"], (400, 401, 404), extra=[fixed])
    return {"openapi": "3.0.3", "info": {"title": "一码通 yimatong OGC API", "version": "1.0"},
            "servers": [{"url": base}], "paths": paths,
            "components": {"parameters": PARAMS,
                           "responses": {f"E{c}": problem for c in (400, 401, 404)},
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}]}
