"""The workbench in a real headless Chromium against a real server, offline (every request stays on 127.0.0.1):
a supervisor pages through warnings and exports them, the map's search and measuring, every page at 390 px
without sideways scrolling, /docs from vendored assets, error pages for a browser — with no English on screen."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import openpyxl
import pytest
from playwright.sync_api import Page, sync_playwright

from browser.test_pages import ARGS, INITIAL_PASSWORD, PASSWORD, shot
from browser.waiting import wait_js
from conftest import YMT, project_body
from spatial.spatial_helpers import WULING, square

pytestmark = pytest.mark.browser
# English that must not reach a person in the checked flows (codes such as 430702 or DK-001 may)
ENGLISH = re.compile(r"\b(Input should|Field required|Not Found|Internal Server Error|stage\.changed|"
                     r"project\.registered|registrar|viewer|admin|None|null|undefined|NaN|Error)\b")


@pytest.fixture
def browser(live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield b
        b.close()


def new_page(browser: Any, width: int = 1366, height: int = 860) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                  accept_downloads=True)
    page = context.new_page()
    page.errors, page.requests = [], []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    page.on("request", lambda r: page.requests.append(r.url))  # type: ignore[attr-defined]
    return page


def log_in(page: Page, server: Any, username: str, role: str) -> None:
    out = subprocess.run([YMT, "user", "create", "--username", username, "--password-stdin", "--role", role,
                          "--display-name", "测试用户"], env=server.env, input=INITIAL_PASSWORD + "\n",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    page.goto(server.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", INITIAL_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#password-forced")
    page.fill("input[name=old_password]", INITIAL_PASSWORD)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form[action='/account/password'] button[type=submit]")
    page.wait_for_selector("text=按阶段")


def stayed_local(page: Page) -> None:
    hosts = {urlparse(u).hostname for u in page.requests if not u.startswith(("data:", "blob:", "about:"))}
    assert hosts <= {"127.0.0.1"}, hosts


def no_english(page: Page) -> None:
    text = page.inner_text("body")
    found = ENGLISH.findall(text)
    assert not found, f"English on screen: {found}"


def seed(server: Any, n: int) -> list[str]:
    h = {"Authorization": f"Bearer {server.token('registrar', '项目库窗口')}"}  # its name shows as the actor
    codes = []
    with httpx.Client(base_url=server.url, headers=h, timeout=60) as c:
        for i in range(n):
            code = c.post("/api/v1/projects", json=project_body(name=f"批而未供项目{i:02d}", area_m2=2000.0 + i)
                          ).json()["code"]
            c.put(f"/api/v1/projects/{code}/stages/land_approval",
                  json={"status": "done", "finished_at": "2022-03-01"})
            codes.append(code)
        c.post(f"/api/v1/projects/{codes[0]}/parcels", json=square(WULING, 地块编号="DK-2026-777"))
    return codes


def test_docs_render_offline_and_errors_are_pages_for_a_browser(live_server, browser) -> None:
    page = new_page(browser)
    page.goto(live_server.url + "/docs")
    page.wait_for_selector(".opblock-tag", timeout=30_000)
    shot(page, "docs")
    assert page.locator(".opblock").count() > 20
    stayed_local(page)
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors
    csp = httpx.get(live_server.url + "/docs").headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "cdn" not in csp and "https:" not in csp
    r = page.goto(live_server.url + "/no/such/page")
    assert r is not None and r.status == 404
    assert "页面不存在" in page.inner_text("h1")
    no_english(page)
    api = httpx.get(live_server.url + "/api/v1/no-such", headers={"Accept": "text/html"})
    assert api.status_code in (401, 404) and api.headers["content-type"].startswith("application/problem+json")


def test_a_supervisor_pages_through_warnings_and_exports_them(live_server, browser, tmp_path) -> None:
    seed(live_server, 25)
    page = new_page(browser)
    log_in(page, live_server, "jiandu", "viewer")
    page.goto(live_server.url + "/warnings?kind=approved_not_supplied&size=20")
    wait_js(page, "!!document.getElementById('list-total')")
    assert "共 25 条" in page.inner_text("#list-total")
    page.click("a[rel=next] >> nth=0")
    page.wait_for_url("**page=2**")
    assert "第 21–25 条" in page.inner_text("#list-total") and "kind=approved_not_supplied" in page.url
    shot(page, "warnings-page-2")
    page.click("th a.sort:has-text('面积')")
    page.wait_for_url("**sort=area**")
    assert "page=" not in page.url  # sorting starts again at the first page
    no_english(page)
    with page.expect_download() as dl:
        page.click("#warnings-export")
    path = tmp_path / "w.xlsx"
    dl.value.save_as(path)
    ws = openpyxl.load_workbook(path).active
    assert ws.freeze_panes == "A3" and ws.auto_filter.ref.startswith("A2:")
    assert "批而未供" in ws.cell(1, 1).value and "导出时间" in ws.cell(1, 1).value
    assert ws.max_row == 2 + 25 and ws.cell(3, 6).is_date and isinstance(ws.cell(3, 7).value, float | int)
    stayed_local(page)
    assert not page.errors, page.errors


def test_the_map_finds_a_parcel_and_measures_on_the_ellipsoid(live_server, browser) -> None:
    from pyproj import Geod

    codes = seed(live_server, 2)
    page = new_page(browser)
    log_in(page, live_server, "zhangsan", "viewer")
    page.goto(live_server.url + "/map")
    wait_js(page, "document.getElementById('map').dataset.ready === '1'")
    page.fill("#map-q", "DK-2026-777")
    page.press("#map-q", "Enter")
    wait_js(page, "window.ymtMap.getZoom() > 14")  # flew to the parcel's box
    wait_js(page, "document.getElementById('box').textContent.includes('DK-2026-777')")
    page.fill("#map-q", "批而未供项目")
    page.press("#map-q", "Enter")
    page.wait_for_selector("#map-hits li button")
    assert codes[0] in page.inner_text("#map-hits")
    page.fill("#map-q", "29.05, 111.70")  # latitude first: still understood
    page.press("#map-q", "Enter")
    wait_js(page, "Math.abs(window.ymtMap.getCenter().lng - 111.70) < 0.01 && window.ymtMap.getZoom() > 15")
    assert page.locator(".maplibregl-ctrl-scale").count() == 1
    # measuring: two clicks make a distance, three an area, on the CGCS2000 ellipsoid
    page.click("#measure-line")
    box = page.locator("#map canvas").bounding_box()
    for dx in (500, 700):
        page.mouse.click(box["x"] + dx, box["y"] + box["height"] / 2)
    wait_js(page, "document.getElementById('measure-out').textContent.startsWith('距离')")
    page.click("#measure-area")
    for dx, dy in ((500, 300), (700, 300), (700, 450)):  # clear of the search and measuring tools
        page.mouse.click(box["x"] + dx, box["y"] + dy)
    wait_js(page, "document.getElementById('measure-out').textContent.includes('亩')")
    shot(page, "map-measure")
    geod = Geod(a=6378137, f=1 / 298.257222101)
    square_pts = [[111.7, 29.0], [111.71, 29.0], [111.71, 29.01], [111.7, 29.01]]
    got = page.evaluate(f"window.ymtMeasure({square_pts}, true)")
    area, perimeter = geod.polygon_area_perimeter([p[0] for p in square_pts], [p[1] for p in square_pts])
    assert abs(got["area"] - abs(area)) < 0.01 and abs(got["length"] - perimeter) < 0.001
    _, _, dist = geod.inv(111.7, 29.0, 112.5, 29.8)
    assert abs(page.evaluate("window.ymtMeasure([[111.7, 29.0], [112.5, 29.8]], false).length") - dist) < 0.001
    no_english(page)
    stayed_local(page)
    assert not page.errors, page.errors


def test_every_page_fits_a_phone_and_a_clerk_looks_up_a_code(live_server, browser) -> None:
    codes = seed(live_server, 3)
    page = new_page(browser, 390, 844)
    log_in(page, live_server, "kezhang", "admin")
    for path in ("/", "/projects", "/code", f"/code/{codes[0]}", "/map", "/imports", "/reviews", "/warnings",
                 "/account", "/audit", "/no/such/page", "/docs"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        shot(page, "phone" + (path.replace("/", "-") if path != "/" else "-home")[:40])
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
        if path != "/docs":
            no_english(page)
    # the clerk's lookup: type a code on the phone, see its chain
    page.goto(live_server.url + "/code")
    page.fill("input[name=q]", codes[1].lower())
    page.press("input[name=q]", "Enter")
    page.wait_for_url(f"**/code/{codes[1]}")
    assert codes[1] in page.inner_text("#project-code")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    stayed_local(page)
