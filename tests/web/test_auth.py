"""Logging in to the pages, CSRF, logout; every page renders for a logged-in person."""

from __future__ import annotations

import json
import re
import time

import pytest

from api.helpers import add_result, register
from spatial.spatial_helpers import WULING, square
from yimatong.accounts import users


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf(?:-token)?" (?:content|value)="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture
def staff(ymt):  # type: ignore[no-untyped-def]
    with ymt.db.write() as s:
        # a password the person chose (the forced change of an initial one is tested in test_accounts.py)
        users.create(s, "zhangsan", "correct-horse-1", "registrar", "张三", must_change_password=False)
    return ("zhangsan", "correct-horse-1")


def login(client, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(page.text),
                                    "next": "/projects"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/projects", r.text


def test_pages_need_login_and_wrong_password_is_refused(client, staff) -> None:
    r = client.get("/projects", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/projects")
    page = client.get("/login")
    bad = client.post("/login", data={"username": "zhangsan", "password": "nope", "csrf": csrf_of(page.text)})
    assert "用户名或密码错误" in bad.text
    no_csrf = client.post("/login", data={"username": "zhangsan", "password": "correct-horse-1", "csrf": "x"})
    assert "页面已过期" in no_csrf.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_every_page_renders_and_api_calls_need_csrf(client, registrar_headers, staff) -> None:
    code = register(client, registrar_headers, name="页面测试项目")["code"]
    client.post(f"/api/v1/projects/{code}/parcels", json=square(WULING), headers=registrar_headers)
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "意见书"}, [("a.txt", b"hi")])
    login(client, *staff)
    for path, needle in [("/", "驾驶舱"), ("/projects", "页面测试项目"), (f"/code/{code}", "业务链"),
                         ("/code", "一码查询"), ("/map", "项目盒"), ("/imports", "数据导入"), ("/warnings", "预警监管"),
                         ("/reviews", "疑似重复复核"),
                         (f"/projects?q={code[:10]}", code), ("/projects?year=abc", "项目库")]:
        r = client.get(path)
        assert r.status_code == 200 and needle in r.text, path
    assert client.get("/code", params={"q": f"http://x/p/{code}"}, follow_redirects=False).headers["location"] == \
        f"/code/{code}"
    assert "格式有误" in client.get("/code", params={"q": "CD123"}).text
    client.post(f"/api/v1/projects/{code}/results", headers=registrar_headers, files={"meta": (None, json.dumps(
        {"stage": "supply", "kind": "出让合同", "data": {"supervision_no": "4307022026B00099"}}))})
    by_ref = client.get("/code", params={"q": "4307022026B00099"}, follow_redirects=False)  # a 电子监管号 typed in
    assert by_ref.status_code == 303 and by_ref.headers["location"] == f"/code/{code}"
    assert client.get("/projects.xlsx").content[:2] == b"PK"
    parcels = client.get("/web/parcels", params={"bbox": "111.6,29.0,111.8,29.1"}).json()
    assert parcels["features"][0]["properties"]["code"] == code
    for path in ("/web/parcels", "/web/control-layers"):  # an empty or broken view is a 422, not a 500
        for bbox in ("", "1,2,3", "nan,nan,nan,nan"):
            r = client.get(path, params={"bbox": bbox, "kind": "eco_redline"})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "bbox", (path, bbox)
    # the session can call the API; unsafe calls need the CSRF header
    assert client.get("/api/v1/projects").status_code == 200
    r = client.patch(f"/api/v1/projects/{code}", json={"builder": "新单位"})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "X-CSRF-Token"
    token = csrf_of(client.get("/").text)
    r = client.patch(f"/api/v1/projects/{code}", json={"builder": "新单位"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["builder"] == "新单位"
    chain = client.get(f"/api/v1/projects/{code}/chain").json()
    assert chain["events"][-1]["actor"] == "user:zhangsan"
    client.post("/logout", data={"csrf": token})
    assert client.get("/api/v1/projects").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_dashboard_never_waits_for_the_warnings(client, registrar_headers, staff) -> None:
    """The first dashboard after a start shows 计算中 and the counts arrive from /web/warning-counts."""
    code = register(client, registrar_headers, name="预警计数项目")["code"]
    assert client.patch(f"/api/v1/projects/{code}", json={"land_use": "0601"},
                        headers=registrar_headers).json()["code_outdated"] is True
    assert client.get("/web/warning-counts").status_code == 401
    login(client, *staff)
    first = client.get("/")
    assert first.status_code == 200 and "驾驶舱" in first.text
    assert "计算中" in first.text or 'data-warning-kind="code_outdated">' in first.text  # none yet, or stale
    for _ in range(200):  # the background computation takes well under a second here; wait for it, at most 20 s
        r = client.get("/web/warning-counts")
        assert r.status_code in (200, 202) and r.json()["ready"] is (r.status_code == 200)
        if r.json()["fresh"]:
            break
        time.sleep(0.1)
    assert r.json()["fresh"] and r.json()["counts"]["code_outdated"] == 1
    assert r.json()["counts"]["idle_land"] == 0
    again = client.get("/")
    assert "计算中" not in again.text and 'data-warning-kind="code_outdated">1<' in again.text


def test_review_queue_page_decides_a_duplicate(client, registrar_headers, staff) -> None:
    """An uncertain match from an import is decided on the 重复复核 page, with CSRF, and leaves the queue."""
    first = "项目名称,行政区划,年度\n武陵区丹阳路以北地块住宅项目,武陵区,2026\n".encode()
    near = "项目名称,行政区划,年度\n武陵区丹阳路以北地块二期住宅项目,武陵区,2026\n".encode()
    for name, body in (("a.csv", first), ("b.csv", near)):
        r = client.post("/api/v1/imports/reserve_plan", files={"file": (name, body, "text/csv")},
                        headers=registrar_headers)
        assert r.status_code == 200, r.text
    assert r.json()["counts"]["review"] == 1
    login(client, *staff)
    page = client.get("/reviews")
    assert page.status_code == 200 and "武陵区丹阳路以北地块二期住宅项目" in page.text and "并入候选项目" in page.text
    review_id = int(re.search(r'data-review="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    stale = client.post(f"/reviews/{review_id}", data={"decision": "merge", "csrf": "stale"}, follow_redirects=False)
    assert stale.status_code == 403
    done = client.post(f"/reviews/{review_id}", data={"decision": "merge", "reason": "同一地块",
                                                      "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith(f"/reviews?done={review_id}:merged:")
    assert "没有待复核的项目" in client.get("/reviews").text
    merged = client.get("/reviews", params={"state": "merged"}).text
    assert "已并入" in merged and "user:zhangsan" in merged
    again = client.post(f"/reviews/{review_id}", data={"decision": "keep_separate", "csrf": csrf_of(page.text)})
    assert again.status_code == 409 and "已处理" in again.text
    huge = client.post(f"/reviews/{10**30}", data={"decision": "merge", "csrf": csrf_of(page.text)})
    assert huge.status_code == 422  # an id no database column holds: refused, not a 500


def test_photo_of_a_qr_code_opens_the_project(client, registrar_headers, staff) -> None:
    """拍照扫码: a phone photo of the printed QR (here: the PNG on a larger, rotated canvas) opens the project."""
    import io

    import segno
    from PIL import Image

    code = register(client, registrar_headers, name="扫码项目")["code"]
    qr = Image.open(io.BytesIO(client.get(f"/p/{code}/qr.png").content)).convert("RGB")
    photo = Image.new("RGB", (qr.width * 3, qr.height * 3), "white")
    photo.paste(qr, (qr.width, qr.height // 2))
    shot = io.BytesIO()
    photo.rotate(8, expand=True, fillcolor="white").save(shot, "JPEG", quality=85)
    login(client, *staff)
    token = csrf_of(client.get("/code").text)

    def scan(data: bytes, csrf: str = token):  # type: ignore[no-untyped-def]
        return client.post("/code/scan", data={"csrf": csrf}, files={"photo": ("相机.jpg", data, "image/jpeg")},
                           follow_redirects=False)

    r = scan(shot.getvalue())
    assert r.status_code == 303 and r.headers["location"] == f"/code/{code}"
    other = io.BytesIO()
    segno.make("https://example.org/not-a-project", error="m").save(other, kind="png", scale=8)
    assert "不是项目码" in scan(other.getvalue()).text
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, "PNG")
    assert "未识别到二维码" in scan(blank.getvalue()).text
    assert "无法识别的图片" in scan(b"not an image").text
    assert "页面已过期" in scan(shot.getvalue(), csrf="stale").text
