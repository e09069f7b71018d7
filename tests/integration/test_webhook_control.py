"""Subscriptions under control: pause and resume, delete, purge (API and CLI, in short transactions), district
scope, secret rotation with an overlap window, and the queue's figures on /metrics."""

from __future__ import annotations

import re
import time

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from conftest import free_port, make_token, project_body
from integration.backlog import add_subscription, backlog
from integration.receiver import Receiver
from integration.test_webhooks import SECRET, registrar, subscribe
from yimatong.api.app import create_app
from yimatong.api.deps import get_actor
from yimatong.client import verify_signature
from yimatong.core.context import Actor, App
from yimatong.delivery import queue
from yimatong.storage.models import Delivery, DeliveryHead, Event


def sub_url(server, sub: dict, tail: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"{server.url}/api/v1/subscriptions/{sub['id']}{tail}"


def settle(rx: Receiver, quiet: float = 1.0, timeout: float = 30) -> None:
    """Wait until the receiver has had no request for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = rx.attempts, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.05)
        if rx.attempts != seen:
            seen, since = rx.attempts, time.monotonic()


def test_pause_holds_deliveries_and_resume_sends_them_in_order(webhook_server) -> None:
    rx = Receiver()
    sub = subscribe(webhook_server, rx.url, types=["project.registered", "stage.changed"])
    r = httpx.post(sub_url(webhook_server, sub, "/pause"), headers=sub["admin"])
    assert r.status_code == 200 and r.json()["state"] == "paused"
    with registrar(webhook_server) as c:
        code = c.post("/api/v1/projects", json=project_body(name="暂停期间的项目")).json()["code"]
        for key in ("pre_review", "land_approval"):
            c.put(f"/api/v1/projects/{code}/stages/{key}", json={"status": "done"})
    time.sleep(1.0)  # the in-process loop polls every 0.05 s: it would have sent them by now
    assert rx.seqs() == []
    state = httpx.get(sub_url(webhook_server, sub), headers=sub["admin"]).json()
    assert state["pending"] == 3
    r = httpx.post(sub_url(webhook_server, sub, "/resume"), headers=sub["admin"])
    assert r.status_code == 200 and r.json()["state"] == "active"
    seqs = rx.wait_for(3)
    assert seqs == sorted(seqs)
    assert [e["event"]["type"] for e in rx.received] == ["project.registered", "stage.changed", "stage.changed"]
    rx.close()


def test_deleted_subscription_gets_nothing_more_and_can_be_purged(webhook_server) -> None:
    rx = Receiver()
    rx.down = True
    sub = subscribe(webhook_server, rx.url, types=["project.registered"])
    with registrar(webhook_server) as c:
        for i in range(3):
            c.post("/api/v1/projects", json=project_body(name=f"删除前{i}"))
    assert httpx.delete(sub_url(webhook_server, sub), headers=sub["admin"]).status_code == 204
    settle(rx)  # an attempt already under way when it was deleted still ends (against the down receiver)
    rx.down = False
    with registrar(webhook_server) as c:
        c.post("/api/v1/projects", json=project_body(name="删除后"))
    time.sleep(1.0)
    assert rx.seqs() == []  # neither the pending three nor the new one
    state = httpx.get(sub_url(webhook_server, sub), headers=sub["admin"]).json()
    assert state["state"] == "deleted" and state["pending"] == 3
    assert httpx.post(sub_url(webhook_server, sub, "/resume"), headers=sub["admin"]).status_code == 409
    r = httpx.post(sub_url(webhook_server, sub, "/purge"), headers=sub["admin"])
    assert r.status_code == 200 and r.json() == {"purged": 3}
    assert httpx.get(sub_url(webhook_server, sub), headers=sub["admin"]).json()["pending"] == 0
    rx.close()


def test_purge_commits_in_batches_and_heads_move_on(ymt: App) -> None:
    """2 500 pending deliveries purged 1 000 at a time: other writers get the database between the batches;
    what is queued afterwards is delivered normally."""
    sid = add_subscription(ymt, "http://127.0.0.1:9/x")
    backlog(ymt, 2500, keys=300)
    commits = []

    def committed(_conn) -> None:  # type: ignore[no-untyped-def]
        commits.append(1)

    event.listen(ymt.db.engine, "commit", committed)
    try:
        assert queue.purge(ymt, sid, batch=1000) == 2500
    finally:
        event.remove(ymt.db.engine, "commit", committed)
    assert len(commits) >= 4  # three batches of deliveries (and the heads) in their own transactions
    with ymt.db.read() as session:
        assert session.execute(select(Delivery).where(Delivery.state == "pending")).first() is None
        assert session.execute(select(DeliveryHead)).first() is None
    seqs = backlog(ymt, 5, keys=5)
    jobs = queue.claim(ymt, "after-purge")
    assert sorted(j.seq for j in jobs) == seqs


def test_cli_lists_and_purges(webhook_server) -> None:
    srv = webhook_server
    sub = subscribe(srv, f"http://127.0.0.1:{free_port()}/hook")
    assert srv.ymt("webhook", "pause", str(sub["id"])).returncode == 0
    with registrar(srv) as c:
        for i in range(4):
            c.post("/api/v1/projects", json=project_body(name=f"命令行清除{i}"))
    out = srv.ymt("webhook", "list").stdout
    line = next(ln for ln in out.splitlines() if ln.startswith(f"{sub['id']}\t"))
    assert "已暂停" in line and "\t4\t" in line and "127.0.0.1" in line
    assert "已清除 4 条" in srv.ymt("webhook", "purge", str(sub["id"])).stdout
    assert httpx.get(sub_url(srv, sub), headers=sub["admin"]).json()["pending"] == 0
    missing = srv.ymt("webhook", "purge", "999999", check=False)
    assert missing.returncode == 1 and "不存在" in missing.stderr and "Traceback" not in missing.stderr
    assert srv.ymt("webhook", "resume", str(sub["id"])).returncode == 0


def test_district_scope(ymt: App, client) -> None:  # type: ignore[no-untyped-def]
    """A subscription limited to 武陵区 — by an admin narrowing it, or because the token that made it is limited
    to that district — queues only events of 武陵区 projects (and no import summary, which has no project)."""
    admin = {"Authorization": f"Bearer {make_token(ymt, 'admin')}"}
    narrowed = client.post("/api/v1/subscriptions", headers=admin,
                           json={"url": "http://127.0.0.1:9/a", "secret": SECRET, "divisions": ["430702"]}).json()
    assert narrowed["divisions"] == ["430702"]
    bad = client.post("/api/v1/subscriptions", headers=admin,
                      json={"url": "http://127.0.0.1:9/a", "secret": SECRET, "divisions": ["999999"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "divisions.0"
    # Tokens limited to divisions come with the accounts work; here the actor such a token authenticates as.
    county = Actor("鼎城区自然资源局", "viewer", divisions=frozenset({"430703"}))
    client.app.dependency_overrides[get_actor] = lambda: county
    try:
        scoped = client.post("/api/v1/subscriptions", json={"url": "http://127.0.0.1:9/b", "secret": SECRET})
        assert scoped.status_code == 201 and scoped.json()["divisions"] == ["430703"]
        wider = client.post("/api/v1/subscriptions", json={"url": "http://127.0.0.1:9/b", "secret": SECRET,
                                                           "divisions": ["430702"]})
        assert wider.status_code == 403 and wider.json()["errors"][0]["field"] == "divisions.0"
    finally:
        client.app.dependency_overrides.clear()
    registrar_h = {"Authorization": f"Bearer {make_token(ymt, 'registrar')}"}
    wuling = client.post("/api/v1/projects", json=project_body(name="武陵区项目"), headers=registrar_h).json()
    dingcheng = client.post("/api/v1/projects", json=project_body(name="鼎城区项目", division="430703"),
                            headers=registrar_h).json()
    with ymt.db.read() as session:
        queued = {(d.subscription_id, d.code) for d in session.execute(select(Delivery)).scalars()}
        divisions = dict(session.execute(select(Event.code, Event.division)).tuples().all())
    assert queued == {(narrowed["id"], wuling["code"]), (scoped.json()["id"], dingcheng["code"])}
    assert divisions == {wuling["code"]: "430702", dingcheng["code"]: "430703"}  # stored at append time


def test_revoked_creator_stops_its_subscriptions(ymt: App, client) -> None:  # type: ignore[no-untyped-def]
    from yimatong.accounts import tokens

    viewer = {"Authorization": f"Bearer {make_token(ymt, 'viewer', '临时接入')}"}
    sid = client.post("/api/v1/subscriptions", headers=viewer,
                      json={"url": "http://127.0.0.1:9/v", "secret": SECRET}).json()["id"]
    registrar_h = {"Authorization": f"Bearer {make_token(ymt, 'registrar')}"}
    client.post("/api/v1/projects", json=project_body(name="吊销前"), headers=registrar_h)
    with ymt.db.write() as session:
        tokens.revoke(session, "临时接入")
    client.post("/api/v1/projects", json=project_body(name="吊销后"), headers=registrar_h)
    with ymt.db.read() as session:
        assert len(session.execute(select(Delivery).where(Delivery.subscription_id == sid)).all()) == 1


def test_secret_rotation_signs_with_both_during_the_overlap(webhook_server) -> None:
    rx = Receiver()
    sub = subscribe(webhook_server, rx.url, types=["project.registered"])
    new_secret = "the-new-secret-0123456789"
    r = httpx.post(sub_url(webhook_server, sub, "/rotate-secret"), headers=sub["admin"],
                   json={"secret": new_secret, "overlap_seconds": 3600})
    assert r.status_code == 200 and new_secret not in r.text and SECRET not in r.text
    assert r.json()["previous_secret_valid_until"] is not None
    with registrar(webhook_server) as c:
        c.post("/api/v1/projects", json=project_body(name="轮换期间"))
    rx.wait_for(1)
    got = rx.received[0]
    assert verify_signature(new_secret, got["body"], got["headers"]["X-Ymt-Signature"])
    assert verify_signature(SECRET, got["body"], got["headers"]["X-Ymt-Signature-Previous"])
    # a receiver still on the old secret, or already on the new one, accepts it from the headers alone
    assert verify_signature(SECRET, got["body"], got["headers"])
    assert verify_signature(new_secret, got["body"], got["headers"])
    assert not verify_signature("some-other-secret-000", got["body"], got["headers"])
    # without the overlap, only the new secret signs; a generated secret is shown this once
    r = httpx.post(sub_url(webhook_server, sub, "/rotate-secret"), headers=sub["admin"],
                   json={"overlap_seconds": 0})
    generated = r.json()["secret"]
    assert len(generated) >= 32 and r.json()["previous_secret_valid_until"] is None
    assert generated not in httpx.get(sub_url(webhook_server, sub), headers=sub["admin"]).text
    with registrar(webhook_server) as c:
        c.post("/api/v1/projects", json=project_body(name="轮换之后"))
    rx.wait_for(2)
    last = rx.received[1]
    assert "X-Ymt-Signature-Previous" not in last["headers"]
    assert verify_signature(generated, last["body"], last["headers"])
    assert not verify_signature(new_secret, last["body"], last["headers"])
    rx.close()


def test_metrics_show_the_queue(ymt: App) -> None:
    down = add_subscription(ymt, "http://127.0.0.1:9/down")
    backlog(ymt, 30, keys=10)
    jobs = queue.claim(ymt, "m")
    for job in jobs[:4]:
        queue.record(ymt, job, 200, None, 1.0)
    for job in jobs[4:6]:
        queue.record(ymt, job, None, "connect_error", 1.0)
    with TestClient(create_app(ymt.settings, ymt)) as c:
        text = c.get("/metrics").text

    def value(name: str) -> float:
        m = re.search(rf'^{name}{{subscription="{down}"}} (\S+)$', text, re.M)
        assert m, name
        return float(m.group(1))

    assert value("ymt_webhook_pending") == 26
    assert value("ymt_webhook_delivered_total") == 4
    assert value("ymt_webhook_failed_attempts_total") == 2
    assert value("ymt_webhook_parked") == 0
    assert value("ymt_webhook_oldest_pending_seconds") >= 0
    assert re.search(r'^ymt_webhook_subscriptions{state="active"} 1\.0$', text, re.M)
