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

from browser.test_pages import ARGS, INITIAL_PASSWORD, PASSWORD
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
    h = {"Authorization": f"Bearer {server.token('registrar')}"}
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
