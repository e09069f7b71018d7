"""Registering, reading, changing, voiding and merging projects through the REST API."""

from __future__ import annotations

import httpx

from conftest import make_token, project_body

PROBLEM = "application/problem+json"


def register(client: httpx.Client, headers: dict[str, str], **over: object) -> dict:
    r = client.post("/api/v1/projects", json=project_body(**over), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_register_issues_a_code_matching_the_request(client, registrar_headers) -> None:
    p = register(client, registrar_headers)
    assert p["code"] == "CD43070220260102230701000001"
    assert p["status"] == "active" and p["current_stage"] == "intake" and p["code_outdated"] is False
    parsed = client.get(f"/api/v1/codes/{p['code']}", headers=registrar_headers).json()
    assert {s["name"]: s["label"] for s in parsed["segments"]}["supply_type"] == "挂牌出让"
    again = register(client, registrar_headers, name="第二个项目")
    assert again["code"].endswith("000002")
    other_division = register(client, registrar_headers, name="鼎城项目", division="430703")
    assert other_division["code"].endswith("000001")


def test_duplicate_investment_code_is_409_with_existing_code(client, registrar_headers) -> None:
    p = register(client, registrar_headers, investment_code="2611-430702-70-01-123456")
    r = client.post("/api/v1/projects", json=project_body(name="另一个", investment_code="2611-430702-70-01-123456"),
                    headers=registrar_headers)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["existing_code"] == p["code"]
    assert r.json()["errors"][0]["field"] == "investment_code"


def test_bad_input_is_422_naming_the_field_and_writes_nothing(client, registrar_headers) -> None:
    cases = [
        ({"land_use": "9999"}, "land_use"),
        ({"division": "110101"}, "division"),
        ({"year": "二零二六"}, "year"),
        ({"name": "x" * 201}, "name"),
        ({"name": None}, "name"),
        ({"area_m2": "big"}, "area_m2"),
        ({"investment_code": "123"}, "investment_code"),
        ({"sources": [{"kind": "rumour"}]}, "sources.0.kind"),
        ({"approval_type": 1}, "approval_type"),
    ]
    for over, field in cases:
        r = client.post("/api/v1/projects", json=project_body(**over), headers=registrar_headers)
        assert r.status_code == 422, (over, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert field in [e["field"] for e in r.json()["errors"]], (over, r.json())
    body = project_body()
    del body["division"]
    r = client.post("/api/v1/projects", json=body, headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "division"
    r = client.post("/api/v1/projects", content=b"{not json", headers=registrar_headers | {
        "content-type": "application/json"})
    assert r.status_code == 400
    listing = client.get("/api/v1/projects", headers=registrar_headers).json()
    assert listing["items"] == []
    assert register(client, registrar_headers)["code"].endswith("000001"), "failed requests must not use serials"


def test_auth_401_and_403(client, ymt, registrar_headers) -> None:
    assert client.get("/api/v1/projects").status_code == 401
    assert client.get("/api/v1/projects", headers={"Authorization": "Bearer nope"}).status_code == 401
    viewer = {"Authorization": f"Bearer {make_token(ymt, 'viewer')}"}
    assert client.get("/api/v1/projects", headers=viewer).status_code == 200
    r = client.post("/api/v1/projects", json=project_body(), headers=viewer)
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)


def test_idempotent_replay_creates_nothing_and_other_body_conflicts(client, registrar_headers) -> None:
    h = registrar_headers | {"Idempotency-Key": "abc-1"}
    first = client.post("/api/v1/projects", json=project_body(), headers=h)
    second = client.post("/api/v1/projects", json=project_body(), headers=h)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    r = client.post("/api/v1/projects", json=project_body(name="别的"), headers=h)
    assert r.status_code == 409
    items = client.get("/api/v1/projects", headers=registrar_headers).json()["items"]
    assert len(items) == 1


def test_patch_keeps_code_and_flags_outdated(client, registrar_headers) -> None:
    p = register(client, registrar_headers)
    r = client.patch(f"/api/v1/projects/{p['code']}", json={"supply_type": "10", "builder": "新单位"},
                     headers=registrar_headers)
    assert r.status_code == 200, r.text
    assert r.json()["code"] == p["code"] and r.json()["code_outdated"] is True
    assert r.json()["builder"] == "新单位"
    r = client.patch(f"/api/v1/projects/{p['code']}", json={"supply_type": "23"}, headers=registrar_headers)
    assert r.json()["code_outdated"] is False
    r = client.patch(f"/api/v1/projects/{p['code']}", json={"land_use": "12"}, headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "land_use"
    r = client.patch(f"/api/v1/projects/{p['code']}", json={"code": "CD000"}, headers=registrar_headers)
    assert r.status_code == 422


def test_void_and_merge(client, registrar_headers) -> None:
    a = register(client, registrar_headers, investment_code="2611-430702-70-01-000001")
    b = register(client, registrar_headers, name="同一项目重复登记")
    r = client.post(f"/api/v1/projects/{b['code']}/merge", json={"into": a["code"], "reason": "重复"},
                    headers=registrar_headers)
    assert r.status_code == 200 and r.json()["status"] == "merged" and r.json()["merged_into"] == a["code"]
    got = client.get(f"/api/v1/projects/{b['code']}", headers=registrar_headers).json()
    assert got["merged_into"] == a["code"]
    survivor = client.get(f"/api/v1/projects/{a['code']}", headers=registrar_headers).json()
    assert {"kind": "manual", "ref": "T-1"} in survivor["sources"]
    r = client.post(f"/api/v1/projects/{b['code']}/void", json={"reason": "x"}, headers=registrar_headers)
    assert r.status_code == 409
    r = client.post(f"/api/v1/projects/{a['code']}/void", json={"reason": "错误赋码"}, headers=registrar_headers)
    assert r.status_code == 200 and r.json()["status"] == "void"
    # the voided project's investment code may be registered again; its code is never reused
    c = register(client, registrar_headers, investment_code="2611-430702-70-01-000001")
    assert c["code"] not in (a["code"], b["code"])
    assert client.get("/api/v1/projects/CD43070220260102230701999999",
                      headers=registrar_headers).status_code == 404


def test_split_links_children_to_parent(client, registrar_headers) -> None:
    p = register(client, registrar_headers)
    r = client.post(f"/api/v1/projects/{p['code']}/split",
                    json={"parts": [{"name": "一期"}, {"name": "二期", "land_use": "0901"}], "reason": "分期供地"},
                    headers=registrar_headers)
    assert r.status_code == 201, r.text
    kids = r.json()
    assert [k["parent_code"] for k in kids] == [p["code"], p["code"]]
    assert kids[1]["code"][18:22] == "0901"


def test_list_filters_and_pagination_walk_every_item_once(client, registrar_headers) -> None:
    for i in range(7):
        register(client, registrar_headers, name=f"项目{i}", division="430702" if i % 2 else "430703")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/projects", params=params, headers=registrar_headers).json()
        seen += [p["code"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    r = client.get("/api/v1/projects", params={"division": "430703"}, headers=registrar_headers).json()
    assert len(r["items"]) == 4
    r = client.get("/api/v1/projects", params={"q": "项目3"}, headers=registrar_headers).json()
    assert [p["name"] for p in r["items"]] == ["项目3"]
    assert client.get("/api/v1/projects", params={"limit": 1001}, headers=registrar_headers).status_code == 422
    assert client.get("/api/v1/projects", params={"cursor": "garbage!"}, headers=registrar_headers).status_code == 422
    assert client.get("/api/v1/projects", params={"source": "manual"}, headers=registrar_headers).json()["items"]


def test_code_endpoint_and_tables(client, registrar_headers) -> None:
    r = client.get("/api/v1/codes/CD43070220260101210701000001", headers=registrar_headers)
    assert r.status_code == 200 and r.json()["valid"] is True
    r = client.get("/api/v1/codes/CD43070220260101219999000001", headers=registrar_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "land_use"
    t = client.get("/api/v1/code-tables", headers=registrar_headers).json()
    assert {"value": "430702", "label": "武陵区"}.items() <= next(e for e in t["division"] if e["value"] == "430702").items()
    assert t["stages"][0] == {"key": "intake", "name": "入库赋码", "group": None}
    assert client.get("/api/v1/nothing-here", headers=registrar_headers).headers["content-type"].startswith(PROBLEM)
