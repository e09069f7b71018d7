"""Every paged list takes only the cursors it handed out: anything else is a 422 naming `cursor`, never a 500
(a hand-made cursor that decodes to JSON, a float, a number beyond any database column, garbage)."""

from __future__ import annotations

import base64
import json

import pytest

from api.helpers import register


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD = ["garbage!", _cursor({"x": 1}), _cursor(1.5), _cursor(True), _cursor(-1), _cursor(10**30), _cursor("7")]


@pytest.mark.parametrize("cursor", BAD)
def test_foreign_cursors_are_422(client, admin_headers, cursor: str) -> None:
    code = register(client, admin_headers)["code"]
    sub = client.post("/api/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook", "secret": "s" * 32},
                      headers=admin_headers).json()
    for path in ("/api/v1/projects", "/api/v1/parcels", f"/api/v1/projects/{code}/results", "/api/v1/warnings",
                 "/api/v1/reviews", "/api/v1/imports", f"/api/v1/subscriptions/{sub['id']}/deliveries"):
        r = client.get(path, params={"cursor": cursor}, headers=admin_headers)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert r.json()["errors"][0]["field"] == "cursor", path


@pytest.mark.parametrize("cursor", ["x", "-1", str(10**30), "1.5"])
def test_feed_cursor_is_a_seq(client, admin_headers, cursor: str) -> None:
    r = client.get("/api/v1/events", params={"cursor": cursor}, headers=admin_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


def test_a_cursor_handed_out_walks_on(client, admin_headers) -> None:
    for i in range(3):
        register(client, admin_headers, name=f"游标项目{i}")
    first = client.get("/api/v1/projects", params={"limit": 2}, headers=admin_headers).json()
    rest = client.get("/api/v1/projects", params={"limit": 2, "cursor": first["next_cursor"]},
                      headers=admin_headers).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
