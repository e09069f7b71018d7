"""The forms in a real headless Chromium against a real server, on a desktop and on a phone: an administrator
registers (code preview, duplicate warning), edits (outdated code), attaches a coordinate TXT (preview, then
save) and voids a project (reason, confirmation), and creates a clerk; the clerk records a stage (the
prerequisite rule explained when refused) and uploads a permit; bad input is refused with the field named in
Chinese and nothing written; no English sentence reaches the screen; nothing overflows the screen sideways;
every request stays on 127.0.0.1."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from browser.test_pages import ARGS, shot
from browser.waiting import wait_js
from conftest import YMT, project_body

DATA = Path(__file__).resolve().parent.parent / "data"
INITIAL, PASSWORD, CLERK_PASSWORD = "Initial-pass-2026", "Str0ng-passphrase", "Approval-desk-2026"
# Words that may stand in Latin letters in a Chinese page: formats, standards, units, our code prefixes
ALLOWED_LATIN = {"TXT", "GeoJSON", "Shapefile", "GeoPackage", "EPSG", "CGCS2000", "WGS", "GB/T", "HTTP", "SHA",
                 "KB", "zip", "https", "http", "JSON", "RFC", "X-Ymt-Signature", "TLS", "CD"}
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 4(03|09|22)")
SENTENCE = re.compile(r"[A-Za-z][A-Za-z'’-]+(?:[ ,.]+[A-Za-z][A-Za-z'’-]+){2,}")


def no_english(page: Page) -> None:
    """No English sentence (three Latin words in a row) in what the person reads."""
    text = page.inner_text("main")
    found = [m for m in SENTENCE.findall(text) if not set(re.split(r"[ ,.]+", m)) <= ALLOWED_LATIN]
    assert found == [], f"English on screen at {page.url}: {found}"


def fits(page: Page) -> None:
    """Nothing wider than the screen (the phone must never scroll sideways inside the page's content)."""
    wide = page.evaluate("(() => { const m = document.querySelector('main'); return [m.scrollWidth, m.clientWidth]; })()")
    assert wide[0] <= wide[1] + 1, f"content {wide[0]} px wider than {wide[1]} px at {page.url}"


def check(page: Page) -> None:
    no_english(page)
    fits(page)


def login(page: Page, base: str, username: str, initial: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", initial)
    page.click("button[type=submit]")
    page.wait_for_selector("#password-forced")
    page.fill("input[name=old_password]", initial)
    page.fill("input[name=password]", password)
    page.fill("input[name=password2]", password)
    page.click("form[action='/account/password'] button[type=submit]")
    page.wait_for_url(lambda url: "/account/password" not in url)


def logout(page: Page) -> None:
    page.click("form.who button[type=submit]")
    page.wait_for_url("**/login**")


def count_projects(base: str, token: str) -> int:
    r = httpx.get(base + "/api/v1/projects", params={"limit": 1000}, headers={"Authorization": f"Bearer {token}"})
    return len(r.json()["items"])


@pytest.mark.parametrize("width", [1366, 390])
def test_an_admin_and_a_clerk_work_through_the_forms(live_server, width: int) -> None:  # type: ignore[no-untyped-def]
    base = live_server.url
    token = live_server.token("registrar")
    seeded = httpx.post(base + "/api/v1/projects", json=project_body(name="武陵区东江安置小区项目"),
                        headers={"Authorization": f"Bearer {token}"}).json()["code"]
    out = subprocess.run([YMT, "user", "create", "--username", "boss", "--password-stdin", "--role", "admin",
                          "--display-name", "管理员"], env=live_server.env, input=INITIAL + "\n",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    tag = f"{width}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        context = browser.new_context(viewport={"width": width, "height": 860}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        requests: list[str] = []
        # a refused form answers 4xx on purpose (Chromium logs that); a script error is a failure
        page.on("console", lambda m: m.type == "error" and not REFUSED.match(m.text) and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        try:
            login(page, base, "boss", INITIAL, PASSWORD)

            # 登记项目: the code segments as the person chooses, a duplicate warned while typing
            page.goto(base + "/projects")
            page.click("#new-project")
            page.wait_for_selector("#project-form")
            page.fill("#f-name", "武陵区东江安置")
            page.wait_for_selector(f"#dup-warning >> text={seeded}")
            page.fill("#f-name", "武陵区丹阳路幼儿园项目")
            page.select_option("#f-division", "430702")
            page.select_option("#f-approval_type", "01")
            page.select_option("#f-project_type", "02")
            page.select_option("#f-supply_type", "23")
            page.select_option("#f-land_use", "0701")
            wait_js(page, "document.getElementById('preview-code').textContent.startsWith('CD4307022026010223070')")
            check(page)
            shot(page, f"forms-{tag}-01-register")
            # bad input: the field named in Chinese, nothing written
            before = count_projects(base, token)
            page.fill("#f-year", "今年")
            page.fill("#f-area_m2", "很大")
            page.click("#submit-register")
            page.wait_for_selector("#err-year")
            assert page.inner_text("#err-year") == "年度：应为整数"
            assert page.inner_text("#err-area_m2") == "用地面积（平方米）：应为数字"
            assert count_projects(base, token) == before
            check(page)
            page.fill("#f-year", "2026")
            page.fill("#f-area_m2", "8600")
            page.click("#submit-register")
            page.wait_for_selector("#issued-code")
            code = page.inner_text("#issued-code").strip()
            assert code.startswith("CD430702202601022307010")
            check(page)

            # 修改项目: the page says before saving that the code will be outdated
            page.goto(f"{base}/code/{code}")
            page.click(".project-actions >> text=修改项目")
            page.wait_for_selector("#project-form")
            page.select_option("#f-land_use", "0702")
            page.wait_for_selector("#outdated-warning:not([hidden])")
            assert "出让用途" in page.inner_text("#outdated-warning")
            check(page)
            page.click("#submit-edit")
            page.wait_for_selector("#code-outdated")
            check(page)

            # 挂接地块: a coordinate TXT previewed with its areas, then saved
            page.goto(f"{base}/code/{code}/parcels")
            page.set_input_files("#f-file", str(DATA / "boundary-coordinates.txt"))
            page.click("#preview-parcels")
            page.wait_for_selector("#parcel-preview")
            assert float(page.inner_text("#total-m2")) > 0  # the area check before saving
            page.wait_for_selector("#preview-map path.leaflet-interactive", state="attached")
            check(page)
            shot(page, f"forms-{tag}-02-parcels-preview")
            page.click("#save-parcels")
            page.wait_for_selector("#done >> text=已挂接")
            check(page)

            # an administrator creates the clerk's account
            page.goto(base + "/admin/users")
            page.fill("#f-username", "clerk")
            page.fill("#f-display_name", "审批科李四")
            page.select_option("#f-role", "approval_system")
            page.check("input[name=sections][value=construction_planning]")  # signs for 建设规划管理科
            page.fill("#f-password", INITIAL)
            page.click("#create-user")
            page.wait_for_selector("#done >> text=clerk")
            check(page)

            # 作废: a reason, then the confirmation, then it is done
            page.goto(f"{base}/code/{seeded}/void")
            page.click("#next-button")
            page.wait_for_selector("#err-reason")
            assert page.inner_text("#err-reason") == "原因：不能为空"
            page.fill("#f-reason", "与丹阳路幼儿园项目重复登记")
            page.click("#next-button")
            page.wait_for_selector("#confirm-form")
            check(page)
            shot(page, f"forms-{tag}-03-void-confirm")
            page.click("#confirm-button")
            page.wait_for_selector("#status >> text=作废")
            check(page)

            # a typed result kind shows its data fields once chosen (出让合同: 电子监管号, 面积, 价款 …)
            page.goto(f"{base}/code/{code}/results/new")
            page.fill("#f-kind", "国有建设用地使用权出让合同")
            page.press("#f-kind", "Tab")
            page.wait_for_selector("#typed-fields")
            assert "电子监管号" in page.inner_text("#typed-fields")
            assert page.input_value("#f-stage") == "supply"
            check(page)

            # 联合审查: the administrator sends 建设用地规划许可 to the profile's sections
            page.goto(f"{base}/code/{code}")
            page.click(".project-actions >> text=联合审查")
            page.wait_for_selector("#stage-pick")
            page.goto(f"{base}/code/{code}/joint?key=land_use_permit")
            page.wait_for_selector("#open-form")
            page.click("#open-review")
            page.wait_for_selector("#done >> text=已发起")
            check(page)
            logout(page)

            # the clerk: a stage, refused by its prerequisite first, then the permit
            login(page, base, "clerk", INITIAL, CLERK_PASSWORD)
            page.goto(f"{base}/code/{code}")
            page.click(".project-actions >> text=阶段办理")
            page.wait_for_selector("#stage-form")
            keys = page.eval_on_selector_all("#f-key option", "os => os.map(o => o.value)")
            assert "supply" in keys and "registration" not in keys
            page.select_option("#f-key", "supply")
            page.wait_for_url("**key=supply**")
            page.select_option("#f-status", "done")
            page.click("#submit-stage")
            page.wait_for_selector("#rule-explained")
            assert "农用地转用与土地征收审批" in page.inner_text("#rule-explained")
            check(page)
            shot(page, f"forms-{tag}-04-stage-refused")
            page.select_option("#f-key", "land_approval")
            page.wait_for_url("**key=land_approval**")
            page.select_option("#f-status", "done")
            page.fill("#f-case_no", "常自然资批〔2026〕12号")
            page.fill("#f-finished_at", "2026-02-01")
            page.click("#submit-stage")
            page.wait_for_selector("#done")
            check(page)

            page.goto(f"{base}/code/{code}/results/new?stage=works_permit")
            page.fill("#f-kind", "建设工程规划许可证")
            page.fill("#f-doc_no", "建字第430702202600012号")
            permit = DATA / "boundary-coordinates.txt"
            page.set_input_files("#files", [str(permit)])
            page.click("#submit-result")
            page.wait_for_selector("#done")
            assert "boundary-coordinates.txt" in page.inner_text("#stored-files")
            check(page)
            shot(page, f"forms-{tag}-05-result")

            # the clerk signs 建设规划管理科's opinion, and only that one
            page.goto(f"{base}/code/{code}/joint?key=land_use_permit")
            assert page.locator("form.sign-form").count() == 1
            page.select_option("form.sign-form select[name=status]", "agree_with_conditions")
            page.click("form.sign-form button[type=submit]")
            page.wait_for_selector("form.sign-form .field-error")  # the condition is missing: named, not saved
            check(page)
            page.fill("form.sign-form textarea[name=conditions]", "落实绿地率不低于 30%")
            page.click("form.sign-form button[type=submit]")
            page.wait_for_selector("#done >> text=意见已签署")
            assert "落实绿地率不低于 30%" in page.inner_text(".joint-review")
            check(page)
            shot(page, f"forms-{tag}-06-joint-opinion")
        finally:
            context.close()
            browser.close()
    assert errors == [], errors
    hosts = {urlparse(u).hostname for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, hosts
