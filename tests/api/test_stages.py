"""Stages (项目阶段接口): catalogue, prerequisite rules as 409, role limits, history, inspections."""

from __future__ import annotations

from api.helpers import put_stage, register
from conftest import make_token


def test_stage_catalogue_with_statuses(client, registrar_headers) -> None:
    p = register(client, registrar_headers)
    stages = client.get(f"/api/v1/projects/{p['code']}/stages", headers=registrar_headers).json()
    assert [s["key"] for s in stages][:4] == ["intake", "pre_review", "land_approval", "reserve"]
    assert stages[0]["status"] == "done" and stages[1]["status"] == "pending"
    assert stages[1]["group"] == "批" and stages[-2]["group"] == "登"


def test_prerequisite_rule_is_409_naming_the_rule_and_changes_nothing(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    r = put_stage(client, registrar_headers, code, "supply")
    assert r.status_code == 409
    body = r.json()
    assert body["rule"] == "supply_after_land_approval" and "农用地转用" in body["detail"]
    assert body["errors"][0]["field"] == "status"
    assert client.get(f"/api/v1/projects/{code}/stages", headers=registrar_headers).json()[4]["status"] == "pending"
    assert put_stage(client, registrar_headers, code, "land_approval", "not_applicable").status_code == 200
    r = put_stage(client, registrar_headers, code, "supply", case_no="GD-2026-001", department="土地利用科",
                  finished_at="2026-03-01")
    assert r.status_code == 200, r.text
    assert r.json()["case_no"] == "GD-2026-001" and r.json()["updated_by"].startswith("registrar")
    project = client.get(f"/api/v1/projects/{code}", headers=registrar_headers).json()
    assert project["current_stage"] == "supply"
    assert client.get("/api/v1/projects", params={"stage": "supply"}, headers=registrar_headers).json()["items"]
    assert put_stage(client, registrar_headers, code, "works_permit").status_code == 409
    assert put_stage(client, registrar_headers, code, "registration", "in_progress").status_code == 200


def test_roles_limit_which_stages_they_write(client, ymt, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    approval = {"Authorization": f"Bearer {make_token(ymt, 'approval_system')}"}
    registration = {"Authorization": f"Bearer {make_token(ymt, 'registration_platform')}"}
    viewer = {"Authorization": f"Bearer {make_token(ymt, 'viewer')}"}
    assert put_stage(client, approval, code, "pre_review").status_code == 200
    assert put_stage(client, approval, code, "registration", "in_progress").status_code == 403
    assert put_stage(client, registration, code, "pre_review").status_code == 403
    assert put_stage(client, viewer, code, "pre_review").status_code == 403
    assert put_stage(client, approval, code, "land_approval").status_code == 200
    assert put_stage(client, approval, code, "supply").status_code == 200
    assert put_stage(client, registration, code, "registration").status_code == 200


def test_bad_stage_input(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    r = put_stage(client, registrar_headers, code, "pre_review", "finished")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
    r = put_stage(client, registrar_headers, code, "pre_review", finished_at="2026-13-45")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "finished_at"
    assert put_stage(client, registrar_headers, code, "no_such_stage").status_code == 404
    assert put_stage(client, registrar_headers, "CD43070220260102230701999999", "pre_review").status_code == 404
    client.post(f"/api/v1/projects/{code}/void", json={"reason": "错误"}, headers=registrar_headers)
    assert put_stage(client, registrar_headers, code, "pre_review").status_code == 409


def test_history_and_repeated_inspections(client, registrar_headers) -> None:
    code = register(client, registrar_headers)["code"]
    put_stage(client, registrar_headers, code, "pre_review", "in_progress")
    put_stage(client, registrar_headers, code, "pre_review", "returned", note="材料不全")
    put_stage(client, registrar_headers, code, "pre_review", "done")
    hist = client.get(f"/api/v1/projects/{code}/stages/pre_review/history", headers=registrar_headers).json()
    assert [(h["previous_status"], h["status"]) for h in hist] == [
        ("pending", "in_progress"), ("in_progress", "returned"), ("returned", "done")]
    assert hist[1]["note"] == "材料不全"
    for i in range(3):
        r = client.post(f"/api/v1/projects/{code}/stages/inspection/records",
                        json={"case_no": f"WP-{i}", "department": "执法支队", "note": "卫片执法"},
                        headers=registrar_headers)
        assert r.status_code == 201, r.text
    hist = client.get(f"/api/v1/projects/{code}/stages/inspection/history", headers=registrar_headers).json()
    assert [h["case_no"] for h in hist] == ["WP-0", "WP-1", "WP-2"]
    chain = client.get(f"/api/v1/projects/{code}/chain", headers=registrar_headers).json()
    types = [e["type"] for e in chain["events"]]
    assert types.count("stage.changed") == 6 and types[0] == "project.registered"
