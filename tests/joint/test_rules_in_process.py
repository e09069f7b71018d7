"""Rules checked in-process (the ASGI app over httpx): overdue steps and reviews become supervision warnings
naming their rule and regulation; the registration stage done without readiness needs a reason when the profile
says so; an opinion's restricted attachment keeps its confidentiality in the chain and the feed; the project box
shows the review opinion by opinion."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update

from api.helpers import add_result, put_stage, register
from conftest import make_token
from web.test_auth import csrf_of, login
from yimatong.accounts import tokens, users
from yimatong.core.context import App
from yimatong.domain import supervision as rules
from yimatong.domain import workdays
from yimatong.domain.profile import SupervisionSpec
from yimatong.storage.models import JointReview

FIRST, LAST = workdays.covered_years()
PARCEL = {"type": "Feature", "properties": {},
          "geometry": {"type": "Polygon", "coordinates": [[[111.69, 29.03], [111.691, 29.03], [111.691, 29.031],
                                                           [111.69, 29.031], [111.69, 29.03]]]}}


def section_headers(ymt: App, section: str, role: str = "approval_system") -> dict[str, str]:
    with ymt.db.write() as session:
        token = tokens.create(session, f"{section}-{uuid.uuid4().hex[:6]}", role, sections=[section])
    return {"Authorization": f"Bearer {token}"}


def test_overdue_steps_and_reviews_are_warnings(client, ymt: App, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    for key in ("land_approval", "supply"):
        assert put_stage(client, registrar_headers, code, key).status_code == 200
    started = dt.date(LAST, 1, 5)   # long past: its 20 working days ran out this year
    assert put_stage(client, registrar_headers, code, "land_use_permit", "in_progress",
                     started_at=started.isoformat()).status_code == 200
    r = client.post(f"/api/v1/projects/{code}/stages/land_use_permit/joint-reviews", json={},
                    headers=registrar_headers)
    assert r.status_code == 201
    review_id = r.json()["id"]
    with ymt.db.write() as session:   # the review was opened a month ago (its due is the profile's 5 working days)
        session.execute(update(JointReview).where(JointReview.id == review_id)
                        .values(opened_at=dt.datetime(LAST, 1, 6, 2, tzinfo=dt.UTC)))
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    due = workdays.add_working_days(started, 20)
    body = client.get("/api/v1/warnings", params={"kind": "overdue_step"}, headers=registrar_headers).json()
    items = body["items"] if isinstance(body, dict) else body
    mine = [w for w in items if w["code"] == code]
    if today > due:
        assert len(mine) == 1 and mine[0]["since"] == due.isoformat()
        assert "land_use_permit" in mine[0]["detail"] and "行政许可法" in mine[0]["detail"]
    body = client.get("/api/v1/warnings", params={"kind": "overdue_review"}, headers=registrar_headers).json()
    items = body["items"] if isinstance(body, dict) else body
    mine = [w for w in items if w["code"] == code]
    if today > workdays.add_working_days(dt.date(LAST, 1, 6), 5):
        assert len(mine) == 1 and "construction_planning" in mine[0]["detail"] and "会签" in mine[0]["detail"]


def test_the_pure_rules_compare_due_dates() -> None:
    f = rules.Facts("C", "n", "430702", step_dues={"pre_review": (dt.date(2026, 10, 30), 20)},
                    review_dues=[(7, "supply", dt.date(2026, 10, 9), ["planning"])])
    t = SupervisionSpec()
    kinds = [w.kind for w in rules.evaluate(f, dt.date(2026, 10, 30), t)]
    assert kinds == ["overdue_review"]   # the step is due that very day: not yet overdue
    kinds = [w.kind for w in rules.evaluate(f, dt.date(2026, 10, 31), t)]
    assert kinds == ["overdue_step", "overdue_review"]


def test_registration_done_without_readiness_needs_a_reason_when_the_profile_says_so(ymt: App) -> None:
    from fastapi.testclient import TestClient

    from yimatong.api.app import create_app

    ymt.profile.registration = ymt.profile.registration.model_copy(update={"done_needs_reason": True})
    with TestClient(create_app(ymt.settings, ymt)) as c:
        h = {"Authorization": f"Bearer {make_token(ymt, 'registrar')}"}
        code = register(c, h)["code"]
        for key in ("land_approval", "supply"):
            assert put_stage(c, h, code, key).status_code == 200
        r = put_stage(c, h, code, "registration")
        assert r.status_code == 409 and r.json()["errors"][0]["field"] == "reason"
        assert r.json()["rule"] == "registration_not_ready" and r.json()["missing"]
        r = put_stage(c, h, code, "registration", reason="历史项目，纸质材料已核验")
        assert r.status_code == 200
        changed = [e for e in c.get("/api/v1/events", headers=h).json()["items"]
                   if e["code"] == code and e["type"] == "stage.changed"][-1]
        assert changed["data"]["reason"] == "历史项目，纸质材料已核验"


def test_a_restricted_attachment_keeps_its_confidentiality(client, ymt: App, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    assert put_stage(client, registrar_headers, code, "land_approval").status_code == 200
    assert put_stage(client, registrar_headers, code, "supply").status_code == 200
    r = client.post(f"/api/v1/projects/{code}/stages/land_use_permit/joint-reviews",
                    json={"sections": ["land_use_control"]}, headers=registrar_headers)
    review_id = r.json()["id"]
    control = section_headers(ymt, "land_use_control")
    secret = add_result(client, control, code, {"stage": "land_use_permit", "kind": "审查记录", "confidentiality": "restricted"},
                        [("记录.txt", b"secret")]).json()
    viewer = {"Authorization": f"Bearer {make_token(ymt, 'viewer')}"}
    other = section_headers(ymt, "planning", role="registration_platform")  # restricted: another role
    r = client.put(f"/api/v1/joint-reviews/{review_id}/opinions/land_use_control",
                   json={"status": "agree", "result_ids": [secret["id"]]}, headers=control)
    assert r.status_code == 200 and r.json()["opinions"][0]["result_ids"] == [secret["id"]]
    seen = client.get(f"/api/v1/joint-reviews/{review_id}", headers=viewer).json()
    assert seen["opinions"][0]["result_ids"] == [] and seen["status"] == "agreed"
    feed = client.get("/api/v1/events", headers=viewer).json()["items"]
    assert not any(e["type"] == "joint_review.opinion" for e in feed if e["code"] == code)
    assert any(e["type"] == "joint_review.closed" for e in feed if e["code"] == code)
    # another section may not attach what it cannot see
    r2 = client.post(f"/api/v1/projects/{code}/stages/works_permit/joint-reviews", json={"sections": ["planning"]},
                     headers=registrar_headers)
    r = client.put(f"/api/v1/joint-reviews/{r2.json()['id']}/opinions/planning",
                   json={"status": "agree", "result_ids": [secret["id"]]}, headers=other)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "result_ids.0"

    chain = client.get(f"/api/v1/projects/{code}/chain", headers=registrar_headers).json()
    assert [o["status"] for o in chain["joint_reviews"][0]["opinions"]] == ["agree"]
    assert client.post(f"/api/v1/projects/{code}/parcels", json=PARCEL, headers=registrar_headers).status_code == 201
    box = client.get("/api/v1/project-box", params={"lon": 111.6905, "lat": 29.0305}, headers=viewer).json()
    stage = next(s for s in box["projects"][0]["stages"] if s["key"] == "land_use_permit")
    opinion = stage["joint_reviews"][0]["opinions"][0]
    assert opinion["section"] == "land_use_control" and opinion["status"] == "agree" and opinion["result_ids"] == []


def test_the_project_page_shows_deadlines_and_opinions(client, ymt: App, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    for key in ("land_approval", "supply"):
        assert put_stage(client, registrar_headers, code, key).status_code == 200
    put_stage(client, registrar_headers, code, "land_use_permit", "in_progress", started_at=f"{LAST}-03-02")
    review = client.post(f"/api/v1/projects/{code}/stages/land_use_permit/joint-reviews", json={},
                         headers=registrar_headers).json()
    control = section_headers(ymt, "land_use_control")
    client.put(f"/api/v1/joint-reviews/{review['id']}/opinions/land_use_control",
               json={"status": "agree_with_conditions", "conditions": "落实绿地率"}, headers=control)
    with ymt.db.write() as s:
        users.create(s, "lisi", "correct-horse-2", "registrar", "李四", must_change_password=False)
    login(client, "lisi", "correct-horse-2")
    page = client.get(f"/code/{code}").text
    due = workdays.add_working_days(dt.date(LAST, 3, 2), 20).isoformat()
    assert f"期限 {due}" in page and f"联合审查 #{review['id']}" in page
    assert "用途管制科：有条件同意（条件：落实绿地率）" in page and "建设规划管理科：待签署" in page


def test_a_web_user_signs_for_the_section_the_account_carries(client, ymt: App, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    review = client.post(f"/api/v1/projects/{code}/stages/pre_review/joint-reviews",
                         json={"sections": ["planning", "farmland_protection"]}, headers=registrar_headers).json()
    with ymt.db.write() as s:
        users.create(s, "wangwu", "correct-horse-3", "approval_system", "王五", profile=ymt.profile,
                     sections=["planning"], must_change_password=False)
    login(client, "wangwu", "correct-horse-3")
    csrf = csrf_of(client.get(f"/code/{code}").text)
    url = f"/api/v1/joint-reviews/{review['id']}/opinions"
    r = client.put(f"{url}/planning", json={"status": "agree"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["opinions"][0]["signed_by"] == "user:wangwu"
    r = client.put(f"{url}/farmland_protection", json={"status": "agree"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
