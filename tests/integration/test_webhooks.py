"""Signed webhooks through the outbox, against real receivers on loopback."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import time

import httpx

from conftest import FAST_WEBHOOKS, YMT, project_body
from integration.receiver import Receiver

SECRET = "s3cret-for-tests-0123456789"


def subscribe(server, url: str, as_role: str = "admin", **extra) -> dict:  # type: ignore[no-untyped-def]
    """A subscription made with a token of `as_role` (it sees what that token may see)."""
    headers = {"Authorization": f"Bearer {server.token(as_role)}"}
    r = httpx.post(server.url + "/api/v1/subscriptions", json={"url": url, "secret": SECRET, **extra},
                   headers=headers)
    assert r.status_code == 201, r.text
    assert SECRET not in r.text  # the secret is never given back, not even on creation
    return r.json() | {"admin": headers}


def registrar(server) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token('registrar')}"},
                        timeout=30)


def test_signed_in_order_with_retries(webhook_server) -> None:
    rx = Receiver(fail_first=3)
    sub = subscribe(webhook_server, rx.url, types=["project.registered", "stage.changed"])
    with registrar(webhook_server) as c:
        code = c.post("/api/v1/projects", json=project_body()).json()["code"]
        for key in ("pre_review", "land_approval", "supply"):
            assert c.put(f"/api/v1/projects/{code}/stages/{key}", json={"status": "done"}).status_code == 200
        c.post(f"/api/v1/projects/{code}/results", data={"meta": '{"stage": "supply", "kind": "合同"}'})
    seqs = rx.wait_for(4)
    assert seqs == sorted(seqs) and len(seqs) == 4  # order kept through 3 failed attempts
    assert [r["event"]["type"] for r in rx.received] == ["project.registered"] + ["stage.changed"] * 3
    for r in rx.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), r["body"], hashlib.sha256).hexdigest()
        assert r["headers"]["X-Ymt-Signature"] == expected
        assert r["headers"]["X-Ymt-Event-Id"] == str(r["event"]["seq"])
    time.sleep(0.3)
    log = httpx.get(f"{webhook_server.url}/api/v1/subscriptions/{sub['id']}/deliveries", headers=sub["admin"]).json()
    first = log["items"][0]
    assert first["state"] == "done" and first["attempts"] == 4
    assert [h["status_code"] for h in first["history"]] == [503, 503, 503, 200]
    rx.close()


def test_receiver_down_gets_everything_in_order_when_back_and_parking(db_url, tmp_path) -> None:
    from conftest import start_server

    data = tmp_path / "d"
    data.mkdir()
    server = start_server(db_url, data, FAST_WEBHOOKS | {"YMT_WEBHOOK_HORIZON_SECONDS": "1.5"})
    try:
        rx = Receiver()
        rx.down = True
        sub = subscribe(server, rx.url)
        with registrar(server) as c:
            codes = [c.post("/api/v1/projects", json=project_body(name=f"停机{i}")).json()["code"] for i in range(3)]
            for code in codes:
                c.put(f"/api/v1/projects/{code}/stages/pre_review", json={"status": "in_progress"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = httpx.get(f"{server.url}/api/v1/subscriptions/{sub['id']}", headers=sub["admin"]).json()
            if state["parked"]:
                break
            time.sleep(0.1)
        assert state["parked"] is True
        parked = httpx.get(f"{server.url}/api/v1/subscriptions/{sub['id']}/deliveries", params={"state": "parked"},
                           headers=sub["admin"]).json()["items"]
        assert parked and parked[0]["last_error"] == "HTTP 503"
        rx.down = False
        r = httpx.post(f"{server.url}/api/v1/subscriptions/{sub['id']}/redeliver", headers=sub["admin"])
        assert r.status_code == 200 and r.json()["requeued"] >= 1
        seqs = rx.wait_for(6)
        assert sorted(seqs) == sorted(set(seqs)) and len(seqs) == 6  # order is per project, checked below
        for code in codes:
            mine = [r["event"]["type"] for r in rx.received if r["event"]["code"] == code]
            assert mine == ["project.registered", "stage.changed"]
        rx.close()
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=15)


def test_restricted_events_only_for_roles_with_the_right(webhook_server) -> None:
    """A subscription sees what the token that created it may see: a viewer's gets no restricted event, the
    approval system's gets its own restricted result, an admin's narrowed to a role gets what that role sees."""
    viewer_rx, approval_rx, narrowed_rx = Receiver(), Receiver(), Receiver()
    viewer = subscribe(webhook_server, viewer_rx.url, as_role="viewer", types=["result.added"])
    assert viewer["role"] == "viewer"
    subscribe(webhook_server, approval_rx.url, as_role="approval_system", types=["result.added"])
    subscribe(webhook_server, narrowed_rx.url, types=["result.added"], role="registration_platform")
    appr = httpx.Client(base_url=webhook_server.url, timeout=30,
                        headers={"Authorization": f"Bearer {webhook_server.token('approval_system')}"})
    with registrar(webhook_server) as c:
        code = c.post("/api/v1/projects", json=project_body()).json()["code"]
    appr.post(f"/api/v1/projects/{code}/results",
              data={"meta": '{"stage": "land_approval", "kind": "征收方案", "confidentiality": "restricted"}'})
    appr.post(f"/api/v1/projects/{code}/results", data={"meta": '{"stage": "land_approval", "kind": "公开批复"}'})
    approval_rx.wait_for(2)
    viewer_rx.wait_for(1)
    narrowed_rx.wait_for(1)
    time.sleep(0.5)
    assert [r["event"]["data"]["kind"] for r in viewer_rx.received] == ["公开批复"]
    assert [r["event"]["data"]["kind"] for r in narrowed_rx.received] == ["公开批复"]
    assert [r["event"]["data"]["kind"] for r in approval_rx.received] == ["征收方案", "公开批复"]
    for rx in (viewer_rx, approval_rx, narrowed_rx):
        rx.close()


def test_a_token_may_not_subscribe_wider_than_itself(webhook_server) -> None:
    rx = Receiver()
    viewer = {"Authorization": f"Bearer {webhook_server.token('viewer')}"}
    r = httpx.post(webhook_server.url + "/api/v1/subscriptions", headers=viewer,
                   json={"url": rx.url, "secret": SECRET, "role": "admin"})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "role"
    mine = subscribe(webhook_server, rx.url, as_role="viewer")
    others = subscribe(webhook_server, rx.url, as_role="viewer")
    # a client system sees and manages only its own subscriptions; the admin sees every one
    listed = httpx.get(webhook_server.url + "/api/v1/subscriptions", headers=mine["admin"]).json()["items"]
    assert [s["id"] for s in listed] == [mine["id"]]
    assert httpx.get(f"{webhook_server.url}/api/v1/subscriptions/{others['id']}",
                     headers=mine["admin"]).status_code == 404
    assert httpx.delete(f"{webhook_server.url}/api/v1/subscriptions/{others['id']}",
                        headers=mine["admin"]).status_code == 404
    admin = {"Authorization": f"Bearer {webhook_server.token('admin')}"}
    everyone = httpx.get(webhook_server.url + "/api/v1/subscriptions", headers=admin).json()["items"]
    assert {mine["id"], others["id"]} <= {s["id"] for s in everyone}
    rx.close()


def test_several_workers_never_deliver_twice(db_url, tmp_path) -> None:
    """Three `ymt worker` processes and the in-process loop of `ymt serve` share one outbox: every event once,
    each project's events in order."""
    from conftest import start_server

    data = tmp_path / "w"
    data.mkdir()
    server = start_server(db_url, data, FAST_WEBHOOKS)
    env = {**server.env, **FAST_WEBHOOKS, "YMT_WEBHOOK_BATCH": "5"}
    workers = [subprocess.Popen([YMT, "worker", "--name", f"w{i}"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for i in range(3)]
    try:
        rx = Receiver()
        subscribe(server, rx.url)
        with registrar(server) as c:
            codes = [c.post("/api/v1/projects", json=project_body(name=f"多进程{i}")).json()["code"]
                     for i in range(30)]
            for code in codes:
                c.put(f"/api/v1/projects/{code}/stages/pre_review", json={"status": "in_progress"})
        rx.wait_for(60, timeout=90)
        time.sleep(1.0)
        seqs = rx.seqs()
        assert len(seqs) == len(set(seqs)) == 60
        for code in codes:
            mine = [r["event"]["type"] for r in rx.received if r["event"]["code"] == code]
            assert mine == ["project.registered", "stage.changed"]
        rx.close()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=15)
        server.proc.terminate()
        server.proc.wait(timeout=15)
