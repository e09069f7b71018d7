"""Server-side web sessions (issues 10.9, 15.1): a cookie saved before logout, disabling, a password change or
"log out everywhere" stops working at once for pages, the API bridge and CSRF-protected posts; idle timeout
and absolute lifetime; cookie flags; security headers; several server processes share sessions and CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.helpers import register
from conftest import project_body, start_server
from yimatong.accounts import users
from yimatong.api.app import create_app
from yimatong.config import Settings
from yimatong.core.context import App, aware, now
from yimatong.profiles.loader import load_profile
from yimatong.storage.models import WebSession

PASSWORD = "Correct-horse-1"


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf(?:-token)?" (?:content|value)="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def make_user(ymt: App, username: str = "lisi", role: str = "registrar", **kw: object) -> None:
    with ymt.db.write() as s:
        users.create(s, username, PASSWORD, role, "李四", must_change_password=False, **kw)  # type: ignore[arg-type]


def login(client: httpx.Client, username: str = "lisi", password: str = PASSWORD, **headers: str) -> httpx.Response:
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(page.text),
                                       "next": "/projects"}, headers=headers, follow_redirects=False)


def logged_in(client: httpx.Client, username: str = "lisi") -> tuple[str, str]:
    """Log in; returns the session cookie and the page's CSRF token, as a browser would keep them."""
    r = login(client, username)
    assert r.status_code == 303 and r.headers["location"] == "/projects", r.text
    return cookie_of(client), csrf_of(client.get("/").text)


def send(client: httpx.Client, method: str, url: str, cookie: str, **kw: object) -> httpx.Response:
    """A request carrying exactly this session cookie (as a browser that kept it would send it)."""
    client.cookies.clear()
    headers = {**kw.pop("headers", {}), "Cookie": f"ymt_session={cookie}"}  # type: ignore[dict-item]
    return client.request(method, url, headers=headers, follow_redirects=False, **kw)  # type: ignore[arg-type]


def cookie_of(client: httpx.Client) -> str:
    return [c.value for c in client.cookies.jar if c.name == "ymt_session"][-1]


def works(client: httpx.Client, cookie: str, csrf: str, code: str) -> dict[str, int]:
    """What the saved cookie still opens: a page, an API read through the bridge, an API write with CSRF."""
    page = send(client, "GET", "/projects", cookie).status_code
    read = send(client, "GET", "/api/v1/projects", cookie).status_code
    write = send(client, "PATCH", f"/api/v1/projects/{code}", cookie, json={"builder": "改过"},
                 headers={"X-CSRF-Token": csrf}).status_code
    return {"page": page, "read": read, "write": write}


ALIVE = {"page": 200, "read": 200, "write": 200}
DEAD = {"page": 303, "read": 401, "write": 401}


@pytest.fixture
def code(client, registrar_headers) -> str:  # type: ignore[no-untyped-def]
    return register(client, registrar_headers, name="会话测试项目")["code"]


def test_a_cookie_saved_before_logout_stops_working(client, ymt, code) -> None:
    make_user(ymt)
    cookie, csrf = logged_in(client)
    assert works(client, cookie, csrf, code) == ALIVE
    r = send(client, "POST", "/logout", cookie, data={"csrf": csrf})
    assert works(client, cookie, csrf, code) == DEAD
    assert r.status_code == 303 and 'ymt_session=""' in r.headers["set-cookie"]  # and the browser drops it
    # a CSRF-protected form post with the saved cookie and token does nothing either
    review = send(client, "POST", "/reviews/1", cookie, data={"decision": "merge", "csrf": csrf})
    assert review.status_code == 303 and review.headers["location"].startswith("/login")


