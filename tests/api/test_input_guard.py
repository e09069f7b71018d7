"""Text no database can store the same way (NUL characters) and numbers JSON does not have (NaN, Infinity,
1e400) are refused at the door with a 4xx naming the field or parameter — on SQLite and PostgreSQL alike
(PostgreSQL refuses NUL in text with an error, SQLite would have stored it)."""

from __future__ import annotations

import json

import pytest

from api.helpers import register
from conftest import project_body


def _fields(r) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["field"] for e in r.json()["errors"]]


def test_nul_in_json_fields_is_422_naming_the_field(client, registrar_headers) -> None:
    r = client.post("/api/v1/projects", json=project_body(name="武陵区\u0000项目"), headers=registrar_headers)
    assert r.status_code == 422 and _fields(r) == ["name"] and "NUL" in r.json()["detail"]
    code = register(client, registrar_headers)["code"]
    r = client.put(f"/api/v1/projects/{code}/stages/pre_review", json={"status": "done", "note": "a\u0000"},
                   headers=registrar_headers)
    assert r.status_code == 422 and _fields(r) == ["note"]
    r = client.post(f"/api/v1/projects/{code}/parcels", headers=registrar_headers, json={
        "type": "Feature", "properties": {"地块\u0000": 1}, "geometry": None})
    assert r.status_code == 422 and _fields(r) == ["properties.地块\\u0000"]
    meta = {"stage": "pre_review", "kind": "意见书", "data": {"doc": ["ok", "x\u0000"]}}
    r = client.post(f"/api/v1/projects/{code}/results", files={"meta": (None, json.dumps(meta))},
                    headers=registrar_headers)
    assert r.status_code == 422 and _fields(r) == ["meta.data.doc.1"]
    assert client.get(f"/api/v1/projects/{code}/results", headers=registrar_headers).json()["items"] == []
    assert len(client.get("/api/v1/projects", headers=registrar_headers).json()["items"]) == 1  # nothing written


def test_nul_in_query_path_and_form(client, registrar_headers) -> None:
    r = client.get("/api/v1/projects", params={"q": "a\u0000b"}, headers=registrar_headers)
    assert r.status_code == 422 and _fields(r) == ["q"]
    r = client.get("/api/v1/events", params={"type": "\u0000"}, headers=registrar_headers)
    assert r.status_code == 422 and _fields(r) == ["type"]
    r = client.get("/api/v1/projects/CD%00", headers=registrar_headers)
    assert r.status_code == 404 and _fields(r) == ["path"]
    r = client.post("/login", data={"username": "a\u0000", "password": "x", "csrf": "x"})
    assert r.status_code == 422 and _fields(r) == ["username"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_422(client, registrar_headers, number: str) -> None:
    body = json.dumps(project_body()).replace('"area_m2": 12000.0', f'"area_m2": {number}')
    assert number in body
    r = client.post("/api/v1/projects", content=body, headers=registrar_headers | {"content-type": "application/json"})
    assert r.status_code == 422 and "有限数" in r.json()["errors"][0]["message"]
    code = register(client, registrar_headers)["code"]
    meta = json.dumps({"stage": "pre_review", "kind": "意见书", "data": {"x": "NUMBER"}}).replace('"NUMBER"', number)
    r = client.post(f"/api/v1/projects/{code}/results", files={"meta": (None, meta)}, headers=registrar_headers)
    assert r.status_code == 422 and _fields(r) == ["meta"]


def test_deep_nesting_and_chunked_oversize(client, registrar_headers, ymt) -> None:
    deep = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = client.post("/api/v1/projects", content=deep, headers=registrar_headers | {"content-type": "application/json"})
    assert r.status_code == 422 and "嵌套" in r.json()["detail"]
    limit = ymt.settings.max_json_bytes
    chunks = (b'{"name": "' + b"x" * 65536 for _ in range(limit // 65536 + 2))  # no Content-Length: chunked
    r = client.post("/api/v1/projects", content=chunks, headers=registrar_headers | {"content-type": "application/json"})
    assert r.status_code == 413


def test_ordinary_requests_pass_untouched(client, registrar_headers) -> None:
    created = client.post("/api/v1/projects", json=project_body(name="含“引号”与\\反斜杠的项目", area_m2=1.5e4),
                          headers=registrar_headers)
    assert created.status_code == 201 and created.json()["name"] == "含“引号”与\\反斜杠的项目"
    r = client.post("/api/v1/projects", content=b"{", headers=registrar_headers | {"content-type": "application/json"})
    assert r.status_code in (400, 422)  # malformed JSON keeps the route's own answer
