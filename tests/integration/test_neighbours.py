"""The three neighbour systems played end to end through the SDK against a real server on loopback."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import httpx

from conftest import project_body
from integration.receiver import Receiver
from spatial.spatial_helpers import WULING, square
from yimatong.client import YmtClient, YmtError, verify_signature

SECRET = "registration-platform-secret-42"
PERMIT = b"%PDF-1.4\n% permit\n%%EOF\n"


def test_approval_registration_and_base_platform(webhook_server, tmp_path: Path) -> None:
    srv = webhook_server
    registrar = YmtClient(srv.url, srv.token("registrar", "项目库管理员"))
    approval = YmtClient(srv.url, srv.token("approval_system", "一体化审批系统"))
    planning = YmtClient(srv.url, srv.token("approval_system", "建设规划管理科"))
    registration = YmtClient(srv.url, srv.token("registration_platform", "不动产登记平台"))
    base = YmtClient(srv.url, srv.token("base_platform", "国土空间基础信息平台"))
    hook = Receiver()
    admin = {"Authorization": f"Bearer {srv.token('admin')}"}
    assert httpx.post(srv.url + "/api/v1/subscriptions", headers=admin, json={
        "url": hook.url, "types": ["stage.changed"], "secret": SECRET, "role": "registration_platform"}
    ).status_code == 201

    # intake: the library registers the project and its parcel
    code = registrar.register_project(project_body(name="武陵区安置房项目", investment_code="2611-430702-70-01-000777"))[
        "code"]
    registrar.attach_parcel(code, square(WULING, 地块编号="DK-77"))
    try:
        registrar.register_project(project_body(name="重复", investment_code="2611-430702-70-01-000777"))
        raise AssertionError("duplicate investment code accepted")
    except YmtError as exc:
        assert exc.status == 409 and exc.existing_code == code

    # approval system: 批 → 供 → 用, each permit stored as a result under the code
    steps = [("pre_review", "用地预审与选址意见书"), ("land_approval", "建设用地批复"), ("supply", "国有建设用地使用权出让合同"),
             ("land_use_permit", "建设用地规划许可证"), ("works_permit", "建设工程规划许可证")]
    for key, kind in steps:
        approval.set_stage(code, key, "done", case_no=f"{key}-001", department="一体化审批", finished_at="2026-03-01")
        data = {"supervision_no": "4307022026B00777", "agreed_start": "2026-06-01",
                "agreed_finish": "2028-06-01"} if key == "supply" else {}
        approval.add_result(code, {"stage": key, "kind": kind, "doc_no": f"{key}-001", "data": data,
                                   "confidentiality": "internal"}, files=[(f"{kind}.pdf", PERMIT)])
    # a later step reads earlier materials by code; two sections work on the same shared material
    shared = approval.results(code, stage="pre_review")[0]
    for section in (approval, planning):
        assert section.download(shared["id"], shared["files"][0]["id"]) == PERMIT
    approval.add_inspection(code, department="用途管制科", note="联合审查：用途符合规划")
    planning.add_inspection(code, department="建设规划管理科", note="联合审查：规划条件符合")
    departments = {e["data"].get("department") for e in approval.chain(code)["events"] if e["type"] == "stage.changed"}
    assert {"用途管制科", "建设规划管理科"} <= departments
    approval.set_stage(code, "construction", "done", started_at="2026-07-01", finished_at="2027-12-01")
    approval.set_stage(code, "verification", "done", finished_at="2028-01-10")

    # registration platform: told by webhook that verification is done, pulls the package (码上直办)
    hook.wait_for(len(steps) + 4)
    done = [r for r in hook.received if r["event"]["data"].get("stage") == "verification"]
    assert done and verify_signature(SECRET, done[0]["body"], done[0]["headers"]["X-Ymt-Signature"])
    assert done[0]["event"]["code"] == code and done[0]["event"]["data"]["status"] == "done"
    pkg = registration.package(code, "registration", tmp_path / "reg.zip")
    z = zipfile.ZipFile(pkg)
    manifest = json.loads(z.read("manifest.json"))
    assert {r["stage"] for r in manifest["results"]} >= {"supply", "works_permit"}
    assert "pre_review" not in {r["stage"] for r in manifest["results"]}
    registration.set_stage(code, "registration", "done", case_no="DJ-2028-0001", department="不动产登记中心")
    registration.add_result(code, {"stage": "registration", "kind": "不动产权证书", "doc_no": "湘(2028)常德市不动产权第0001号",
                                   "data": {"unit_no": "430702001001GB00077F00010001", "certificate_no": "0001"}},
                            files=[("证书.pdf", PERMIT)])
    try:
        registration.set_stage(code, "supply", "returned")
        raise AssertionError("registration platform wrote another stage")
    except YmtError as exc:
        assert exc.status == 403
    seen_by_approval = approval.chain(code)
    assert {"kind": "unit_no", "value": "430702001001GB00077F00010001"} in seen_by_approval["refs"]
    assert any(r["kind"] == "不动产权证书" for r in seen_by_approval["results"])
    assert seen_by_approval["project"]["current_stage"] == "registration"
    archive = registration.package(code, "archive", tmp_path / "archive.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert len([n for n in names if n.startswith("results/")]) == len(steps) + 1

    # base-information platform: follows the change feed to mirror parcels and project boxes
    mirror: dict[int, dict] = {}
    last = 0
    for ev in base.events(after=0):
        last = ev["seq"]
        if ev["type"] == "parcel.attached":
            pid = ev["data"]["parcel_id"]
            mirror[pid] = base.project_box(parcel_id=pid)
    assert len(mirror) == 1
    box = next(iter(mirror.values()))
    assert [p["code"] for p in box["projects"]] == [code]
    keys = [s["key"] for s in box["projects"][0]["stages"]]
    assert keys[-2:] == ["registration", "inspection"] and keys[0] == "intake"  # catalogue order
    # resume from the last seq: nothing new until something happens
    assert list(base.events(after=last)) == []
    registrar.update_project(code, {"builder": "常德市城投集团"})
    assert [e["type"] for e in base.events(after=last)] == ["project.updated"]
    hook.close()
    for c in (registrar, approval, planning, registration, base):
        c.close()


def test_feed_order_hash_links_and_resume(live_server) -> None:
    reg = YmtClient(live_server.url, live_server.token("registrar"))
    for i in range(5):
        reg.register_project(project_body(name=f"流{i}"))
    events = list(reg.events(after=0, page_size=2))
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, 6))
    for prev, cur in zip(events, events[1:], strict=False):
        assert cur["prev_hash"] == prev["hash"]
    assert [e["seq"] for e in reg.events(after=3)] == [4, 5]
    r = httpx.get(live_server.url + "/api/v1/events", params={"after": 0, "limit": 2},
                  headers={"Authorization": reg.http.headers["Authorization"]}).json()
    assert r["next_cursor"] == "2"
    reg.close()


def test_sdk_verify_signature_rejects_tampering() -> None:
    body = b'{"seq": 1}'
    import hashlib
    import hmac

    good = "sha256=" + hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert verify_signature("k" * 16, body, good)
    assert not verify_signature("k" * 16, body + b" ", good)
    assert not verify_signature("k" * 16, body, None)
    assert not verify_signature("x" * 16, body, good)
