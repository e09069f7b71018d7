"""The workbench at scale and in Chinese (issue 14 items 3, 5, 7): list pages with a total, previous/next, page
size and sorting that keep the filters; error pages for browsers beside problem+json for API clients; Chinese
validation messages; exports with a title row, a frozen header, an autofilter and typed cells."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess

import openpyxl

from api.helpers import register
from conftest import YMT
from web.test_auth import login
from web.test_standards_pages import staff

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_the_project_list_counts_pages_sorts_and_keeps_its_filters(client, ymt, registrar_headers) -> None:
    for i in range(23):
        register(client, registrar_headers, name=f"分页测试项目{i:02d}", area_m2=1000.0 + i)
    register(client, registrar_headers, name="别的区县项目", division="430703")
    login(client, *staff(ymt))
    first = client.get("/projects", params={"division": "430702", "size": "20", "sort": "area"}).text
    assert "共 23 条，第 1–20 条" in first and "第 1 / 2 页" in first and "别的区县项目" not in first
    assert '<option value="20" selected>20</option>' in first and '<option value="200" >200</option>' in first
    names = re.findall(r"分页测试项目(\d\d)", first)
    assert names[:3] == ["00", "01", "02"]  # smallest area first
    nxt = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "division=430702" in nxt and "sort=area" in nxt and "size=20" in nxt
    second = client.get(nxt).text
    assert "第 21–23 条" in second and 'rel="prev"' in second and "分页测试项目22" in second
    desc = client.get("/projects", params={"division": "430702", "sort": "-area"}).text
    assert re.findall(r"分页测试项目(\d\d)", desc)[0] == "22"
    # a hand-edited URL shows a page, never an error
    assert client.get("/projects", params={"page": "abc", "size": "7", "sort": "drop table"}).status_code == 200


def test_a_browser_gets_a_chinese_error_page_and_an_api_client_problem_json(client, ymt, registrar_headers) -> None:
    page = client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "页面不存在" in page.text and "Not Found" not in page.text
    for path in ("/api/v1/projects/NOPE", "/api/v1/no-such", "/ogc/collections/nope"):
        r = client.get(path, headers=HTML | registrar_headers)  # every /api/ and /ogc/ path keeps problem+json, even for a browser
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json"), path
    api = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["detail"] == "请求的资源不存在"
    login(client, *staff(ymt))  # a registrar is no admin: the audit page is refused with a page, same status
    refused = client.get("/audit", headers=HTML)
    assert refused.status_code == 403 and "无权访问" in refused.text


def test_validation_messages_are_chinese_with_the_field_named(client, registrar_headers) -> None:
    body = {"name": "", "division": "430702", "year": "二〇二六", "area_m2": "lots"}
    r = client.post("/api/v1/projects", json=body, headers=registrar_headers)
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors["year"] == "应为整数" and errors["area_m2"] == "应为数字"
    for message in [*errors.values(), r.json()["detail"]]:
        assert not re.search(r"Input should|Field required|String should", message), message
    english = client.post("/api/v1/projects", json=body, headers=registrar_headers | {"Accept-Language": "en"})
    assert any("should" in e["message"] or "required" in e["message"] for e in english.json()["errors"])
    limit = client.get("/api/v1/projects", params={"limit": "x"}, headers=registrar_headers)
    assert limit.json()["errors"][0] == {"field": "limit", "message": "应为整数"}


def test_the_warnings_export_has_a_title_a_frozen_header_a_filter_and_typed_cells(client, ymt,
                                                                                   registrar_headers) -> None:
    code = register(client, registrar_headers, name="批而未供测试项目", area_m2=5000.0)["code"]
    client.put(f"/api/v1/projects/{code}/stages/land_approval", json={"status": "done", "finished_at": "2023-01-05"},
               headers=registrar_headers)
    login(client, *staff(ymt))
    page = client.get("/warnings").text
    assert "批而未供测试项目" in page and "共 " in page
    x = client.get("/warnings.xlsx", params={"q": "批而未供"})
    assert x.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
    title = ws.cell(1, 1).value
    assert "关键字=批而未供" in title and "导出时间：" in title and "北京时间" in title
    assert ws.freeze_panes == "A3" and ws.auto_filter.ref and ws.auto_filter.ref.startswith("A2:")
    row = [c.value for c in ws[3]]
    assert row[2] == code and row[5] == dt.datetime(2023, 1, 5) and ws.cell(3, 6).is_date
    assert row[6] == 5000.0 and isinstance(row[1], int | float)
    projects = openpyxl.load_workbook(io.BytesIO(client.get("/projects.xlsx", params={"year": "2026"}).content)).active
    assert "年度=2026" in projects.cell(1, 1).value and projects.freeze_panes == "A3"
    head = [c.value for c in projects[2]]
    updated = projects.cell(3, head.index("更新时间") + 1)
    assert updated.is_date and isinstance(projects.cell(3, head.index("年度") + 1).value, int)


def test_the_project_page_shows_the_parcels_total_area_and_its_farmland_conflict(client, ymt, registrar_headers,
                                                                                  db_url, tmp_path) -> None:
    from shapely.geometry import box

    from spatial.spatial_helpers import WULING, square
    from spatial.test_control_layers import layer

    x, y = WULING
    farmland = layer(tmp_path / "jbnt.geojson", [box(x, y - 0.002, x + 0.002, y + 0.002)], "基本农田图斑")
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "d")}
    out = subprocess.run([YMT, "import", "control_layer", str(farmland), "--kind", "basic_farmland"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    code = register(client, registrar_headers, name="五地块项目", area_m2=None)["code"]
    total = 0.0
    for i in range(5):
        r = client.post(f"/api/v1/projects/{code}/parcels", json=square((x + 0.004 * i, y), 0.0005),
                        headers=registrar_headers)
        total += r.json()["features"][0]["properties"]["area_m2"]
    login(client, *staff(ymt))
    page = client.get(f"/code/{code}").text
    shown = re.search(r'id="parcel-area">([^<]+)<', page).group(1)
    assert f"{total:,.2f} 平方米" in shown and f"{total * 15 / 10000:.2f} 亩" in shown
    assert f"{total / 10000:.4f} 公顷" in shown and "5 个地块" in shown
    warnings = re.search(r'id="project-warnings">(.*?)</section>', page, re.S).group(1)
    assert "空间冲突" in warnings and "永久基本农田" in warnings


def test_one_code_lookup_takes_a_name_and_lists_the_matches(client, ymt, registrar_headers) -> None:
    one = register(client, registrar_headers, name="桃花源旅游集散中心")["code"]
    register(client, registrar_headers, name="柳叶湖安置小区一期")
    register(client, registrar_headers, name="柳叶湖安置小区二期")
    login(client, *staff(ymt))
    r = client.get("/code", params={"q": "桃花源旅游"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/code/{one}"
    many = client.get("/code", params={"q": "柳叶湖安置"}).text
    assert "柳叶湖安置小区一期" in many and "柳叶湖安置小区二期" in many and "格式有误" not in many
    none = client.get("/code", params={"q": "不存在的项目"}).text
    assert "没有找到与“不存在的项目”相符的项目" in none and "格式有误" not in none


def test_a_broken_workbook_is_refused_in_words_a_clerk_can_act_on(client, registrar_headers) -> None:
    for name, body in (("储备计划.xlsx", b"PK\x03\x04 not really a zip"), ("储备计划.xls", b"\xd0\xcf\x11\xe0 junk")):
        r = client.post("/api/v1/imports/reserve_plan", params={"dry_run": "true"},
                        files={"file": (name, body, "application/octet-stream")}, headers=registrar_headers)
        assert r.status_code in (400, 422), r.text
        detail = r.json()["detail"]
        assert "另存为 .xlsx" in detail and not re.search(r"[A-Za-z]{4,}Error|BadZip|File is not", detail), detail


def test_bulk_review_decisions_preview_each_item_then_run_on_confirmation(client, ymt, registrar_headers) -> None:
    from web.test_auth import csrf_of

    base = "项目名称,行政区划,年度\n" + "".join(f"武陵区丹阳路以北{i}号地块住宅项目,武陵区,2026\n" for i in range(3))
    near = "项目名称,行政区划,年度\n" + "".join(f"武陵区丹阳路以北{i}号地块二期住宅项目,武陵区,2026\n" for i in range(3))
    for name, body in (("a.csv", base), ("b.csv", near)):
        r = client.post("/api/v1/imports/reserve_plan", files={"file": (name, body.encode(), "text/csv")},
                        headers=registrar_headers)
        assert r.status_code == 200, r.text
    assert r.json()["counts"]["review"] == 3
    login(client, *staff(ymt))
    page = client.get("/reviews", params={"q": "丹阳路", "size": "20"}).text
    ids = re.findall(r'name="id" value="(\d+)" form="bulk-form"', page)
    assert len(ids) >= 3 and f"共 {len(ids)} 条" in page  # a row may look like more than one project
    preview = client.post("/reviews/bulk", data={"id": ids[:2], "decision": "keep_separate",
                                                 "csrf": csrf_of(page)})
    assert preview.status_code == 200 and preview.text.count("登记为新项目，签发新的项目码") == 2
    assert "确认另立为新项目 2 项" in preview.text
    with ymt.db.read() as session:  # the preview wrote nothing
        from yimatong.storage.models import Review
        assert {r.state for r in session.query(Review)} == {"open"}
    stale = client.post("/reviews/bulk/confirm", data={"id": ids[:2], "decision": "keep_separate", "csrf": "x"})
    assert stale.status_code == 403
    done = client.post("/reviews/bulk/confirm", data={"id": ids[:2], "decision": "keep_separate",
                                                      "reason": "不同地块", "csrf": csrf_of(preview.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/reviews?bulk=2:0:keep_separate"
    left = client.get("/reviews").text
    assert f"共 {len(ids) - 2} 条" in left and "已批量另立为新项目 2 项" in client.get(done.headers["location"]).text
    kept = client.get("/reviews", params={"state": "kept"}).text
    assert "共 2 条" in kept
