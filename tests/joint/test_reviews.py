"""Joint review (会签) over real HTTP: three sections with their own tokens, the open review blocking the stage
(409 naming the pending sections), a section refused another's opinion (403), the closing rule, the ledger events,
idempotent opening and bad input (API.md, "Joint review (联合审批) of a stage")."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import LiveServer
from joint.helpers import client, project_at_permit, section_token
from yimatong.client.sdk import YmtError

SECTIONS = ["construction_planning", "land_use_control", "planning"]


def test_three_sections_sign_and_the_stage_is_blocked_until_all_agree(live_server: LiveServer) -> None:
    reg = client(live_server, live_server.token("registrar"))
    signers = {s: client(live_server, section_token(live_server, s)) for s in SECTIONS}
    approval = client(live_server, live_server.token("approval_system"))
    code = project_at_permit(reg)

    review = approval.open_joint_review(code, "land_use_permit", sections=SECTIONS, note="会签：建设用地规划许可")
    assert review["status"] == "open" and review["stage"] == "land_use_permit" and review["code"] == code
    assert [o["section"] for o in review["opinions"]] == SECTIONS
    assert {o["status"] for o in review["opinions"]} == {"pending"}
    assert review["opened_by"].startswith("approval_system-")
    # the profile's limit in working days from today (null, saying why, when that runs past the calendar's data)
    assert review["due"] is not None or "节假日日历没有" in review["due_note"]

    def blocked() -> YmtError:
        with pytest.raises(YmtError) as exc:
            approval.set_stage(code, "land_use_permit", "done", finished_at="2026-12-01")
        return exc.value

    err = blocked()
    assert err.status == 409 and err.body["pending_sections"] == SECTIONS
    assert all(s in err.detail for s in SECTIONS) and err.errors[0]["field"] == "status"

    # a section may write only its own opinion
    with pytest.raises(YmtError) as exc:
        signers["planning"].sign_opinion(review["id"], "land_use_control", "agree")
    assert exc.value.status == 403 and exc.value.errors[0]["field"] == "section"

    signers["construction_planning"].sign_opinion(review["id"], "construction_planning", "agree", text="符合规划条件")
    after = signers["land_use_control"].sign_opinion(review["id"], "land_use_control", "agree_with_conditions",
                                                     text="同意", conditions="按控规要求落实绿地率")
    assert after["status"] == "open"
    signed = {o["section"]: o for o in after["opinions"]}
    assert signed["land_use_control"]["conditions"] == "按控规要求落实绿地率"
    assert signed["land_use_control"]["signed_by"].startswith("land_use_control-")
    assert signed["land_use_control"]["signed_at"] is not None
    assert blocked().body["pending_sections"] == ["planning"]

    # a retried PUT (same opinion, same signer) changes nothing and writes no second ledger entry
    signers["construction_planning"].sign_opinion(review["id"], "construction_planning", "agree", text="符合规划条件")
    done = signers["planning"].sign_opinion(review["id"], "planning", "agree")
    assert done["status"] == "agreed" and done["closed_at"] is not None
    assert approval.joint_review(review["id"])["status"] == "agreed"
    assert approval.set_stage(code, "land_use_permit", "done", finished_at="2026-12-01")["status"] == "done"

    # a closed review takes no more opinions
    with pytest.raises(YmtError) as exc:
        signers["planning"].sign_opinion(review["id"], "planning", "disagree", text="改主意")
    assert exc.value.status == 409

    events = [e for e in reg.events() if e["code"] == code and e["type"].startswith("joint_review.")]
    assert [e["type"] for e in events] == ["joint_review.opened"] + ["joint_review.opinion"] * 3 + \
        ["joint_review.closed"]
    assert events[0]["data"]["sections"] == SECTIONS and events[0]["data"]["review_id"] == review["id"]
    assert [e["data"]["section"] for e in events[1:4]] == SECTIONS
    assert events[2]["data"]["status"] == "agree_with_conditions"
    assert events[-1]["data"] == {"review_id": review["id"], "status": "agreed"}
    listed = reg.joint_reviews(code, "land_use_permit")
    assert [r["id"] for r in listed] == [review["id"]]
    assert live_server.ymt("ledger", "verify").returncode == 0


def test_a_disagreement_returns_the_review_and_defaults_come_from_the_profile(live_server: LiveServer) -> None:
    reg = client(live_server, live_server.token("registrar"))
    code = project_at_permit(reg)
    review = reg.open_joint_review(code, "land_use_permit")  # the profile's sections for the stage
    assert [o["section"] for o in review["opinions"]] == ["construction_planning", "land_use_control"]
    control = client(live_server, section_token(live_server, "land_use_control", role="registration_platform"))

    with pytest.raises(YmtError) as exc:   # a refusal needs its reason
        control.sign_opinion(review["id"], "land_use_control", "disagree")
    assert exc.value.status == 422 and exc.value.errors[0]["field"] == "text"
    with pytest.raises(YmtError) as exc:   # conditions are what "with conditions" means
        control.sign_opinion(review["id"], "land_use_control", "agree_with_conditions")
    assert exc.value.errors[0]["field"] == "conditions"

    out = control.sign_opinion(review["id"], "land_use_control", "disagree", text="用途与国土空间规划不符")
    assert out["status"] == "returned"
    # a returned review no longer blocks the stage: it may be returned or reopened
    reg.set_stage(code, "land_use_permit", "returned")
    again = reg.open_joint_review(code, "land_use_permit", sections=["land_use_control"])
    assert again["id"] != review["id"]
    with pytest.raises(YmtError) as exc:   # one open review of a stage at a time
        reg.open_joint_review(code, "land_use_permit")
    assert exc.value.status == 409

    # admin may sign for any section; a stage may still be done without any review (v1 clients)
    admin = client(live_server, live_server.token("admin"))
    assert admin.sign_opinion(again["id"], "land_use_control", "agree")["status"] == "agreed"
    assert reg.set_stage(code, "land_use_permit", "done")["status"] == "done"
    assert reg.set_stage(code, "compensation", "done")["status"] == "done"


def test_opening_rules_idempotency_and_who_may(live_server: LiveServer) -> None:
    reg = client(live_server, live_server.token("registrar"))
    viewer = client(live_server, live_server.token("viewer"))
    code = project_at_permit(reg)
    yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()

    cases = [({"sections": ["nobody"]}, "sections.0"), ({"due": yesterday}, "due"), ({"due": "明天"}, "due"),
             ({"sections": []}, "sections"), ({"sections": ["planning", "planning"]}, "sections.1")]
    for body, field in cases:
        r = reg.http.post(f"/api/v1/projects/{code}/stages/land_use_permit/joint-reviews", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == field
    r = reg.http.post(f"/api/v1/projects/{code}/stages/intake/joint-reviews", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sections"  # no default sections there
    r = reg.http.post(f"/api/v1/projects/{code}/stages/nowhere/joint-reviews", json={"sections": ["planning"]})
    assert r.status_code == 404

    with pytest.raises(YmtError) as exc:
        viewer.open_joint_review(code, "land_use_permit")
    assert exc.value.status == 403

    due = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    first = reg.open_joint_review(code, "land_use_permit", due=due, idempotency_key="k-1")
    assert first["due"] == due
    assert reg.open_joint_review(code, "land_use_permit", due=due, idempotency_key="k-1")["id"] == first["id"]
    with pytest.raises(YmtError) as exc:
        reg.open_joint_review(code, "land_use_permit", idempotency_key="k-1")
    assert exc.value.status == 409
    assert len(reg.joint_reviews(code, "land_use_permit")) == 1

    with pytest.raises(YmtError) as exc:   # a section not in the review
        client(live_server, section_token(live_server, "cadastre")).sign_opinion(first["id"], "cadastre", "agree")
    assert exc.value.status == 404 and exc.value.errors[0]["field"] == "section"
    with pytest.raises(YmtError) as exc:   # a viewer signs nothing
        viewer.sign_opinion(first["id"], "planning", "agree")
    assert exc.value.status == 403
    with pytest.raises(YmtError) as exc:
        reg.joint_review(999999)
    assert exc.value.status == 404
    sections = reg.http.get("/api/v1/code-tables").json()["sections"]
    assert {"value": "land_use_control", "label": "用途管制科"} in sections
    bad = live_server.ymt("token", "create", "--name", "x", "--role", "viewer", "--section", "nobody", check=False)
    assert bad.returncode != 0 and "未知的科室" in bad.stderr + bad.stdout
