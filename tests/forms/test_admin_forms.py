"""Administration pages: users and API tokens through the account functions in the unit of work, after the
policy; disabling and revoking take a reason and a confirmation (kept in the access audit); a token's secret is
shown once; a role without account.manage reads the refusal in Chinese."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from forms.helpers import add_user, field_error, login, post
from yimatong.storage.models import ApiToken, AuditRecord, User


def user(ymt: Any, name: str) -> User | None:
    with ymt.db.read() as s:
        return s.execute(select(User).where(User.username == name)).scalars().first()


def test_an_admin_creates_changes_resets_and_disables_a_user(client, ymt) -> None:
    add_user(ymt, "boss", "admin")
    csrf = login(client, "boss")
    page = client.get("/admin/users")
    assert page.status_code == 200 and "新建账号" in page.text
    bad = post(client, "/admin/users", csrf, {"username": "张 三", "password": "x", "role": "viewer"})
    assert bad.status_code == 422 and (field_error(bad.text, "username") or "").startswith("用户名")
    weak = post(client, "/admin/users", csrf, {"username": "zhang", "password": "short", "role": "viewer"})
    assert weak.status_code == 422 and field_error(weak.text, "password") is not None
    assert user(ymt, "zhang") is None
    r = post(client, "/admin/users", csrf, {"username": "zhang", "display_name": "张三", "role": "approval_system",
                                            "password": "Initial-pass-2026", "divisions": "430702", "sections": ["land_use_control", "planning"]})
    assert r.status_code == 303
    u = user(ymt, "zhang")
    assert u is not None and u.role == "approval_system" and u.divisions == ["430702"] and u.sections == ["land_use_control", "planning"]
    r = post(client, "/admin/users/zhang/update", csrf, {"display_name": "张三丰", "role": "viewer"})
    assert r.status_code == 303 and user(ymt, "zhang").role == "viewer"  # type: ignore[union-attr]
    r = post(client, "/admin/users/zhang/password", csrf, {"new_password": "Another-pass-2026"})
    assert r.status_code == 303 and user(ymt, "zhang").must_change_password  # type: ignore[union-attr]
    step1 = post(client, "/admin/users/zhang/disable", csrf, {})
    assert step1.status_code == 200 and "原因" in step1.text and not user(ymt, "zhang").disabled  # type: ignore[union-attr]
    empty = post(client, "/admin/users/zhang/disable", csrf, {"reason": ""})
    assert empty.status_code == 422 and field_error(empty.text, "reason") == "原因：必填：请写明停用原因"
    step2 = post(client, "/admin/users/zhang/disable", csrf, {"reason": "调离本局"})
    assert "确认停用" in step2.text and not user(ymt, "zhang").disabled  # type: ignore[union-attr]
    done = post(client, "/admin/users/zhang/disable", csrf, {"reason": "调离本局", "confirmed": "yes"})
    assert done.status_code == 303 and user(ymt, "zhang").disabled  # type: ignore[union-attr]
    with ymt.db.read() as s:
        objects = s.execute(select(AuditRecord.object).where(AuditRecord.action == "admin.user.disable")).scalars().all()
    assert objects == ["user:zhang；原因：调离本局"]


def test_a_token_is_shown_once_listed_with_its_last_use_and_revoked(client, ymt) -> None:
    add_user(ymt, "boss", "admin")
    csrf = login(client, "boss")
    bad = post(client, "/admin/tokens", csrf, {"name": "审批系统", "role": "approval_system", "expires_in": "99999"})
    assert bad.status_code == 422 and (field_error(bad.text, "expires_in") or "").startswith("有效天数")
    r = post(client, "/admin/tokens", csrf, {"name": "审批系统", "role": "approval_system", "expires_in": "30"})
    assert r.status_code == 201
    secret = re.search(r'id="token-secret">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert secret.startswith("ymt_") and secret not in client.get("/admin/tokens").text
    api = client.get("/api/v1/code-tables", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    assert "从未使用" not in client.get("/admin/tokens").text.split('id="token-审批系统"')[1].split("</tr>")[0]
    step = post(client, "/admin/tokens/审批系统/revoke", csrf, {"reason": "系统下线"})
    assert "确认吊销" in step.text
    done = post(client, "/admin/tokens/审批系统/revoke", csrf, {"reason": "系统下线", "confirmed": "yes"})
    assert done.status_code == 303
    with ymt.db.read() as s:
        assert s.execute(select(ApiToken.revoked_at).where(ApiToken.name == "审批系统")).scalar() is not None
    assert client.get("/api/v1/code-tables", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_a_role_without_account_management_is_refused_and_csrf_is_required(client, ymt) -> None:
    add_user(ymt, "lib", "registrar")
    csrf = login(client, "lib")
    page = client.get("/admin/users")
    assert page.status_code == 403 and "无权管理用户与令牌" in page.text
    r = post(client, "/admin/users", csrf, {"username": "x1", "password": "Initial-pass-2026", "role": "admin"})
    assert r.status_code == 403 and "无权管理用户与令牌" in r.text
    assert user(ymt, "x1") is None
    assert client.post("/admin/tokens", data={"name": "t", "role": "admin", "expires_in": "3"}).status_code == 403
    assert client.get("/admin/code-tables").status_code == 200 and client.get("/admin/profile").status_code == 200


def test_reference_pages_show_the_tables(client: httpx.Client, ymt) -> None:
    add_user(ymt, "boss", "admin")
    login(client, "boss")
    r = client.get("/admin/code-tables", params={"table": "land_use"})
    assert r.status_code == 200 and "0701" in r.text
    assert "土地供应须在农用地转用与土地征收审批办结" in client.get("/admin/profile").text


def test_rotating_a_token_shows_the_new_secret_once_and_stops_the_old(client, ymt) -> None:
    add_user(ymt, "boss", "admin")
    csrf = login(client, "boss")
    first = post(client, "/admin/tokens", csrf, {"name": "登记平台", "role": "registration_platform", "expires_in": "30"})
    old = re.search(r'id="token-secret">([^<]+)<', first.text).group(1)  # type: ignore[union-attr]
    r = post(client, "/admin/tokens/登记平台/rotate", csrf, {})
    assert r.status_code == 201 and "已轮换令牌" in r.text
    new = re.search(r'id="token-secret">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert new != old
    assert client.get("/api/v1/code-tables", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get("/api/v1/code-tables", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_logging_a_user_out_everywhere_ends_their_sessions(client, ymt) -> None:
    add_user(ymt, "boss", "admin")
    add_user(ymt, "zhang", "viewer")
    other = TestClient(client.app)  # a second browser of the same app
    login(other, "zhang")
    assert other.get("/projects", follow_redirects=False).status_code == 200
    csrf = login(client, "boss")
    assert post(client, "/admin/users/zhang/logout", csrf, {}).status_code == 303
    assert other.get("/projects", follow_redirects=False).status_code == 303
