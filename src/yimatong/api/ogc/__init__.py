"""OGC API for GIS clients (QGIS, GDAL, ArcGIS, SuperMap, the city's one map): Features Parts 1-3 and Tiles.

documents.py: the JSON documents (landing, conformance, collections, queryables, tilesets, OpenAPI 3.0);
params.py: query parameters and their 400s; crs.py: CRS and axis order; filtering.py: CQL2 → SQL;
providers.py: one provider per collection; routes.py: the endpoints (`routes.router`, mounted by api.app).
"""
