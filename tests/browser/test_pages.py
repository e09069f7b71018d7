"""The pages in a real headless Chromium (Debian's), driven by Playwright, against a real server:
as a new user would, offline — every request must stay on the loopback address."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from browser.waiting import wait_js
from conftest import YMT, project_body
from spatial.spatial_helpers import WULING, square

DATA = Path(__file__).resolve().parent.parent / "data"
SHOTS = os.environ.get("YMT_SCREENSHOT_DIR")
INITIAL_PASSWORD, PASSWORD = "Initial-pass-2026", "Str0ng-passphrase"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture
def browser_page(live_server):  # type: ignore[no-untyped-def]
    out = subprocess.run([YMT, "user", "create", "--username", "demo", "--password-stdin", "--role", "registrar",
                          "--display-name", "演示用户"], env=live_server.env, input=INITIAL_PASSWORD + "\n",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 860}, locale="zh-CN")
        page = context.new_page()
        page.errors, page.requests = [], []  # type: ignore[attr-defined]
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))  # type: ignore[attr-defined]
        page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
        page.on("request", lambda r: page.requests.append(r.url))  # type: ignore[attr-defined]
        yield page
        context.close()
        browser.close()


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


def seed(server) -> str:  # type: ignore[no-untyped-def]
    h = {"Authorization": f"Bearer {server.token('registrar')}"}
    with httpx.Client(base_url=server.url, headers=h, timeout=30) as c:
        code = c.post("/api/v1/projects", json=project_body(name="武陵区东江安置小区项目", area_m2=28000.0)).json()["code"]
        c.post(f"/api/v1/projects/{code}/parcels", json=square(WULING, 地块编号="DK-2026-001"))
        for key in ("pre_review", "land_approval", "supply"):
            c.put(f"/api/v1/projects/{code}/stages/{key}", json={"status": "done", "finished_at": "2026-02-01"})
        c.post(f"/api/v1/projects/{code}/results", data={"meta": '{"stage": "supply", "kind": "出让合同"}'},
               files=[("files", ("出让合同.pdf", b"%PDF-1.4\n%%EOF\n"))])
        other = c.post("/api/v1/projects", json=project_body(name="鼎城区标准厂房项目", division="430703")).json()
        c.post(f"/api/v1/projects/{other['code']}/parcels", json=square((111.68, 28.96)))
    return code


def test_a_new_user_works_through_every_page(live_server, browser_page: Page, tmp_path: Path) -> None:
    page = browser_page
    code = seed(live_server)
    page.goto(live_server.url + "/")
    page.wait_for_url("**/login**")
    shot(page, "01-login")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", INITIAL_PASSWORD)
    page.click("button[type=submit]")
    # the password an admin gave must be changed first
    page.wait_for_selector("#password-forced")
    page.fill("input[name=old_password]", INITIAL_PASSWORD)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form[action='/account/password'] button[type=submit]")
    page.wait_for_selector("text=按阶段")
    page.wait_for_selector("b[data-warning-kind]:not(.pending)")  # counts filled in by dashboard.js
    shot(page, "02-dashboard")

    page.click("nav >> text=项目库")
    page.fill("input[name=q]", "东江")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector(f"text={code}")
    assert page.locator("table.list tbody tr").count() == 1
    shot(page, "03-projects")

    page.click(f"text={code}")
    page.wait_for_selector("text=业务链（批供用补查登）")
    assert page.inner_text("#project-code") == code
    page.wait_for_selector("#mini-map path.leaflet-interactive", state="attached")
    assert page.locator("text=出让合同.pdf").count() == 1
    shot(page, "04-one-code")

    page.click("nav >> text=一码查询")
    page.fill("input[name=q]", f"{live_server.url}/p/{code}")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/code/{code}")

    # 拍照扫码: the phone's camera gives the file input a photo; the page sends it at once
    photo = tmp_path / "二维码.png"
    photo.write_bytes(httpx.get(f"{live_server.url}/p/{code}/qr.png").content)
    page.click("nav >> text=一码查询")
    page.set_input_files("#scan-photo", str(photo))
    page.wait_for_url(f"**/code/{code}")

    page.click("nav >> text=一张图")
    wait_js(page, "window.ymtMap && window.ymtMap.loaded()")
    # at city scale the parcel is a dot from the vector tiles; closer in, its polygon
    wait_js(page, "window.ymtMap.queryRenderedFeatures({layers: ['parcels-dots']}).length > 0")
    page.evaluate(f"void window.ymtMap.jumpTo({{center: [{WULING[0]}, {WULING[1]}], zoom: 16}})")
    wait_js(page, "window.ymtMap.queryRenderedFeatures({layers: ['parcels-fill']}).length > 0")
    assert any("/ogc/collections/parcels/tiles/WebMercatorQuad/" in u for u in page.requests)  # type: ignore[attr-defined]
    box = page.locator("#map canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#box >> text=武陵区东江安置小区项目")
    assert "土地供应" in page.inner_text("#box")
    shot(page, "05-map")

    page.click("nav >> text=数据导入")
    page.set_input_files("#import-file", str(DATA / "supply-plan-sample.xlsx"))
    page.click("#check-button")
    page.wait_for_selector("#report-counts >> text=新登记 4")
    shot(page, "06-imports")
    page.click("#confirm-button")
    page.wait_for_selector("text=导入完成")

    # a near-duplicate from another list waits in the review queue; staff merge it there
    near = tmp_path / "储备计划.csv"
    near.write_text("项目名称,行政区划,年度\n武陵区丹阳路以北地块二期住宅项目,武陵区,2026\n", encoding="utf-8")
    page.select_option("#import-kind", "reserve_plan")
    page.set_input_files("#import-file", str(near))
    page.click("#check-button")
    page.wait_for_selector("#report-counts >> text=待复核 1")
    page.click("#confirm-button")
    page.wait_for_selector("text=导入完成")
    page.click("nav >> text=重复复核")
    page.wait_for_selector("text=武陵区丹阳路以北地块二期住宅项目")
    shot(page, "09-reviews")
    page.click("form.decide >> text=并入候选项目")
    page.wait_for_selector("#done")
    assert "没有待复核的项目" in page.inner_text("table.reviews")

    page.click("nav >> text=预警监管")
    page.wait_for_selector("text=共")
    shot(page, "07-warnings")

    page.goto(f"{live_server.url}/p/{code}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_selector("text=办理进度")
    shot(page, "08-public-phone")

    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    hosts = {urlparse(u).hostname for u in page.requests if not u.startswith(("data:", "blob:"))}  # type: ignore[attr-defined]
    assert hosts == {"127.0.0.1"}, hosts
