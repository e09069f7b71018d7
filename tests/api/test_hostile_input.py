"""Hostile input that must be refused at the door, and never break a project for good (issue: probing)."""

from __future__ import annotations

import io
import json
import zipfile

from api.helpers import add_result, register


def _nested(depth: int) -> dict:  # type: ignore[type-arg]
    value: dict = {"leaf": 1}  # type: ignore[type-arg]
    for _ in range(depth):
        value = {"x": value}
    return value


def test_a_result_nested_300_levels_is_refused_and_the_project_keeps_working(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    r = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "意见书", "data": _nested(300)})
    assert r.status_code == 422, r.text
    field = r.json()["errors"][0]["field"]
    assert field.startswith("meta.data.x.x") and "嵌套" in r.json()["errors"][0]["message"]
    ok = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "意见书", "data": _nested(20)})
    assert ok.status_code == 201, ok.text
    assert client.get(f"/api/v1/projects/{code}/results", headers=registrar_headers).status_code == 200
    assert client.get(f"/api/v1/projects/{code}/chain", headers=registrar_headers).status_code == 200


def test_a_json_body_nested_too_deep_is_a_422_naming_the_path(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    body = json.dumps({"builder": "x", "sources": [_nested(100)]})
    r = client.patch(f"/api/v1/projects/{code}", content=body,
                     headers=registrar_headers | {"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("sources.0.x")


def test_a_result_kind_cannot_climb_out_of_the_package(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    r = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "../../../etc/cron.d/x"},
                   [("..\\..\\evil.sh", b"#!/bin/sh\n")])
    assert r.status_code == 201, r.text
    pkg = client.get(f"/api/v1/projects/{code}/package", params={"purpose": "archive"}, headers=registrar_headers)
    names = zipfile.ZipFile(io.BytesIO(pkg.content)).namelist()
    assert all(part not in ("..", ".", "") for n in names for part in n.split("/")), names
    assert all(not n.startswith("/") and "\\" not in n for n in names), names
