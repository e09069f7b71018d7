"""阶段办理 and 上传成果 as forms: only the stages the role writes, the prerequisite rule explained, several
files in one result, refusals in Chinese and nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from forms.helpers import FORM, add_user, field_error, login, post
from yimatong.storage.models import Result, ResultFile, Stage


@pytest.fixture
def code(client, ymt) -> str:  # type: ignore[no-untyped-def]
    add_user(ymt, "lib", "registrar")
    csrf = login(client, "lib")
    r = post(client, "/projects/new", csrf, FORM)
    client.post("/logout", data={"csrf": csrf})
    return r.headers["location"].split("/")[2]


def stage_status(ymt: Any, key: str) -> str | None:
    with ymt.db.read() as s:
        return s.execute(select(Stage.status).where(Stage.key == key)).scalar()


def test_a_clerk_sees_only_the_stages_the_role_writes(client, ymt, code) -> None:
    add_user(ymt, "clerk", "approval_system")
    login(client, "clerk")
    page = client.get(f"/code/{code}/stage")
    assert page.status_code == 200
    form = page.text.split('id="f-key"')[1].split("</select>")[0]
    assert 'value="supply"' in form and 'value="registration"' not in form  # 不动产登记 is the registry's


def test_the_prerequisite_rule_is_explained_and_nothing_is_written(client, ymt, code) -> None:
    add_user(ymt, "clerk", "approval_system")
    csrf = login(client, "clerk")
    r = post(client, f"/code/{code}/stage", csrf, {"key": "supply", "status": "done", "finished_at": "2026-03-01"})
    assert r.status_code == 409
    assert "土地供应须在农用地转用与土地征收审批办结（或不适用）之后" in r.text
    assert "目前为<b>未开始</b>" in r.text
    assert stage_status(ymt, "supply") is None
    r = post(client, f"/code/{code}/stage", csrf, {"key": "land_approval", "status": "done", "finished_at": "1.3."})
    assert r.status_code == 422 and (field_error(r.text, "finished_at") or "").startswith("办结日期：")
    r = post(client, f"/code/{code}/stage", csrf, {"key": "land_approval", "status": "done",
                                                   "case_no": "常自然资批〔2026〕12号", "finished_at": "2026-02-01"})
    assert r.status_code == 303
    assert stage_status(ymt, "land_approval") == "done"


def test_a_stage_the_role_may_not_write_is_refused_in_chinese(client, ymt, code) -> None:
    add_user(ymt, "clerk", "approval_system")
    csrf = login(client, "clerk")
    r = post(client, f"/code/{code}/stage", csrf, {"key": "registration", "status": "done"})
    assert r.status_code == 403 and "无权办理阶段" in r.text
    assert client.post(f"/code/{code}/stage", data={"key": "pre_review", "status": "done"}).status_code == 403
    add_user(ymt, "look", "viewer")
    csrf = login(client, "look")
    r = post(client, f"/code/{code}/stage", csrf, {"key": "pre_review", "status": "done"})
    assert r.status_code == 403 and "无权办理阶段" in r.text
    assert stage_status(ymt, "pre_review") is None and stage_status(ymt, "registration") is None


def test_a_clerk_uploads_a_permit_with_two_files(client, ymt, code) -> None:
    add_user(ymt, "clerk", "approval_system")
    csrf = login(client, "clerk")
    files = [("files", ("许可证.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")),
             ("files", ("附图.txt", "红线图说明".encode(), "text/plain"))]
    bad = post(client, f"/code/{code}/results/new", csrf, {"stage": "works_permit", "kind": ""}, files=files)
    assert bad.status_code == 422 and (field_error(bad.text, "kind") or "").startswith("成果类型")
    nope = post(client, f"/code/{code}/results/new", csrf, {"stage": "registration", "kind": "不动产权证书"}, files=files)
    assert nope.status_code == 403 and "无权办理阶段" in nope.text
    with ymt.db.read() as s:
        assert s.execute(select(func.count()).select_from(Result)).scalar_one() == 0
    r = post(client, f"/code/{code}/results/new", csrf, {"stage": "works_permit", "kind": "建设工程规划许可证",
                                                         "doc_no": "建字第2026001号", "confidentiality": "internal"},
             files=files)
    assert r.status_code == 303, r.text
    done = client.get(r.headers["location"])
    assert "许可证.pdf" in done.text and "附图.txt" in done.text
    with ymt.db.read() as s:
        assert s.execute(select(func.count()).select_from(ResultFile)).scalar_one() == 2


def test_a_typed_contract_is_entered_field_by_field(client, ymt, code) -> None:
    """出让合同 has a data schema in the profile: the form shows its fields in Chinese, refuses a malformed
    电子监管号 or a number that is none beside the field (nothing written), and stores numbers as numbers."""
    csrf = login(client, "lib")
    kind = "国有建设用地使用权出让合同"
    page = client.get(f"/code/{code}/results/new", params={"kind": kind})
    assert page.status_code == 200 and 'id="typed-fields"' in page.text
    assert "电子监管号" in page.text and "出让价款（元）" in page.text
    assert 'name="data.term_years"' in page.text and '<option value="supply" selected>' in page.text
    form = {"stage": "supply", "kind": kind, "doc_no": "常出让〔2026〕8号", "confidentiality": "internal",
            "data.supervision_no": "4307022026B00123", "data.area_m2": "12,000.5", "data.term_years": "70",
            "data.agreed_start": "2026-09-01"}
    bad = post(client, f"/code/{code}/results/new", csrf, form | {"data.supervision_no": "4307-bad"})
    assert bad.status_code == 422 and (field_error(bad.text, "data.supervision_no") or "").startswith("电子监管号")
    assert 'value="4307-bad"' in bad.text  # what was typed stays in the form
    nan = post(client, f"/code/{code}/results/new", csrf, form | {"data.price_yuan": "一千万"})
    assert nan.status_code == 422 and field_error(nan.text, "data.price_yuan") == "出让价款（元）：应为数字"
    with ymt.db.read() as s:
        assert s.execute(select(func.count()).select_from(Result)).scalar_one() == 0
    r = post(client, f"/code/{code}/results/new", csrf, form)
    assert r.status_code == 303, r.text
    with ymt.db.read() as s:
        data = s.execute(select(Result.data)).scalar_one()
    assert data == {"supervision_no": "4307022026B00123", "area_m2": 12000.5, "term_years": 70,
                    "agreed_start": "2026-09-01"}
