"""Results (成果输入接口 / 成果调取接口): multipart input, content addressing, downloads, confidentiality."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from api.helpers import add_result, put_stage, register
from conftest import make_token

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_result_with_files_is_stored_by_sha256_and_downloaded_intact(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    text = "用地预审与选址意见书 正文".encode()
    r = add_result(client, registrar_headers, code,
                   {"stage": "pre_review", "kind": "用地预审与选址意见书", "doc_no": "常自然资预〔2026〕1号",
                    "issued_at": "2026-02-01", "confidentiality": "internal", "data": {"area_m2": 5000}},
                   [("../../etc/意见书.pdf", PDF), ("正文.txt", text)])
    assert r.status_code == 201, r.text
    res = r.json()
    assert [f["name"] for f in res["files"]] == ["意见书.pdf", "正文.txt"]
    assert res["files"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert res["files"][0]["media_type"] == "application/pdf"
    assert res["files"][1]["media_type"].startswith("text/plain")
    f = res["files"][0]
    dl = client.get(f"/api/v1/results/{res['id']}/files/{f['id']}", headers=registrar_headers)
    assert dl.status_code == 200 and dl.content == PDF
    assert dl.headers["etag"] == f'"{f["sha256"]}"'
    assert "filename*=UTF-8''%E6%84%8F%E8%A7%81%E4%B9%A6.pdf" in dl.headers["content-disposition"]
    again = client.get(f"/api/v1/results/{res['id']}/files/{f['id']}",
                       headers=registrar_headers | {"If-None-Match": dl.headers["etag"]})
    assert again.status_code == 304
    listing = client.get(f"/api/v1/projects/{code}/results", params={"stage": "pre_review"},
                         headers=registrar_headers).json()
    assert [x["id"] for x in listing["items"]] == [res["id"]]


def test_same_file_twice_is_stored_once(client, ymt, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    for i in range(2):
        assert add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": f"k{i}"},
                          [("a.pdf", PDF)]).status_code == 201
    stored = [p for p in (ymt.settings.data_dir / "files").rglob("*") if p.is_file()]
    assert len(stored) == 1


def test_bad_meta_and_oversize(client, ymt, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    cases = [({"stage": "nowhere", "kind": "x"}, "meta.stage"), ({"stage": "supply"}, "meta.kind"),
             ({"stage": "supply", "kind": "x", "confidentiality": "secret"}, "meta.confidentiality"),
             ({"stage": "supply", "kind": "x", "data": [1]}, "meta.data"),
             ({"stage": "supply", "kind": "x", "issued_at": "昨天"}, "meta.issued_at"),
             ({"stage": "supply", "kind": "x", "parcels": [{"type": "Feature", "geometry": None}]},
              "meta.parcels.0.geometry")]
    for meta, field in cases:
        r = add_result(client, registrar_headers, code, meta)
        assert r.status_code == 422, (meta, r.text)
        assert r.json()["errors"][0]["field"] == field
    r = client.post(f"/api/v1/projects/{code}/results", data={"meta": "{oops"}, headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "meta"
    r = client.post(f"/api/v1/projects/{code}/results", files=[("files", ("a", b"x"))], headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "meta"
    ymt.settings.max_upload_bytes = 1000
    r = add_result(client, registrar_headers, code, {"stage": "supply", "kind": "x"}, [("big.bin", b"0" * 5000)])
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/api/v1/projects/{code}/results", headers=registrar_headers).json()["items"] == []


def test_role_may_add_results_only_to_its_stages(client, ymt, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    reg = {"Authorization": f"Bearer {make_token(ymt, 'registration_platform')}"}
    appr = {"Authorization": f"Bearer {make_token(ymt, 'approval_system')}"}
    assert add_result(client, reg, code, {"stage": "supply", "kind": "x"}).status_code == 403
    assert add_result(client, appr, code, {"stage": "registration", "kind": "x"}).status_code == 403
    assert add_result(client, appr, code, {"stage": "supply", "kind": "出让合同"}).status_code == 201
    assert add_result(client, reg, code, {"stage": "registration", "kind": "不动产权证书"}).status_code == 201


def test_cross_references_from_result_data_are_searchable(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    put_stage(client, registrar_headers, code, "land_approval")
    add_result(client, registrar_headers, code, {"stage": "supply", "kind": "出让合同", "data": {
        "supervision_no": "4307022026B00012", "agreed_start": "2026-06-01"}})
    chain = client.get(f"/api/v1/projects/{code}/chain", headers=registrar_headers).json()
    # the former kind supervision_no is the supply contract's 电子监管号 (supply_supervision_no)
    assert {"kind": "supply_supervision_no", "value": "4307022026B00012"} in chain["refs"]
    other = register(client, registrar_headers, name="另一个项目")["code"]
    found = client.get("/api/v1/projects", params={"q": " 4307022026B00012 "}, headers=registrar_headers).json()
    assert [p["code"] for p in found["items"]] == [code]  # the project list finds it by its 电子监管号
    assert client.get("/api/v1/projects", params={"q": "4307022026B0001"},  # a reference is matched whole
                      headers=registrar_headers).json()["items"] == []
    assert other != code


def test_idempotent_result_input(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    h = registrar_headers | {"Idempotency-Key": "res-1"}
    meta = {"stage": "pre_review", "kind": "意见书"}
    a = add_result(client, h, code, meta, [("a.pdf", PDF)])
    b = add_result(client, h, code, meta, [("a.pdf", PDF)])
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    assert add_result(client, h, code, meta, [("a.pdf", PDF + b"x")]).status_code == 409
    assert len(client.get(f"/api/v1/projects/{code}/results", headers=registrar_headers).json()["items"]) == 1


def test_package_zip_manifest_hashes_match_bytes(client, ymt, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "意见书"}, [("意见书.pdf", PDF)])
    add_result(client, registrar_headers, code, {"stage": "registration", "kind": "证书"}, [("证书.txt", b"cert")])
    reg = {"Authorization": f"Bearer {make_token(ymt, 'registration_platform')}"}
    for purpose, expected in (("registration", {"证书"}), ("archive", {"意见书", "证书"})):
        r = client.get(f"/api/v1/projects/{code}/package", params={"purpose": purpose}, headers=reg)
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        z = zipfile.ZipFile(io.BytesIO(r.content))
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["project"]["code"] == code and manifest["purpose"] == purpose
        assert {x["kind"] for x in manifest["results"]} == expected
        for res in manifest["results"]:
            for f in res["files"]:
                name = next(n for n in z.namelist() if n.endswith(f"{f['id']}-{f['name']}"))
                assert hashlib.sha256(z.read(name)).hexdigest() == f["sha256"]
    viewer = {"Authorization": f"Bearer {make_token(ymt, 'viewer')}"}
    assert client.get(f"/api/v1/projects/{code}/package", params={"purpose": "archive"},
                      headers=viewer).status_code == 403
    assert client.get(f"/api/v1/projects/{code}/package", params={"purpose": "x"},
                      headers=registrar_headers).status_code == 422
