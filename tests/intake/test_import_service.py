"""Intake through the real `ymt` binary: messy files, duplicates across sources, all-or-nothing, idempotence."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import openpyxl
import pytest

from conftest import YMT
from intake.messy import GOOD_ROWS, gbk_csv, supply_plan_xlsx

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}


def ymt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([YMT, *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def projects(client, headers) -> list[dict]:  # type: ignore[no-untyped-def]
    return client.get("/api/v1/projects", params={"limit": 1000}, headers=headers).json()["items"]


def test_sample_supply_plan(env, client, registrar_headers) -> None:
    out = ymt(env, "import", "supply_plan", DATA / "supply-plan-sample.xlsx")
    assert out.returncode == 0, out.stderr
    assert "新登记 4" in out.stdout and "被拒 0" in out.stdout
    got = {p["name"]: p for p in projects(client, registrar_headers)}
    school = got["常德市第一中学扩建项目"]
    assert school["code"][2:8] == "430702" and school["supply_type"] == "10" and school["land_use"] == "0804"
    assert school["area_m2"] == pytest.approx(21000) and school["investment_code"] == "2511-430702-83-01-004321"
    assert school["approval_type"] == "00" and school["project_type"] == "99"  # to be determined
    again = ymt(env, "import", "supply_plan", DATA / "supply-plan-sample.xlsx")
    assert again.returncode == 0 and "已导入过" in again.stdout
    assert len(projects(client, registrar_headers)) == 4


def test_messy_two_level_header_with_mu(env, client, registrar_headers, tmp_path) -> None:
    rows = [r[:5] + [None, r[5] * 15, r[7]] for r in GOOD_ROWS]  # only 亩 filled
    path = supply_plan_xlsx(tmp_path / "计划.xlsx", rows)
    out = ymt(env, "import", "supply_plan", path)
    assert out.returncode == 0, out.stdout + out.stderr
    got = {p["name"]: p for p in projects(client, registrar_headers)}
    assert got["武陵区丹阳路以北地块住宅项目"]["area_m2"] == pytest.approx(32500)
    assert got["鼎城区灌溪工业园标准厂房项目"]["supply_type"] == "23"
    assert "跳过 3" in out.stdout  # blank, 合计, 注


def test_bad_row_leaves_nothing_and_names_row_and_column(env, client, registrar_headers, tmp_path) -> None:
    rows = [*GOOD_ROWS, [4, "不存在区的项目", "火星区", "挂牌出让", "商业用地", "很大", None, "2026-10"]]
    path = supply_plan_xlsx(tmp_path / "bad.xlsx", rows)
    out = ymt(env, "import", "supply_plan", path)
    assert out.returncode == 1
    assert "第8行 [所在区县]" in out.stderr and "火星区" in out.stderr
    assert "第8行 [面积(公顷)]" in out.stderr
    assert projects(client, registrar_headers) == []
    dry = ymt(env, "import", "supply_plan", path, "--dry-run", "--partial")
    assert "新登记 3" in dry.stdout and projects(client, registrar_headers) == []
    part = ymt(env, "import", "supply_plan", path, "--partial")
    assert part.returncode == 1 and len(projects(client, registrar_headers)) == 3


def test_same_project_across_sources_is_merged(env, client, registrar_headers, tmp_path) -> None:
    assert ymt(env, "import", "supply_plan", DATA / "supply-plan-sample.xlsx").returncode == 0
    csv = gbk_csv(tmp_path / "重点项目.csv", [
        "2026年常德市重点建设项目", "项目名称,级别,行政区划,建设单位,投资项目代码,总投资（万元）,建设内容",
        "常德市第一中学扩建项目,市,武陵区,常德市教育局,,12000,扩建教学楼",  # name match (normalised)
        "鼎城区灌溪工业园标准厂房,省,鼎城区,灌溪园区公司,2611-430703-34-03-012345,30000,厂房",  # same invest code
        "桃源县人民医院新院区项目,省,桃源县,桃源县卫健局,,50000,医院",
        "合计,,,,,92000,"])
    out = ymt(env, "import", "key_projects", csv)
    assert out.returncode == 0, out.stderr
    assert "新登记 1" in out.stdout and "合并 2" in out.stdout
    got = {p["name"]: p for p in projects(client, registrar_headers)}
    school = got["常德市第一中学扩建项目"]
    assert {s["kind"] for s in school["sources"]} == {"supply_plan", "city_key"}
    assert school["builder"] == "常德市教育局"
    plant = got["鼎城区灌溪工业园标准厂房项目"]
    assert {s["kind"] for s in plant["sources"]} == {"supply_plan", "province_key"}
    assert len(got) == 5
    # the same rows again from a re-saved file (different bytes) change nothing
    csv2 = gbk_csv(tmp_path / "重点项目-2.csv", csv.read_bytes().decode("gbk").splitlines() + [""])
    again = ymt(env, "import", "key_projects", csv2)
    assert "新登记 0" in again.stdout and "合并 0" in again.stdout and "无变化 3" in again.stdout


def test_uncertain_match_goes_to_review(env, client, registrar_headers, tmp_path) -> None:
    assert ymt(env, "import", "supply_plan", DATA / "supply-plan-sample.xlsx").returncode == 0
    csv = gbk_csv(tmp_path / "储备.csv", ["项目名称,行政区划,年度,储备面积（亩）,拟收储时间",
                                          "武陵区丹阳路以北地块二期住宅项目,武陵区,2026,48.75,2026年第二季度"])
    out = ymt(env, "import", "reserve_plan", csv)
    assert "待复核 1" in out.stdout, out.stdout
    reviews = client.get("/api/v1/reviews", params={"state": "open"}, headers=registrar_headers).json()["items"]
    assert len(reviews) == 1 and reviews[0]["row"] == 2
    r = client.post(f"/api/v1/reviews/{reviews[0]['id']}/resolve", json={"decision": "keep_separate"},
                    headers=registrar_headers)
    assert r.status_code == 200 and r.json()["state"] == "kept"
    got = {p["name"]: p for p in projects(client, registrar_headers)}
    assert got["武陵区丹阳路以北地块二期住宅项目"]["area_m2"] == pytest.approx(32500)
    assert client.post(f"/api/v1/reviews/{reviews[0]['id']}/resolve", json={"decision": "merge"},
                       headers=registrar_headers).status_code == 409


def test_template_round_trip_and_export(env, client, registrar_headers, tmp_path) -> None:
    tpl = tmp_path / "模板.xlsx"
    assert ymt(env, "export", "template", "reserve_plan", tpl).returncode == 0
    wb = openpyxl.load_workbook(tpl)
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[2]]
    assert headers[:2] == ["*项目名称", "*行政区划"]
    assert any("代码表" in dv.formula1 for dv in ws.data_validations.dataValidation)
    ws.append(["石门县城东储备地块", "石门县", 2026, 5.5, "2026-08", "城镇住宅用地", "城东"])
    wb.save(tpl)
    out = ymt(env, "import", "reserve_plan", tpl)
    assert out.returncode == 0 and "新登记 1" in out.stdout, out.stdout + out.stderr
    xlsx = tmp_path / "项目库.xlsx"
    assert ymt(env, "export", "projects", xlsx, "--division", "430726").returncode == 0
    rows = list(openpyxl.load_workbook(xlsx).active.iter_rows(values_only=True))
    assert "行政区划=石门县" in rows[0][0]  # the title row names the filter
    assert rows[1][0] == "项目码" and rows[2][1] == "石门县城东储备地块" and rows[2][3] == "430726 石门县"


def test_wrong_files_are_clear_errors(env, tmp_path) -> None:
    junk = tmp_path / "x.xlsx"
    junk.write_bytes(b"not a workbook")
    out = ymt(env, "import", "supply_plan", junk)
    assert out.returncode != 0 and "xlsx" in out.stderr and "Traceback" not in out.stderr
    no_header = gbk_csv(tmp_path / "n.csv", ["a,b,c", "1,2,3"])
    out = ymt(env, "import", "supply_plan", no_header)
    assert out.returncode != 0 and "表头" in out.stderr
    assert ymt(env, "import", "nonsense", junk).returncode != 0
