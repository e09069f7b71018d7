"""Workbooks that explode and reports that swamp: an xlsx is a zip, checked (members, unpacked size, shared
strings) before openpyxl loads it; import reports in API answers are capped, the whole report goes to a file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from conftest import YMT
from intake.messy import GOOD_ROWS, supply_plan_xlsx
from spatial.service_helpers import configured
from yimatong.intake.sheets import IntakeFileError, SheetLimits, read_table

BAD_ROW = [9, "坏行", "武陵区", "挂牌", "飞机场", 1, None, "x"]  # two reasons: 出让用途 and 拟供地时间


def many_strings(path: Path, n: int) -> bytes:
    """A workbook as Excel writes it: text in the shared-string table (openpyxl writes inline strings)."""
    with xlsxwriter.Workbook(str(path)) as wb:
        ws = wb.add_worksheet()
        for i in range(n):
            ws.write_string(i, 0, f"字符串{i}")
    return path.read_bytes()


def test_too_many_shared_strings_is_413_before_openpyxl_loads_them(db_url: str, tmp_path: Path) -> None:
    """A 0.95 MB xlsx with 3 million shared strings froze the service 35 s."""
    data = many_strings(tmp_path / "s.xlsx", 2000)
    with pytest.raises(IntakeFileError) as exc:
        read_table(data, "计划.xlsx", limits=SheetLimits(shared_strings=1000))
    assert exc.value.status == 413 and "计划.xlsx" in exc.value.message
    assert len(list(read_table(data, "计划.xlsx", limits=SheetLimits(shared_strings=5000)).rows)) == 2000
    with configured(db_url, tmp_path, max_shared_strings=1000) as (client, headers):
        r = client.post("/api/v1/imports/supply_plan", files={"file": ("计划.xlsx", data)}, headers=headers)
        assert r.status_code == 413 and r.json()["errors"][0]["field"] == "file"


def test_workbook_with_a_huge_member_is_413(db_url: str, tmp_path: Path) -> None:
    plain = supply_plan_xlsx(tmp_path / "p.xlsx", GOOD_ROWS).read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("xl/media/padding.bin", b"\0" * (24 * 2**20))
    with configured(db_url, tmp_path, max_unzipped_bytes=16 * 2**20) as (client, headers):
        r = client.post("/api/v1/imports/supply_plan", files={"file": ("计划.xlsx", buf.getvalue())}, headers=headers)
        assert r.status_code == 413 and "计划.xlsx" in r.json()["detail"]
        ok = client.post("/api/v1/imports/supply_plan", params={"dry_run": "true"},
                         files={"file": ("计划.xlsx", plain)}, headers=headers)
        assert ok.status_code == 200 and ok.json()["counts"]["taken"] == 3


def test_report_in_the_api_answer_is_capped_and_says_so(db_url: str, tmp_path: Path) -> None:
    """300 000 bad rows gave a 58.6 MB JSON answer."""
    rows = [[i, f"坏行{i}", "武陵区", "挂牌", "飞机场", 1, None, "x"] for i in range(300)]
    data = supply_plan_xlsx(tmp_path / "bad.xlsx", [*GOOD_ROWS, *rows]).read_bytes()
    with configured(db_url, tmp_path, report_rows=20) as (client, headers):
        r = client.post("/api/v1/imports/supply_plan", files={"file": ("bad.xlsx", data)}, headers=headers)
        assert r.status_code == 422
        report = r.json()["report"]
        assert report["counts"]["refused"] == 300 and report["counts"]["rows"] == 303
        assert len(report["refused"]) == 20 and report["truncated"]["omitted"]["refused"] == 600 - 20
        assert "--report" in report["truncated"]["note"]
        part = client.post("/api/v1/imports/supply_plan", params={"partial": "true", "dry_run": "true"},
                           files={"file": ("bad.xlsx", data)}, headers=headers)
        assert part.status_code == 200 and len(part.json()["refused"]) == 20 and part.json()["counts"]["taken"] == 3


@pytest.mark.parametrize("suffix", [".json", ".xlsx"])
def test_cli_prints_the_first_rows_and_writes_the_whole_report(db_url: str, tmp_path: Path, suffix: str) -> None:
    rows = [[i, f"坏行{i}", "武陵区", "挂牌", "飞机场", 1, None, "x"] for i in range(120)]
    src = supply_plan_xlsx(tmp_path / "bad.xlsx", [*GOOD_ROWS, *rows])
    out = tmp_path / f"报告{suffix}"
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([YMT, "import", "supply_plan", str(src), "--report", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("被拒   第") == 50 and "--report" in done.stderr and str(out) in done.stdout
    if suffix == ".json":
        report = json.loads(out.read_text(encoding="utf-8"))
        assert report["counts"]["refused"] == 120 and len(report["refused"]) == 240
    else:
        wb = openpyxl.load_workbook(out, read_only=True)
        assert wb.sheetnames[:2] == ["汇总", "新登记"] and "被拒" in wb.sheetnames
        refused = list(wb["被拒"].iter_rows(values_only=True))
        assert refused[0][:3] == ("行号", "列", "原因") and len(refused) == 241
    bad = subprocess.run([YMT, "import", "supply_plan", str(src), "--report", str(tmp_path / "r.csv")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and ".xlsx" in bad.stderr and "Traceback" not in bad.stderr
