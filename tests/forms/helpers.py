"""Logged-in TestClient sessions for the form tests."""

from __future__ import annotations

import re
from typing import Any

from yimatong.accounts import users

PASSWORD = "correct-horse-1"
FORM = {"name": "武陵区滨湖安置小区项目", "division": "430702", "year": "2026", "approval_type": "01",
        "project_type": "02", "supply_type": "23", "land_use": "0701", "builder": "常德建设有限公司",
        "area_m2": "12000", "source_kind": "manual"}


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf(?:-token)?" (?:content|value)="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def add_user(ymt: Any, username: str, role: str, **kw: Any) -> None:
    with ymt.db.write() as s:
        users.create(s, username, PASSWORD, role, username, must_change_password=False, **kw)


def login(client: Any, username: str) -> str:
    """Logs in; returns the session's CSRF token."""
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf_of(page.text),
                                    "next": "/account"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/account").text)


def post(client: Any, path: str, csrf: str, data: dict[str, Any], **kw: Any) -> Any:
    return client.post(path, data={"csrf": csrf, **data}, follow_redirects=False, **kw)


def field_error(html: str, name: str) -> str | None:
    m = re.search(rf'id="err-{re.escape(name)}"[^>]*>([^<]*)<', html)
    return m.group(1) if m else None
