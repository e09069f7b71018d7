"""Issue 10.1: a hostile parcel name stored by a neighbour system must never run in a bureau admin's browser.

An approval_system token adds a result whose `meta.parcels` carries names that close the page's JSON block
and open a script — the script tried to create an admin-role webhook subscription with the admin's session.
A real Chromium opens the one-code page and the map's project box as an admin: nothing runs, the name shows as
text, the page carries a Content-Security-Policy without inline script, and no subscription appears."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from browser.waiting import wait_js
from conftest import project_body
from spatial.spatial_helpers import WULING, square
from yimatong.accounts import users
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.profiles.loader import load_profile

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
STEAL = ("window.__xss=1;addEventListener('load',()=>ymt.api('POST','/api/v1/subscriptions',"
         "{url:'http://127.0.0.1:9/s',types:[]}))")  # the page's own API helper adds the CSRF header
HOSTILE_NAME = f"</script><script>{STEAL}</script>"
HOSTILE_NO = '<img src=x onerror="window.__xss2=1"><svg/onload="window.__xss3=1">'
assert len(HOSTILE_NAME) <= 200  # what a parcel name holds
ADMIN, PASSWORD = "chief", "Bureau-admin-2026"


@pytest.mark.browser
def test_a_hostile_parcel_name_runs_nowhere(live_server, db_url: str, tmp_path: Path) -> None:
    app = App(Settings(database_url=db_url, data_dir=tmp_path / "direct"), load_profile("changde"))
    with app.db.write() as s:
        users.create(s, ADMIN, PASSWORD, "admin", "局管理员", must_change_password=False)
    app.close()
    registrar = {"Authorization": f"Bearer {live_server.token('registrar')}"}
    approval = {"Authorization": f"Bearer {live_server.token('approval_system')}"}
    admin = {"Authorization": f"Bearer {live_server.token('admin')}"}
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        code = c.post("/api/v1/projects", json=project_body(name="<b onmouseover=alert(1)>恶意名称</b>项目"),
                      headers=registrar).json()["code"]
        c.put(f"/api/v1/projects/{code}/stages/pre_review", json={"status": "done", "finished_at": "2026-02-01"},
              headers=approval)
        feature = square(WULING, name=HOSTILE_NAME, parcel_no=HOSTILE_NO)
        meta = {"stage": "pre_review", "kind": "用地预审意见", "parcels": [feature]}
        r = c.post(f"/api/v1/projects/{code}/results", data={"meta": json.dumps(meta)}, headers=approval)
        assert r.status_code == 201, r.text
        assert c.get("/api/v1/subscriptions", headers=admin).json()["items"] == []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 860}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(live_server.url + "/login")
        page.fill("input[name=username]", ADMIN)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=按阶段")

        response = page.goto(f"{live_server.url}/code/{code}")
        assert response is not None
        page.wait_for_load_state("load")
        assert page.evaluate("[window.__xss, window.__xss2, window.__xss3]") == [None, None, None]
        page.wait_for_selector("#mini-map path.leaflet-interactive", state="attached")  # the data still parses
        stored = page.evaluate("JSON.parse(document.getElementById('parcels-data').textContent).features[0].properties")
        assert stored["name"] == HOSTILE_NAME and stored["parcel_no"] == HOSTILE_NO
        assert page.evaluate("[window.__xss, window.__xss2, window.__xss3]") == [None, None, None]
        assert "恶意名称" in page.inner_text("h1")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "object-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
        # defence in depth: even a script element that somehow got into the page is refused by the CSP
        assert page.evaluate("""() => { const s = document.createElement('script');
            s.textContent = 'window.__inline = 1'; document.body.append(s); return window.__inline === undefined; }""")

        # the map's project box shows the same values, as text
        page.goto(f"{live_server.url}/map")
        wait_js(page, "window.ymtMap && window.ymtMap.loaded()")
        page.evaluate(f"void window.ymtMap.jumpTo({{center: [{WULING[0]}, {WULING[1]}], zoom: 16}})")
        wait_js(page, "window.ymtMap.queryRenderedFeatures({layers: ['parcels-fill']}).length > 0")
        box = page.locator("#map").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#box .box-project")
        assert HOSTILE_NO in page.inner_text("#box") and "<b onmouseover" in page.inner_text("#box")
        assert page.evaluate("[window.__xss, window.__xss2, window.__xss3]") == [None, None, None]
        browser.close()
    assert errors == [], errors
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        assert c.get("/api/v1/subscriptions", headers=admin).json()["items"] == []
