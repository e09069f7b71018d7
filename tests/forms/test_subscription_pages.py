"""订阅推送 pages: create through the subscription endpoint's own checks (a refused target — link-local here; the tests allow loopback — named
beside the URL field), test against a real receiver, pause and resume, the deliveries, delete with reason and
confirmation."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from forms.helpers import add_user, field_error, login, post
from yimatong.core.context import App
from yimatong.storage.models import Subscription


class Receiver(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.seen.append(dict(self.headers))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def subs(ymt: App) -> list[Subscription]:
    with ymt.db.read() as s:
        return list(s.execute(select(Subscription)).scalars())


def test_a_refused_target_is_named_beside_the_url(client, ymt) -> None:
    add_user(ymt, "boss", "admin")
    csrf = login(client, "boss")
    r = post(client, "/admin/subscriptions", csrf, {"url": "http://169.254.169.254/latest/meta-data", "secret": "s" * 20,
                                                    "role": "viewer"})
    assert r.status_code == 422 and (field_error(r.text, "url") or "").startswith("接收地址")
    short = post(client, "/admin/subscriptions", csrf, {"url": "https://example.org/h", "secret": "short"})
    assert short.status_code == 422 and field_error(short.text, "secret") == "签名密钥：至少 16 个字符"
    assert subs(ymt) == []


def test_create_test_pause_resume_and_delete(client, ymt, receiver) -> None:
    add_user(ymt, "boss", "admin")
    csrf = login(client, "boss")
    r = post(client, "/admin/subscriptions", csrf, {"url": receiver, "secret": "s" * 20, "role": "viewer",
                                                    "types": ["project.registered", "stage.changed"]})
    assert r.status_code == 303, r.text
    sid = subs(ymt)[0].id
    tested = post(client, f"/admin/subscriptions/{sid}/test", csrf, {})
    assert "测试推送成功：HTTP 204" in tested.text
    assert Receiver.seen[-1]["X-Ymt-Event-Type"] == "ping" and Receiver.seen[-1]["X-Ymt-Signature"].startswith("sha256=")
    assert post(client, f"/admin/subscriptions/{sid}/pause", csrf, {}).status_code == 303 and subs(ymt)[0].paused
    assert post(client, f"/admin/subscriptions/{sid}/resume", csrf, {}).status_code == 303 and not subs(ymt)[0].paused
    page = client.get(f"/admin/subscriptions/{sid}/deliveries")
    assert page.status_code == 200 and "投递记录" in page.text
    step = post(client, f"/admin/subscriptions/{sid}/delete", csrf, {"reason": "对方系统停用"})
    assert "确认删除" in step.text and subs(ymt)[0].active
    done = post(client, f"/admin/subscriptions/{sid}/delete", csrf, {"reason": "对方系统停用", "confirmed": "yes"})
    assert done.status_code == 303 and not subs(ymt)[0].active


def test_without_the_right_the_page_refuses(client, ymt) -> None:
    add_user(ymt, "lib", "registrar")
    csrf = login(client, "lib")
    assert client.get("/admin/subscriptions").status_code == 403
    r = post(client, "/admin/subscriptions", csrf, {"url": "https://example.org/h", "secret": "s" * 20})
    assert r.status_code == 403 and "无权管理订阅" in r.text
    assert client.post("/admin/subscriptions", data={"url": "https://example.org/h"}).status_code == 403
    assert subs(ymt) == []
