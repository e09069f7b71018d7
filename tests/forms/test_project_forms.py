"""登记项目 / 修改项目 / 作废 / 合并 / 拆分 as forms: the same commands as the API, CSRF, refusals in Chinese
beside the field, nothing written when refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from forms.helpers import FORM, add_user, field_error, login, post
from yimatong.storage.models import Project


def count(ymt: Any) -> int:
    with ymt.db.read() as s:
        return s.execute(select(func.count()).select_from(Project)).scalar_one()


@pytest.fixture
def registrar(client, ymt):  # type: ignore[no-untyped-def]
    add_user(ymt, "lib", "registrar")
    return login(client, "lib")


def register(client: Any, csrf: str, **over: str) -> str:
    r = post(client, "/projects/new", csrf, FORM | over)
    assert r.status_code == 303, r.text
    return r.headers["location"].split("/")[2]


def test_register_issues_a_code_and_a_double_click_registers_once(client, ymt, registrar) -> None:
    page = client.get("/projects/new")
    assert page.status_code == 200 and "项目码预览" in page.text
    idem = page.text.split('name="idem" value="')[1].split('"')[0]
    first = post(client, "/projects/new", registrar, FORM | {"idem": idem})
    again = post(client, "/projects/new", registrar, FORM | {"idem": idem})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert count(ymt) == 1
    done = client.get(first.headers["location"])
    assert "已登记" in done.text and "CD430702202601022307010000" in done.text.replace("\n", "")


def test_bad_input_is_named_in_chinese_beside_the_field_and_nothing_is_written(client, ymt, registrar) -> None:
    r = post(client, "/projects/new", registrar, FORM | {"name": "", "year": "二〇二六", "investment_code": "123"})
    assert r.status_code == 422
    assert field_error(r.text, "name") == "项目名称：不能为空"
    assert field_error(r.text, "year") == "年度：应为整数"
    r = post(client, "/projects/new", registrar, FORM | {"investment_code": "123"})
    assert r.status_code == 422
    assert (field_error(r.text, "investment_code") or "").startswith("投资项目代码")
    r = post(client, "/projects/new", registrar, FORM | {"land_use": "9999"})
    assert r.status_code == 422 and (field_error(r.text, "land_use") or "").startswith("出让用途")
    assert "Input should" not in r.text and "Field required" not in r.text
    assert count(ymt) == 0


def test_csrf_missing_is_403_and_nothing_is_written(client, ymt, registrar) -> None:
    r = client.post("/projects/new", data=FORM, follow_redirects=False)
    assert r.status_code == 403 and "页面已过期" in r.text
    r = post(client, "/projects/new", "forged", FORM)
    assert r.status_code == 403
    assert count(ymt) == 0


def test_a_role_without_the_right_is_refused_in_chinese(client, ymt) -> None:
    add_user(ymt, "look", "viewer")
    csrf = login(client, "look")
    assert client.get("/projects/new").status_code == 403
    r = post(client, "/projects/new", csrf, FORM)
    assert r.status_code == 403 and "无权登记赋码" in r.text
    assert count(ymt) == 0


def test_edit_says_when_the_code_becomes_outdated(client, ymt, registrar) -> None:
    code = register(client, registrar)
    page = client.get(f"/code/{code}/edit")
    assert page.status_code == 200 and 'value="武陵区滨湖安置小区项目"' in page.text
    r = post(client, f"/code/{code}/edit", registrar, FORM | {"name": "", "builder": "新单位"})
    assert r.status_code == 422 and field_error(r.text, "name") == "项目名称：不能为空"
    r = post(client, f"/code/{code}/edit", registrar, FORM | {"land_use": "0702", "builder": "新单位"})
    assert r.status_code == 303
    done = client.get(r.headers["location"])
    assert "码段过期" in done.text and "出让用途" in done.text
    with ymt.db.read() as s:
        p = s.execute(select(Project).where(Project.code == code)).scalars().one()
        assert p.land_use == "0702" and p.builder == "新单位" and p.code_outdated


def test_void_needs_a_reason_and_a_confirmation(client, ymt, registrar) -> None:
    code = register(client, registrar)
    r = post(client, f"/code/{code}/void", registrar, {"reason": ""})
    assert r.status_code == 422 and field_error(r.text, "reason") == "原因：不能为空"
    r = post(client, f"/code/{code}/void", registrar, {"reason": "重复登记"})
    assert r.status_code == 200 and "请确认" in r.text and "确认作废项目码" in r.text
    with ymt.db.read() as s:  # the first step wrote nothing
        assert s.execute(select(Project.status).where(Project.code == code)).scalar() == "active"
    r = post(client, f"/code/{code}/void", registrar, {"reason": "重复登记", "confirmed": "yes"})
    assert r.status_code == 303
    assert "作废" in client.get(r.headers["location"]).text
    with ymt.db.read() as s:
        assert s.execute(select(Project.status).where(Project.code == code)).scalar() == "void"


def test_merge_names_an_unknown_target_and_split_needs_two_parts(client, ymt, registrar) -> None:
    a = register(client, registrar)
    b = register(client, registrar, name="武陵区另一个项目")
    r = post(client, f"/code/{a}/merge", registrar, {"into": "CD000000", "reason": "同一项目"})
    assert r.status_code == 404 and (field_error(r.text, "into") or "").startswith("保留的项目码：")
    r = post(client, f"/code/{a}/merge", registrar, {"into": b, "reason": "同一项目", "confirmed": "yes"})
    assert r.status_code == 303
    r = post(client, f"/code/{b}/split", registrar, {"part_name_0": "一期", "reason": "分期"})
    assert r.status_code == 422 and "至少 2 项" in r.text
    r = post(client, f"/code/{b}/split", registrar, {"part_name_0": "一期", "part_name_2": "二期",
                                                      "part_area_2": "abc", "reason": "分期"})
    assert r.status_code == 422 and field_error(r.text, "part_area_2") == "第 3 个子项目的面积：应为数字"
    r = post(client, f"/code/{b}/split", registrar, {"part_name_0": "一期", "part_name_1": "二期",
                                                      "reason": "分期", "confirmed": "yes"})
    assert r.status_code == 303
    assert client.get(r.headers["location"]).text.count("/code/CD430702") >= 2


def test_an_investment_code_registered_twice_links_the_existing_project(client, ymt, registrar) -> None:
    first = register(client, registrar, investment_code="2401-430702-04-01-123456")
    r = post(client, "/projects/new", registrar, FORM | {"name": "同一项目再次登记", "investment_code": "2401-430702-04-01-123456"})
    assert r.status_code == 409
    assert field_error(r.text, "investment_code") == "投资项目代码已登记"
    assert f'href="/code/{first}"' in r.text
    assert count(ymt) == 1
