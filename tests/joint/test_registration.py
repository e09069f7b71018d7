"""Materials (要件), typed results and zero-material registration over real HTTP: materials answered from earlier
results and missing ones named, a typed 出让合同 refused for a bad 电子监管号 with the path inside `data`, readiness
becoming true once (registration.ready), and the registration package's registration.json carrying the contract's
fields (API.md, "Materials (要件) and registration readiness", "Typed results")."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from conftest import LiveServer, project_body
from joint.helpers import client
from yimatong.client.sdk import YmtError

UNIT = "430702001001GB00012W00000000"
CONTRACT = "国有建设用地使用权出让合同"
CONTRACT_DATA = {
    "supervision_no": "4307022026B00012", "parcel_no": "WL2026-12", "assignee": "常德市武陵置业有限公司",
    "location": "武陵区丹阳街道柳叶大道以北", "area_m2": 23456.7, "land_use": "0701", "price_yuan": 123_000_000,
    "agreed_delivery": "2026-10-15", "agreed_start": "2027-04-15", "agreed_finish": "2029-04-15",
    "term_start": "2026-10-15", "term_years": 70, "plot_ratio_max": 2.5, "building_density_max": 0.3,
    "height_limit_m": 80, "green_ratio_min": 0.35, "land_price_paid_at": "2026-10-10", "unit_no": UNIT,
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_materials_typed_results_readiness_and_registration_json(live_server: LiveServer, tmp_path: Path) -> None:
    reg = client(live_server, live_server.token("registrar"))
    approval = client(live_server, live_server.token("approval_system"))
    platform = client(live_server, live_server.token("registration_platform"))
    code = reg.register_project(project_body(builder="常德建设有限公司"))["code"]
    pre = reg.add_result(code, {"stage": "pre_review", "kind": "用地预审与选址意见书", "doc_no": "用字第430702202600001号",
                                "issued_at": "2026-03-02"}, [("预审意见书.pdf", PDF)])
    reg.set_stage(code, "land_approval", "done")

    # a typed contract with a bad 电子监管号: 422 naming the path inside data, nothing written
    before = len(reg.results(code))
    with pytest.raises(YmtError) as exc:
        reg.add_result(code, {"stage": "supply", "kind": CONTRACT, "data": {**CONTRACT_DATA, "supervision_no": "43070226B12"}})
    assert exc.value.status == 422 and exc.value.errors[0]["field"] == "meta.data.supervision_no"
    assert "电子监管号" in exc.value.errors[0]["message"]
    for bad, field in (({"area_m2": "两万"}, "meta.data.area_m2"), ({"agreed_start": "2027-02-30"}, "meta.data.agreed_start"),
                       ({"government_cause": "是"}, "meta.data.government_cause")):
        with pytest.raises(YmtError) as exc:
            reg.add_result(code, {"stage": "supply", "kind": CONTRACT, "data": bad})
        assert exc.value.errors[0]["field"] == field, bad
    with pytest.raises(YmtError) as exc:   # a typed kind belongs to its stage (where the materials look for it)
        reg.add_result(code, {"stage": "registration", "kind": CONTRACT, "data": CONTRACT_DATA})
    assert exc.value.errors[0]["field"] == "meta.stage" and "土地供应" in exc.value.errors[0]["message"]
    assert len(reg.results(code)) == before
    # a partial contract is taken (v1 clients send partial data); the missing fields show in readiness
    reg.add_result(code, {"stage": "supply", "kind": CONTRACT, "doc_no": "草签", "data": {"area_m2": 1.0}})
    contract = reg.add_result(code, {"stage": "supply", "kind": CONTRACT, "doc_no": "常出让〔2026〕12号",
                                     "issued_at": "2026-09-18", "data": CONTRACT_DATA}, [("出让合同.pdf", PDF)])
    reg.set_stage(code, "supply", "done", finished_at="2026-09-18")

    items = {m["name"]: m for m in reg.materials(code, "land_use_permit")}
    assert items["用地预审与选址意见书"]["result_id"] == pre["id"]
    assert items["用地预审与选址意见书"]["files"] == [{"id": pre["files"][0]["id"], "name": "预审意见书.pdf",
                                                 "sha256": hashlib.sha256(PDF).hexdigest()}]
    assert items[CONTRACT]["result_id"] == contract["id"] and items[CONTRACT]["from_stage"] == "supply"
    assert items["建设项目批准、核准、备案文件"]["result_id"] is None and not items["建设项目批准、核准、备案文件"]["required"]

    ready = platform.registration_readiness(code)
    assert ready["ready"] is False
    names = {m["name"]: m for m in ready["missing"]}
    assert names["建设用地规划许可证"]["kind"] == "建设用地规划许可证"
    assert names["建设用地规划许可证"]["from_stage"] == "land_use_permit" and names["建设用地规划许可证"]["reason"]
    assert "契税完税凭证" in names and "使用期限" not in names and "出让价款缴清" not in names

    # the permit is restricted (approval system): the library holds it, the registration platform may not see it
    approval.add_result(code, {"stage": "land_use_permit", "kind": "建设用地规划许可证", "doc_no": "地字第430702202600012号",
                               "issued_at": "2026-10-20", "confidentiality": "restricted",
                               "data": {"permit_no": "地字第430702202600012号", "area_m2": 23456.7,
                                        "land_use_nature": "二类居住用地"}}, [("规划许可证.pdf", PDF + b"p")])
    assert [m for m in platform.materials(code, "registration") if m["kind"] == "建设用地规划许可证"][0]["result_id"] is None
    assert not any(e["type"] == "registration.ready" for e in reg.events() if e["code"] == code)
    reg.add_result(code, {"stage": "registration", "kind": "契税完税凭证", "doc_no": "完税(2026)001",
                          "issued_at": "2026-11-02", "data": {"voucher_no": "完税(2026)001", "paid_at": "2026-11-02"}})
    assert reg.registration_readiness(code) == {"ready": True, "missing": []}
    reg.add_result(code, {"stage": "registration", "kind": "地籍调查成果"})   # still ready: announced once
    announced = [e for e in reg.events() if e["type"] == "registration.ready" and e["code"] == code]
    assert len(announced) == 1 and announced[0]["data"] == {"code": code}

    pkg = platform.package(code, "registration", tmp_path / "reg.zip")
    with zipfile.ZipFile(pkg) as z:
        doc = json.loads(z.read("registration.json"))
    assert doc["code"] == code and doc["holder"] == "常德市武陵置业有限公司"
    assert doc["unit_no"] == UNIT and doc["parcel_code"] == UNIT[:19]
    assert doc["location"] == CONTRACT_DATA["location"] and doc["area_m2"] == 23456.7 and doc["land_use"] == "0701"
    assert doc["right_type_code"] == "102"   # 挂牌出让 → 出让
    assert doc["term"] == {"start": "2026-10-15", "end": "2096-10-15"}
    assert doc["payments"] == {"land_price_paid": True, "land_price_paid_at": "2026-10-10", "deed_tax_paid": True}
    docs = {d["doc_no"]: d for d in doc["documents"]}
    assert docs["常出让〔2026〕12号"]["kind"] == CONTRACT and docs["常出让〔2026〕12号"]["issued_at"] == "2026-09-18"
    assert docs["常出让〔2026〕12号"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert "地字第430702202600012号" not in docs   # restricted: not in the platform's package
    # what the platform's own view lacks is listed as missing in its package
    assert [m["name"] for m in doc["missing"]] == ["建设用地规划许可证"]

    kinds = {k["kind"]: k for k in reg.result_kinds()}
    assert kinds[CONTRACT]["stage"] == "supply"
    assert kinds[CONTRACT]["schema"]["properties"]["supervision_no"]["type"] == "string"


def test_holder_falls_back_to_the_builder_and_allocation_has_no_term_or_price(live_server: LiveServer,
                                                                               tmp_path: Path) -> None:
    reg = client(live_server, live_server.token("registrar"))
    code = reg.register_project(project_body(supply_type="10", builder="常德市第一中学"))["code"]
    reg.add_result(code, {"stage": "supply", "kind": "国有建设用地划拨决定书", "doc_no": "划拨〔2026〕3号",
                          "data": {"location": "鼎城区", "area_m2": 5000}})
    ready = reg.registration_readiness(code)
    names = [m["name"] for m in ready["missing"]]
    assert "使用期限" not in names and "出让价款缴清" not in names and "不动产单元号" in names
    with zipfile.ZipFile(reg.package(code, "registration", tmp_path / "r.zip")) as z:
        doc = json.loads(z.read("registration.json"))
    assert doc["holder"] == "常德市第一中学" and doc["right_type_code"] == "101" and doc["term"] is None
    assert doc["unit_no"] is None and "不动产单元号" in [m["name"] for m in doc["missing"]]