@pytest.mark.parametrize("end", ["disable", "reset_password", "logout_everywhere", "own_password_change"])
def test_disabling_a_password_change_and_logout_everywhere_end_every_session(client, ymt, code, end) -> None:
    make_user(ymt)
    first = logged_in(client)       # one browser …
    client.cookies.clear()
    second = logged_in(client)      # … and another
    assert works(client, *first, code) == ALIVE and works(client, *second, code) == ALIVE
    if end == "disable":
        with ymt.db.write() as s:
            users.disable(s, "user:admin", "lisi")
    elif end == "reset_password":
        users.reset_password(ymt, "user:admin", "lisi", "Reset-by-admin-1")
    elif end == "logout_everywhere":
        with ymt.db.write() as s:
            assert users.logout_everywhere(s, "user:admin", "lisi") == 2
    else:  # the person changes the password in the second browser: that browser goes on, the first is out
        r = send(client, "POST", "/account/password", second[0], data={
            "old_password": PASSWORD, "password": "New-passw0rd-9", "password2": "New-passw0rd-9", "csrf": second[1]})
        assert r.status_code == 303, r.text
        fresh = cookie_of(client)
        fresh_csrf = csrf_of(send(client, "GET", "/", fresh).text)
        assert fresh != second[0] and works(client, fresh, fresh_csrf, code) == ALIVE
    assert works(client, *first, code) == DEAD
    assert works(client, *second, code) == DEAD
    if end == "disable":
        assert "已停用" in login(client).text
    with ymt.db.read() as s:
        reasons = {r for (r,) in s.query(WebSession.revoked_reason).all()}
    assert reasons & {"disabled", "password_reset", "logout_all", "password_changed"}


def test_idle_timeout_and_absolute_lifetime(client, ymt, code) -> None:
    make_user(ymt)
    cookie, csrf = logged_in(client)
    with ymt.db.write() as s:  # 29 minutes without a request: still alive (YMT_SESSION_IDLE_MINUTES=30)
        s.execute(update(WebSession).values(last_seen_at=now() - timedelta(minutes=29)))
    assert works(client, cookie, csrf, code) == ALIVE  # … and that request moved last_seen on
    with ymt.db.write() as s:
        assert aware(s.query(WebSession).one().last_seen_at) > now() - timedelta(minutes=1)
        s.execute(update(WebSession).values(last_seen_at=now() - timedelta(minutes=31)))
    assert works(client, cookie, csrf, code) == DEAD
    cookie, csrf = logged_in(client)
    with ymt.db.write() as s:  # busy all day long, but logged in 8 hours ago (YMT_SESSION_MAX_HOURS=8)
        s.execute(update(WebSession).where(WebSession.revoked_at.is_(None))
                  .values(created_at=now() - timedelta(hours=8, minutes=1), last_seen_at=now()))
    assert works(client, cookie, csrf, code) == DEAD


def test_touching_last_seen_is_at_most_once_a_minute(client, ymt) -> None:
    make_user(ymt)
    logged_in(client)
    with ymt.db.read() as s:
        seen = s.query(WebSession).one().last_seen_at
    for _ in range(3):
        assert client.get("/projects").status_code == 200
    with ymt.db.read() as s:
        assert s.query(WebSession).one().last_seen_at == seen


@pytest.fixture
def proxied(ymt: App) -> Iterator[TestClient]:
    """A client whose peer counts as a trusted proxy (X-Forwarded-For/-Proto are believed)."""
    settings = Settings(**{**ymt.settings.model_dump(), "trusted_proxies": "testclient"})
    app = App(settings, ymt.profile)
    with TestClient(create_app(settings, app)) as c:
        yield c


