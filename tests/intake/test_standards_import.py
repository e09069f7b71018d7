"""Importing real-world variants of the bureau's lists: GB/T 21010 columns, mixed uses, functional zones,
出让 without a method. Never a code issued from a guessed value."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import openpyxl
import pytest

from conftest import YMT
from intake.messy import gbk_csv

HEADER = ["序号", "项目名称", "行政区划", "供地方式", "土地用途", "面积（公顷）", "拟供地时间"]


def plan(path: Path, rows: list[list[object]], land_use_header: str = "土地用途",
         division_header: str = "行政区划") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2026年度常德市国有建设用地供应计划"])
    ws.append([h.replace("土地用途", land_use_header).replace("行政区划", division_header) for h in HEADER])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


GBT_ROWS = [
    [1, "经开区标准厂房项目", "常德经开区", "出让", "0601工业用地", 2.0, "2026-06"],
    [2, "西洞庭管理区营房项目", "西洞庭管理区", "划拨", "0901", 1.0, "2026-07"],
    [3, "铁路站场项目", "鼎城区", "划拨", "1001", 3.0, "2026-08"],                  # 21010 铁路用地: not one-to-one
    [4, "商住综合体项目", "柳叶湖", "招拍挂", "城镇住宅用地、商服用地", 1.5, "2026-09"],  # a mixed use
    [5, "桃花源景区住宅项目", "桃花源", "挂牌出让", "城镇住宅用地", 1.2, "2026-10"],
]


def post(client, headers, path: Path, **params: object):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/imports/supply_plan", params=params, headers=headers,
                       files={"file": (path.name, path.read_bytes())})


def projects(client, headers) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    items = client.get("/api/v1/projects", params={"limit": 1000}, headers=headers).json()["items"]
    return {p["name"]: p for p in items}


def refused(report: dict) -> dict[int, str]:
    return {r["row"]: r["reason"] for r in report["refused"]}


def test_a_gbt21010_column_named_by_its_header(client, registrar_headers, tmp_path) -> None:
    path = plan(tmp_path / "计划.xlsx", GBT_ROWS, land_use_header="土地用途(GB/T 21010)")
    r = post(client, registrar_headers, path)
    assert r.status_code == 422  # refused rows: nothing written
    report = r.json()["report"]
    assert set(refused(report)) == {5, 6} and "不是一一对应" in refused(report)[5] and "混合用途" in refused(report)[6]
    assert projects(client, registrar_headers) == {}
    r = post(client, registrar_headers, path, partial="true")
    got = projects(client, registrar_headers)
    plant = got["经开区标准厂房项目"]
    assert plant["land_use"] == "1001" and plant["division"] == "430702" and plant["zone"] == "jingkai"
    assert plant["supply_type"] == "20" and plant["edition"] == "2023"  # 出让 without a method
    barracks = got["西洞庭管理区营房项目"]
    assert barracks["land_use"] == "1501" and barracks["division"] == "430771" and barracks["zone"] == "xidongting"
    assert got["桃花源景区住宅项目"]["zone"] == "taohuayuan" and got["桃花源景区住宅项目"]["division"] == "430725"
    assert set(got) == {"经开区标准厂房项目", "西洞庭管理区营房项目", "桃花源景区住宅项目"}


def test_the_same_values_in_a_2023_column_are_read_as_2023(client, registrar_headers, tmp_path) -> None:
    path = plan(tmp_path / "计划.xlsx", GBT_ROWS)
    report = post(client, registrar_headers, path, partial="true").json()
    reasons = refused(report)
    assert "农村道路" in reasons[3] and "不一致" in reasons[3]  # 0601工业用地: the 2023 0601 is 农村道路
    assert "混合用途" in reasons[6]
    got = projects(client, registrar_headers)
    assert got["西洞庭管理区营房项目"]["land_use"] == "0901" and got["铁路站场项目"]["land_use"] == "1001"


def test_the_edition_chosen_for_the_import(client, registrar_headers, tmp_path) -> None:
    path = plan(tmp_path / "计划.xlsx", GBT_ROWS)
    report = post(client, registrar_headers, path, partial="true", land_use_edition="gbt21010").json()
    assert set(refused(report)) == {5, 6}
    assert projects(client, registrar_headers)["经开区标准厂房项目"]["land_use"] == "1001"
    bad = post(client, registrar_headers, path, land_use_edition="2020")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "land_use_edition"


def test_a_header_and_a_choice_that_disagree_stop_the_file(client, registrar_headers, tmp_path) -> None:
    path = plan(tmp_path / "计划.xlsx", GBT_ROWS, land_use_header="地类(三调)")
    r = post(client, registrar_headers, path, land_use_edition="2023")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "land_use_edition"
    old = plan(tmp_path / "旧.xlsx", GBT_ROWS, land_use_header="土地用途(2020试行版)")
    r = post(client, registrar_headers, old)
    assert r.status_code == 422 and "已停用" in r.json()["detail"]
    assert projects(client, registrar_headers) == {}


def test_zone_column_and_investment_codes_on_a_key_project_list(client, registrar_headers, tmp_path) -> None:
    csv = gbk_csv(tmp_path / "重点项目.csv", [
        "2026年常德市重点建设项目", "项目名称,级别,功能区,建设单位,投资项目代码,总投资（万元）",
        "高新区智能制造产业园,省,常德高新区,高新公司,2611-430703-04-01-342068,30000",
        "柳叶湖文旅项目,市,柳叶湖旅游度假区,文旅公司,2013-430702-04-01-342068,8000",
        "外地投资项目,市,经开区,外地公司,2611-440305-04-01-342068,1000"])
    r = client.post("/api/v1/imports/key_projects", params={"partial": "true"}, headers=registrar_headers,
                    files={"file": ("重点项目.csv", csv.read_bytes())})
    report = r.json()["report"] if r.status_code == 422 else r.json()
    assert list(refused(report)) == [4] and "时间码" in refused(report)[4]
    got = projects(client, registrar_headers)
    assert got["高新区智能制造产业园"]["division"] == "430703" and got["高新区智能制造产业园"]["zone"] == "gaoxin"
    assert got["外地投资项目"]["investment_code"] == "2611-440305-04-01-342068"  # another region: kept
    listed = client.get("/api/v1/projects", params={"zone": "gaoxin"}, headers=registrar_headers).json()["items"]
    assert [p["name"] for p in listed] == ["高新区智能制造产业园"]


def test_the_cli_takes_the_land_use_edition(db_url, tmp_path) -> None:
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}
    path = plan(tmp_path / "计划.xlsx", GBT_ROWS[:2])
    out = subprocess.run([YMT, "import", "supply_plan", str(path), "--land-use-edition", "gbt21010"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "新登记 2" in out.stdout
    bad = subprocess.run([YMT, "import", "supply_plan", str(path), "--land-use-edition", "1984"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "land_use_edition" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("kind", ["supply_plan", "key_projects"])
def test_templates_offer_zones_and_current_land_uses_only(client, ymt, tmp_path, kind: str) -> None:
    from yimatong.intake.templates import write_template

    path = tmp_path / "模板.xlsx"
    write_template(ymt, kind, path)
    wb = openpyxl.load_workbook(path)
    headers = [c.value for c in wb.worksheets[0][2]]
    assert "功能区" in headers
    codes = wb["代码表"]
    columns = {codes.cell(1, c).value: [codes.cell(r, c).value for r in range(2, codes.max_row + 1)]
               for c in range(1, codes.max_column + 1)}
    assert "常德经济技术开发区" in columns["zone"]
    assert "农村道路" in columns["land_use"] and "乡村道路用地" not in columns["land_use"]
    assert "耕地" not in columns["land_use"]  # first-level classes are not code values
