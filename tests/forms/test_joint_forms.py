"""联合审查 in the browser's forms: a registrar opens a review of 建设用地规划许可 with the profile's sections, each
section's person signs only their own section's opinion, a refusal names the field in Chinese and writes nothing,
and the review closes as the API's rule says."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from forms.helpers import FORM, add_user, field_error, login, post
from yimatong.storage.models import Event, JointOpinion, JointReview


@pytest.fixture
def code(client, ymt) -> str:  # type: ignore[no-untyped-def]
    add_user(ymt, "lib", "registrar")
    csrf = login(client, "lib")
    r = post(client, "/projects/new", csrf, FORM)
    client.post("/logout", data={"csrf": csrf})
    return r.headers["location"].split("/")[2]


def opinions(ymt: Any) -> dict[str, str]:
    with ymt.db.read() as s:
        return {o.section: o.status for o in s.execute(select(JointOpinion)).scalars()}


def test_open_sign_and_close_a_review_through_the_forms(client, ymt, code) -> None:
    csrf = login(client, "lib")
    page = client.get(f"/code/{code}/joint?key=land_use_permit")
    assert page.status_code == 200 and "还没有联合审查" in page.text
    assert 'value="construction_planning" checked' in page.text  # the profile's sections for this stage
    r = post(client, f"/code/{code}/joint/open", csrf, {"key": "land_use_permit"})
    assert r.status_code == 422 and "请至少选择一个会签科室" in r.text
    with ymt.db.read() as s:
        assert s.execute(select(JointReview)).first() is None  # nothing written
    r = post(client, f"/code/{code}/joint/open", csrf,
             {"key": "land_use_permit", "sections": ["construction_planning", "land_use_control"]})
    assert r.status_code == 303, r.text
    with ymt.db.read() as s:
        review_id = s.execute(select(JointReview.id)).scalar_one()
    client.post("/logout", data={"csrf": csrf})

    add_user(ymt, "planner", "approval_system", sections=["construction_planning"])
    csrf = login(client, "planner")
    page = client.get(f"/code/{code}/joint?key=land_use_permit").text
    assert f'id="sign-{review_id}-construction_planning"' in page
    assert f'id="sign-{review_id}-land_use_control"' not in page  # not this person's section
    r = post(client, f"/code/{code}/joint/{review_id}/construction_planning", csrf,
             {"key": "land_use_permit", "status": "agree_with_conditions"})
    assert r.status_code == 422 and (field_error(r.text, "conditions") or "").startswith("条件")
    assert opinions(ymt)["construction_planning"] == "pending"
    r = post(client, f"/code/{code}/joint/{review_id}/land_use_control", csrf,
             {"key": "land_use_permit", "status": "agree"})
    assert r.status_code == 403 and "只能签署本科室的意见" in r.text
    r = post(client, f"/code/{code}/joint/{review_id}/construction_planning", csrf,
             {"key": "land_use_permit", "status": "agree_with_conditions", "conditions": "落实绿地率 30%"})
    assert r.status_code == 303, r.text
    client.post("/logout", data={"csrf": csrf})

    add_user(ymt, "control", "approval_system", sections=["land_use_control"])
    csrf = login(client, "control")
    r = post(client, f"/code/{code}/joint/{review_id}/land_use_control", csrf,
             {"key": "land_use_permit", "status": "agree", "text": "符合用途管制要求"})
    assert r.status_code == 303
    assert opinions(ymt) == {"construction_planning": "agree_with_conditions", "land_use_control": "agree"}
    page = client.get(f"/code/{code}/joint?key=land_use_permit").text
    assert "联合审查 #" in page and "通过" in page and "落实绿地率 30%" in page
    with ymt.db.read() as s:
        types = [t for (t,) in s.execute(select(Event.type).order_by(Event.seq))]
    assert types.count("joint_review.opinion") == 2 and types[-1] == "joint_review.closed"


def test_the_forms_need_a_login_and_the_csrf_token(client, ymt, code) -> None:
    assert client.get(f"/code/{code}/joint", follow_redirects=False).status_code == 303  # to the login page
    login(client, "lib")
    r = client.post(f"/code/{code}/joint/open", data={"key": "land_use_permit", "sections": ["planning"]},
                    follow_redirects=False)
    assert r.status_code == 403
    with ymt.db.read() as s:
        assert s.execute(select(JointReview)).first() is None
