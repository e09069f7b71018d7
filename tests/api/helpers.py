"""Small helpers for API tests (not fixtures)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from conftest import project_body


def register(client: httpx.Client, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    r = client.post("/api/v1/projects", json=project_body(**over), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def put_stage(client: httpx.Client, headers: dict[str, str], code: str, key: str, status: str = "done",
              **extra: Any) -> httpx.Response:
    return client.put(f"/api/v1/projects/{code}/stages/{key}", json={"status": status, **extra}, headers=headers)


def add_result(client: httpx.Client, headers: dict[str, str], code: str, meta: dict[str, Any],
               files: list[tuple[str, bytes]] | None = None, **kw: Any) -> httpx.Response:
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files or []]
    return client.post(f"/api/v1/projects/{code}/results", data={"meta": json.dumps(meta, ensure_ascii=False)},
                       files=parts or None, headers=headers, **kw)
