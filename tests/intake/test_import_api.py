"""POST /api/v1/imports/{kind}: the report as JSON, 422 with the report when refused rows stopped the file."""

from __future__ import annotations

from pathlib import Path

from intake.messy import GOOD_ROWS, supply_plan_xlsx

DATA = Path(__file__).resolve().parent.parent / "data"


def test_import_api_report_and_refusal(client, registrar_headers, tmp_path) -> None:
    data = (DATA / "supply-plan-sample.xlsx").read_bytes()
    dry = client.post("/api/v1/imports/supply_plan", params={"dry_run": "true"},
                      files={"file": ("供应计划.xlsx", data)}, headers=registrar_headers)
    assert dry.status_code == 200 and dry.json()["counts"]["taken"] == 4 and dry.json()["written"] is False
    assert client.get("/api/v1/projects", headers=registrar_headers).json()["items"] == []
    r = client.post("/api/v1/imports/supply_plan", files={"file": ("供应计划.xlsx", data)}, headers=registrar_headers)
    body = r.json()
    assert r.status_code == 200 and body["counts"] == {"rows": 4, "taken": 4, "merged": 0, "refused": 0, "review": 0,
                                                       "skipped": 3, "unchanged": 0}
    assert [t["row"] for t in body["taken"]] == [3, 4, 5, 6]
    bad = supply_plan_xlsx(tmp_path / "b.xlsx", [*GOOD_ROWS, [9, "坏行", "武陵区", "挂牌", "飞机场", 1, None, "x"]])
    r = client.post("/api/v1/imports/supply_plan", files={"file": ("b.xlsx", bad.read_bytes())},
                    headers=registrar_headers)
    assert r.status_code == 422
    problem = r.json()
    assert problem["report"]["counts"]["refused"] == 1
    assert {e["field"] for e in problem["errors"]} == {"rows.8.出让用途", "rows.8.拟供地时间"}
    assert client.post("/api/v1/imports/nothing", files={"file": ("b.xlsx", b"x")},
                       headers=registrar_headers).status_code == 404
    runs = client.get("/api/v1/imports", headers=registrar_headers).json()["items"]
    assert len(runs) == 1 and runs[0]["counts"]["taken"] == 4
