"""Every endpoint × every role, and a restricted result never leaking through any interface."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from api.helpers import add_result, register
from conftest import make_token

ROLES = ("admin", "registrar", "approval_system", "registration_platform", "base_platform", "viewer")
WRITERS = {"admin", "registrar"}


@pytest.fixture
def world(client, ymt):  # type: ignore[no-untyped-def]
    headers = {role: {"Authorization": f"Bearer {make_token(ymt, role)}"} for role in ROLES}
    p = register(client, headers["registrar"])
    other = register(client, headers["registrar"], name="另一个项目")
    res = add_result(client, headers["registrar"], p["code"], {"stage": "pre_review", "kind": "意见书"},
                     [("a.txt", b"hello")]).json()
    return {"h": headers, "code": p["code"], "other": other["code"], "res": res}


def expected(role: str, allowed: set[str]) -> int:
    return 200 if role in allowed else 403


ALL = set(ROLES)


def requests_for(w):  # type: ignore[no-untyped-def]
    c, o, r = w["code"], w["other"], w["res"]
    f = r["files"][0]["id"]
    return [
        ("GET", "/api/v1/projects", None, ALL),
        ("GET", f"/api/v1/projects/{c}", None, ALL),
        ("GET", f"/api/v1/projects/{c}/chain", None, ALL),
        ("GET", f"/api/v1/projects/{c}/stages", None, ALL),
        ("GET", f"/api/v1/projects/{c}/results", None, ALL),
        ("GET", f"/api/v1/results/{r['id']}", None, ALL),
        ("GET", f"/api/v1/results/{r['id']}/files/{f}", None, ALL),
        ("GET", f"/api/v1/projects/{c}/qr.svg", None, ALL),
        ("GET", f"/api/v1/codes/{c}", None, ALL),
        ("GET", "/api/v1/code-tables", None, ALL),
        ("GET", "/api/v1/events", None, ALL),
        ("GET", "/api/v1/ledger/verify", None, {"admin"}),  # admin only (issue 10.10)
        ("GET", f"/api/v1/projects/{c}/package?purpose=archive", None, {"admin", "registrar",
                                                                          "registration_platform"}),
        ("PATCH", f"/api/v1/projects/{c}", {"builder": "新"}, WRITERS),
        ("PUT", f"/api/v1/projects/{c}/stages/pre_review", {"status": "in_progress"},
         WRITERS | {"approval_system"}),
        ("POST", f"/api/v1/projects/{c}/stages/inspection/records", {"note": "巡查"}, WRITERS | {"approval_system"}),
        ("PUT", f"/api/v1/projects/{o}/stages/registration", {"status": "returned"},
         WRITERS | {"registration_platform"}),
    ]


def test_every_endpoint_for_every_role(client, world) -> None:
    for method, path, body, allowed in requests_for(world):
        assert client.request(method, path, json=body).status_code == 401, path
        for role in ROLES:
            r = client.request(method, path, json=body, headers=world["h"][role])
            want = expected(role, allowed)
            ok = r.status_code in (200, 201) if want == 200 else r.status_code == want
            assert ok, (method, path, role, r.status_code, r.text[:200])


def test_writes_that_only_registrars_may_do(client, world) -> None:
    for role in ROLES:
        r = client.post("/api/v1/projects", json={"name": "x"}, headers=world["h"][role])
        assert r.status_code == (422 if role in WRITERS else 403), role
        if role in WRITERS:
            continue
        assert client.post(f"/api/v1/projects/{world['code']}/void", json={"reason": "x"},
                           headers=world["h"][role]).status_code == 403
        assert client.post(f"/api/v1/projects/{world['code']}/merge", json={"into": world["other"], "reason": "x"},
                           headers=world["h"][role]).status_code == 403


def test_restricted_result_never_leaks(client, world) -> None:
    """Added by the approval system as restricted: visible to admin, registrar and approval_system only."""
    h, code = world["h"], world["code"]
    secret = add_result(client, h["approval_system"], code,
                        {"stage": "land_approval", "kind": "征收补偿方案", "confidentiality": "restricted",
                         "data": {"secret_marker": "绝密-补偿标准"}}, [("补偿.txt", "补偿标准 绝密".encode())]).json()
    fid = secret["files"][0]["id"]
    for role in ROLES:
        sees = role in ("admin", "registrar", "approval_system")
        hdr = h[role]
        listing = client.get(f"/api/v1/projects/{code}/results", headers=hdr).json()["items"]
        assert (secret["id"] in [x["id"] for x in listing]) is sees, role
        assert client.get(f"/api/v1/results/{secret['id']}", headers=hdr).status_code == (200 if sees else 404)
        assert client.get(f"/api/v1/results/{secret['id']}/files/{fid}",
                          headers=hdr).status_code == (200 if sees else 404)
        chain = client.get(f"/api/v1/projects/{code}/chain", headers=hdr).text
        assert ("绝密-补偿标准" in chain) is sees and ("征收补偿方案" in chain) is sees, role
        feed = client.get("/api/v1/events", params={"limit": 1000}, headers=hdr).text
        assert ("征收补偿方案" in feed) is sees, role
        pkg = client.get(f"/api/v1/projects/{code}/package", params={"purpose": "archive"}, headers=hdr)
        if pkg.status_code == 200:
            z = zipfile.ZipFile(io.BytesIO(pkg.content))
            manifest = json.loads(z.read("manifest.json"))
            assert (secret["id"] in [x["id"] for x in manifest["results"]]) is sees
            assert any("补偿" in n for n in z.namelist()) is sees
    public = client.get(f"/p/{code}").text
    assert "征收补偿方案" not in public and "意见书" not in public  # internal results are not public either
