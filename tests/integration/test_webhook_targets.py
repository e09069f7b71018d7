"""Webhook targets that cannot be turned against us (contract "Webhook targets", issue 10 item 10, issue 15
item 7): refused by default when they reach loopback, link-local, unspecified or this machine's own addresses,
checked again before every delivery and connected to the checked address, no redirects, and errors recorded
as a category only so the deliveries list tells nothing about what listens where."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FAST_WEBHOOKS, YMT, free_port, make_token, project_body, start_server
from integration.receiver import Receiver
from integration.test_webhooks import SECRET, registrar, subscribe
from yimatong.api.app import create_app
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.delivery import targets
from yimatong.profiles.loader import load_profile

CATEGORIES = {"connect_error", "timeout", "tls_error", "dns_error", "blocked_target", "protocol_error",
              "network_error", "redirect"}


def primary_address() -> str | None:
    """This machine's address towards the outside (no packet is sent), if it has one besides loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("198.51.100.1", 9))
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ipaddress.ip_address(ip).is_loopback else ip


def is_local(ip: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((ip, 0))
        return True
    except OSError:
        return False


@pytest.fixture
def strict(settings: Settings):  # type: ignore[no-untyped-def]
    """The service as deployed: no allow-list, and a public address of its own."""
    app = App(settings.model_copy(update={"webhook_allow": "", "public_base_url": "http://198.51.100.7:8443/"}),
              load_profile("changde"))
    with TestClient(create_app(app.settings, app)) as client:
        yield client, {"Authorization": f"Bearer {make_token(app, 'admin')}"}
    app.close()


REFUSED = ["ftp://example.org/hook", "http://user:pw@198.51.100.20/hook", "http://:8080/", "javascript:alert(1)",
           "http://127.0.0.1:8000/api/v1/projects", "http://localhost/", "http://[::1]:9/", "http://127.1/",
           "http://2130706433/", "http://0x7f000001/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0:22/",
           "http://[::]/", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://224.0.0.1/",
           "http://198.51.100.7:8443/api/v1/events", "http://no-such-host.invalid/hook"]


@pytest.mark.parametrize("url", REFUSED)
def test_refused_targets_are_422_naming_url(strict, url: str) -> None:  # type: ignore[no-untyped-def]
    client, admin = strict
    r = client.post("/api/v1/subscriptions", json={"url": url, "secret": SECRET}, headers=admin)
    assert r.status_code == 422, (url, r.text)
    assert r.json()["errors"][0]["field"] == "url"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["errors"][0]["message"])  # said in Chinese


def test_this_machines_own_address_is_refused(strict) -> None:  # type: ignore[no-untyped-def]
    client, admin = strict
    own = primary_address()
    if own is None:  # a machine with loopback only: nothing beyond the loopback cases above to check
        return
    r = client.post("/api/v1/subscriptions", json={"url": f"http://{own}:{free_port()}/", "secret": SECRET},
                    headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"


def test_ordinary_and_allowed_targets_are_accepted(strict, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client, admin = strict
    for url in ("http://198.51.100.20/hook", "https://203.0.113.5:8443/ymt", "http://198.51.100.7:9000/other-port",
                "http://10.20.30.40/intranet"):
        r = client.post("/api/v1/subscriptions", json={"url": url, "secret": SECRET}, headers=admin)
        assert r.status_code == 201, (url, r.text)
    allowing = App(settings.model_copy(update={"webhook_allow": "127.0.0.0/8, localhost"}), load_profile("changde"))
    with TestClient(create_app(allowing.settings, allowing)) as c:
        h = {"Authorization": f"Bearer {make_token(allowing, 'admin')}"}
        for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook"):
            assert c.post("/api/v1/subscriptions", json={"url": url, "secret": SECRET}, headers=h).status_code == 201
        assert c.post("/api/v1/subscriptions", json={"url": "http://[::1]:9/", "secret": SECRET},
                      headers=h).status_code == 422  # not in the allowed networks
    allowing.close()


BLOCKED = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/32", "::1/128",
                                              "fe80::/10", "224.0.0.0/4")]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BLOCKED).flatmap(lambda net: st.integers(0, net.num_addresses - 1).map(
    lambda i: net[i])), st.sampled_from(["plain", "v4-mapped"]), st.integers(1, 65535))
