"""Pages for people: local times, the zone in the list (and as a filter) and on the one-code page, a code read
in its own edition (2020版)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update

from api.helpers import register
from web.test_auth import login
from yimatong.accounts import users
from yimatong.storage.models import Project


def staff(ymt) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with ymt.db.write() as s:
        users.create(s, "lisi", "correct-horse-2", "registrar", "李四", must_change_password=False)
    return "lisi", "correct-horse-2"


def test_recent_events_and_one_code_page_in_local_time(client, ymt, registrar_headers) -> None:
    p = register(client, registrar_headers, name="本地时间项目")
    login(client, *staff(ymt))
    at = dt.datetime.fromisoformat(client.get("/api/v1/events", headers=registrar_headers).json()["items"][-1]["at"]
                                   .replace("Z", "+00:00"))
    shown = at.astimezone(ymt.profile.tz).strftime("%Y-%m-%d %H:%M")
    utc_text = at.strftime("%Y-%m-%d %H:%M")
    dashboard = client.get("/").text
    assert f"<time>{shown}</time>" in dashboard and f"<time>{utc_text}</time>" not in dashboard
    page = client.get(f"/code/{p['code']}").text
    assert f"<time>{shown}</time>" in page


def test_zone_in_the_list_as_a_filter_and_on_the_one_code_page(client, ymt, registrar_headers) -> None:
    a = register(client, registrar_headers, name="经开区厂房项目", zone="jingkai")
    register(client, registrar_headers, name="武陵区普通项目")
    login(client, *staff(ymt))
    listing = client.get("/projects").text
    assert "常德经济技术开发区" in listing and "全部功能区" in listing
    only = client.get("/projects", params={"zone": "jingkai"}).text
    assert "经开区厂房项目" in only and "武陵区普通项目" not in only
    page = client.get(f"/code/{a['code']}").text
    assert re.search(r'id="project-zone">常德经济技术开发区<', page)
    xlsx = client.get("/projects.xlsx", params={"zone": "jingkai"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_a_code_of_the_2020_edition_says_so(client, ymt, registrar_headers) -> None:
    p = register(client, registrar_headers, name="旧码项目", land_use="1311")
    with ymt.db.write() as s:  # as the migration records every project issued before editions
        s.execute(update(Project).where(Project.code == p["code"]).values(edition="2020"))
    login(client, *staff(ymt))
    page = client.get(f"/code/{p['code']}").text
    assert re.search(r"<td>干渠 <span class=\"tag\"[^>]*>2020版</span>", page)
    public = client.get(f"/p/{p['code']}").text
    assert "干渠（2020版）" in public
    assert "imports" in client.get("/imports").text and 'name="land_use_edition"' in client.get("/imports").text