def test_cookie_flags_and_secure_behind_tls(client, ymt, proxied) -> None:
    make_user(ymt)
    plain = login(client).headers["set-cookie"]
    assert "ymt_session=" in plain and "HttpOnly" in plain and "SameSite=strict" in plain
    assert "Secure" not in plain and "Max-Age=28800" in plain
    tls = login(proxied, **{"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert "Secure" in tls and "HttpOnly" in tls and "SameSite=strict" in tls
    # the same header from a peer that is not a trusted proxy changes nothing
    assert "Secure" not in login(client, **{"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    # and the page answered over TLS says so for a year
    assert proxied.get("/login", headers={"X-Forwarded-Proto": "https"}).headers["strict-transport-security"]


def test_cookie_secure_always(ymt) -> None:
    make_user(ymt)
    settings = Settings(**{**ymt.settings.model_dump(), "cookie_secure": "always"})
    with TestClient(create_app(settings, App(settings, ymt.profile))) as c:
        assert "Secure" in login(c).headers["set-cookie"]
        assert "Secure" in c.get("/login").headers["set-cookie"]  # the pre-login CSRF cookie too


def test_security_headers_on_pages_api_and_files(client, ymt, registrar_headers, code) -> None:
    for path in ("/login", f"/p/{code}", "/api/v1/projects", "/api/v1/nowhere", "/static/app.js", "/healthz"):
        h = client.get(path).headers
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", path
        assert h["referrer-policy"] == "strict-origin-when-cross-origin", path
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
    page = client.get("/login").headers
    assert "script-src 'self';" in page["content-security-policy"] and "unsafe-inline" not in page["content-security-policy"]
    assert page["cache-control"] == "no-store"
    assert client.get("/api/v1/projects", headers=registrar_headers).headers["content-security-policy"].startswith(
        "default-src 'none'")


def test_no_inline_script_or_style_in_any_page(client, ymt, registrar_headers, code) -> None:
    """The CSP forbids them, so none may be left: every page, logged in, scanned for inline code."""
    make_user(ymt, role="admin")
    logged_in(client)
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style",
                        re.IGNORECASE)
    for path in ("/", "/projects", f"/code/{code}", "/code", "/map", "/imports", "/reviews", "/warnings",
                 "/account", "/account/password", "/account/totp", f"/p/{code}"):
        html = client.get(path).text
        assert not inline.search(html), (path, inline.search(html))


def test_login_page_csrf_is_bound_to_the_browser(client, ymt) -> None:
    """A login form posted without the browser's own pre-login cookie (another site's form) is refused."""
    make_user(ymt)
    token = csrf_of(client.get("/login").text)
    client.cookies.clear()
    r = client.post("/login", data={"username": "lisi", "password": PASSWORD, "csrf": token}, follow_redirects=False)
    assert r.status_code == 403 and "页面已过期" in r.text


def test_two_server_processes_share_sessions_and_csrf(live_server, db_url: str, tmp_path: Path) -> None:
    """Log in on one process, act on another, log out there: the first one knows at once."""
    data_dir = Path(live_server.env["YMT_DATA_DIR"])
    other = start_server(db_url, data_dir)
    try:
        app = App(Settings(database_url=db_url, data_dir=tmp_path / "direct"), load_profile("changde"))
        make_user(app, "wangwu")
        app.close()
        h = {"Authorization": f"Bearer {live_server.token('registrar')}"}
        code = httpx.post(live_server.url + "/api/v1/projects", json=project_body(name="两进程项目"), headers=h,
                          timeout=30).json()["code"]
        with httpx.Client(base_url=live_server.url, timeout=30) as a:
            cookie, csrf = logged_in(a, "wangwu")
        with httpx.Client(base_url=other.url, timeout=30) as b:
            assert works(b, cookie, csrf, code) == ALIVE  # the CSRF token of process A is good on B
            assert send(b, "POST", "/logout", cookie, data={"csrf": csrf}).status_code == 303
        with httpx.Client(base_url=live_server.url, timeout=30) as a:
            assert works(a, cookie, csrf, code) == DEAD
    finally:
        other.proc.terminate()
        other.proc.wait(timeout=15)


def test_a_users_divisions_limit_the_session(client, ymt, registrar_headers) -> None:
    """`ymt user create --division`: the person's session actor carries it, so the pages' API calls see only it."""
    register(client, registrar_headers, name="武陵区的项目", division="430702")
    register(client, registrar_headers, name="鼎城区的项目", division="430703")
    make_user(ymt, "county", divisions=["430703"])
    logged_in(client, "county")
    assert [p["division"] for p in client.get("/api/v1/projects").json()["items"]] == ["430703"]
    assert "鼎城区" in client.get("/account").text