def test_any_address_in_a_refused_range_is_refused_unless_allowed(ip, spelling: str, port: int) -> None:  # type: ignore[no-untyped-def]
    if spelling == "v4-mapped" and ip.version == 4:
        ip = ipaddress.IPv6Address(f"::ffff:{ip}")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    url = f"http://{host}:{port}/hook"
    with pytest.raises(targets.TargetRefused) as refused:
        targets.check(url, targets.parse_allow(""))
    assert refused.value.category == "blocked_target"
    plain = ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip
    allowed = targets.check(url, targets.parse_allow(f"{plain}/{plain.max_prefixlen}"))
    assert ipaddress.ip_address(allowed.address) == plain  # the connection goes to the checked address


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 255), st.sampled_from(["198.51.100", "203.0.113", "10.1.2", "172.16.5"]))
def test_addresses_elsewhere_pass(last: int, prefix: str) -> None:
    ip = f"{prefix}.{last}"
    if is_local(ip):
        return
    assert targets.check(f"https://{ip}/hook", targets.parse_allow("")).address == ip


def worker_env(server, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**server.env, **FAST_WEBHOOKS, **extra}


def wait_delivery(server, sub: dict, pred, timeout: float = 30) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = httpx.get(f"{server.url}/api/v1/subscriptions/{sub['id']}/deliveries",
                          headers=sub["admin"]).json()["items"]
        if items and pred(items[0]):
            return items[0]
        time.sleep(0.1)
    raise AssertionError(f"no delivery matched: {items}")


def test_targets_are_checked_again_at_delivery_time(db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A target accepted when the subscription was made (allowed then, or its name pointed elsewhere) is
    checked again before each delivery: a worker whose rules refuse it sends nothing."""
    data = tmp_path / "d"
    data.mkdir()
    server = start_server(db_url, data, FAST_WEBHOOKS | {"YMT_DELIVER_WEBHOOKS": "false"})
    rx = Receiver()
    env = {k: v for k, v in worker_env(server).items() if k != "YMT_WEBHOOK_ALLOW"}
    worker = subprocess.Popen([YMT, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sub = subscribe(server, rx.url, types=["project.registered"])
        with registrar(server) as c:
            c.post("/api/v1/projects", json=project_body(name="目标复查"))
        d = wait_delivery(server, sub, lambda d: d["attempts"] >= 1)
        assert d["state"] == "pending" and d["last_error"] == "blocked_target" and d["last_status"] is None
        assert rx.arrived == []
    finally:
        worker.terminate()
        worker.wait(15)
        server.proc.terminate()
        server.proc.wait(15)
        rx.close()


class Babbler:
    """A TCP service that is not HTTP (what a port scan would find): says a banner and hangs up."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 internal-db-host-7\r\n")
            conn.close()


def test_no_redirects_and_errors_only_as_categories(webhook_server) -> None:
    srv = webhook_server
    final, bouncer, babbler = Receiver(), None, Babbler()
    bouncer = Receiver(redirect_to=final.url)
    closed = f"http://127.0.0.1:{free_port()}/closed"
    subs = {name: subscribe(srv, url, types=["project.registered"])
            for name, url in (("redirect", bouncer.url), ("closed", closed),
                              ("babbler", f"http://127.0.0.1:{babbler.port}/"))}
    with registrar(srv) as c:
        c.post("/api/v1/projects", json=project_body(name="端口扫描"))
    seen = {name: wait_delivery(srv, sub, lambda d: d["attempts"] >= 1) for name, sub in subs.items()}
    assert seen["redirect"]["last_error"] == "HTTP 307" and seen["redirect"]["last_status"] == 307
    time.sleep(0.5)
    assert final.arrived == []  # the redirect was not followed
    assert seen["closed"]["last_error"] == "connect_error"
    assert seen["babbler"]["last_error"] in ("protocol_error", "network_error")
    for d in seen.values():
        for attempt in d["history"]:
            assert attempt["error"] in CATEGORIES or attempt["error"].startswith("HTTP ")
            assert "SSH" not in str(attempt) and "127.0.0.1" not in str(attempt)
    for rx in (final, bouncer):
        rx.close()
    babbler.sock.close()
