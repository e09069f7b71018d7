"""The admin's audit page: a web export is audited (interface web), the page lists and filters it, its xlsx
export is in Chinese and is audited too; other roles get 403."""

from __future__ import annotations

import io

import openpyxl

from web.test_auth import login
from yimatong.accounts import users


def test_web_export_is_audited_and_the_admin_page_lists_filters_and_exports(client, ymt) -> None:
    with ymt.db.write() as s:
        users.create(s, "wangwu", "correct-horse-1", "admin", "王五", must_change_password=False)
        users.create(s, "lisi", "correct-horse-2", "viewer", "李四", must_change_password=False)
    login(client, "lisi", "correct-horse-2")
    assert client.get("/projects.xlsx").status_code == 200
    assert client.get("/audit").status_code == 403
    assert "访问审计" not in client.get("/projects").text  # no menu entry for other roles
    client.cookies.clear()
    login(client, "wangwu", "correct-horse-1")
    page = client.get("/audit")
    assert page.status_code == 200 and "导出项目库" in page.text and "网页" in page.text
    assert "访问审计" in client.get("/projects").text
    assert "暂无记录" in client.get("/audit", params={"action": "package.download"}).text
    assert "暂无记录" in client.get("/audit", params={"since": "2999-01-01"}).text
    x = client.get("/audit.xlsx", params={"action": "export.projects"})
    assert x.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(x.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("序号", "时间（北京时间）", "操作者", "动作")
    assert rows[1][3] == "导出项目库" and rows[1][5] == "网页" and len(rows) == 2
    with ymt.db.read() as session:
        from yimatong.ledger import audit

        actions = [i["action"] for i in audit.page(session, 0, 10)["items"]]
    assert actions == ["export.projects", "export.audit"]
