"""Issue 15.5 (国密: an SM3 ledger and file store, SM2 signatures, files sealed at rest) and 15.4 (the read
audit: one record per non-public download, package and export; tamper-evident)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from api.helpers import add_result, register
from conftest import YMT, make_token
from ledger import rfc9162
from ledger.tamper import sql


def sm3(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([YMT, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(settings) -> dict[str, str]:
    return {**os.environ, "YMT_DATABASE_URL": settings.database_url, "YMT_DATA_DIR": str(settings.data_dir)}


def test_an_sm3_ledger_is_chosen_at_init_kept_and_verified(client, registrar_headers, env, db_url) -> None:
    out = run(env | {"YMT_LEDGER_HASH": "sm3"}, "init")
    assert out.returncode == 0 and "sm3" in out.stdout, out.stderr
    code = register(client, registrar_headers)["code"]
    payload = "不动产权证书".encode() * 100
    res = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "证书"}, [("证书.txt", payload)]).json()
    f = res["files"][0]
    assert f["sha256"] == sm3(payload)  # the address field keeps its contract name, holds the SM3 digest
    r = client.get(f"/api/v1/results/{res['id']}/files/{f['id']}", headers=registrar_headers)
    assert r.content == payload and r.headers["ETag"] == f'"{sm3(payload)}"'
    head = client.get("/api/v1/ledger/tree-head", headers=registrar_headers).json()
    assert head["hash_alg"] == "sm3"
    events = client.get("/api/v1/events", headers=registrar_headers).json()["items"]
    assert rfc9162.mth("sm3", [bytes.fromhex(e["hash"]) for e in events]).hex() == head["root_hash"]
    assert run(env, "ledger", "verify").returncode == 0
    # a later init asking for sha256 changes nothing: the database keeps what it was created with
    again = run(env | {"YMT_LEDGER_HASH": "sha256"}, "init")
    assert again.returncode == 0 and "sm3" in again.stdout and "不再生效" in again.stderr
    sql(db_url, "UPDATE projects SET name = '改名'")
    bad = run(env, "ledger", "verify")
    assert bad.returncode == 1 and "name" in bad.stderr


def test_an_existing_sha256_ledger_stays_sha256(client, registrar_headers, env) -> None:
    register(client, registrar_headers)
    out = run(env | {"YMT_LEDGER_HASH": "sm3"}, "init")
    assert out.returncode == 0 and "sha256" in out.stdout and "sha256" in out.stderr
    assert client.get("/api/v1/ledger/tree-head", headers=registrar_headers).json()["hash_alg"] == "sha256"
    assert run(env, "ledger", "verify").returncode == 0
    assert run(env | {"YMT_LEDGER_HASH": "md5"}, "init").returncode != 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="OpenSSL CLI needed as the independent SM2 verifier")
def test_sm2_tree_heads_verify_with_openssl(client, registrar_headers, env, settings, tmp_path) -> None:
    register(client, registrar_headers)
    out = run(env | {"YMT_LEDGER_SIGNATURE": "sm2"}, "ledger", "tree-head", "-o", str(tmp_path / "h.json"))
    assert out.returncode == 0, out.stderr
    import json

    head = json.loads((tmp_path / "h.json").read_text(encoding="utf-8"))
    key = next(k for k in client.get("/api/v1/ledger/keys", headers=registrar_headers).json()["items"]
               if k["key_id"] == head["key_id"])
    assert key["alg"] == "sm2"
    (tmp_path / "pub.pem").write_text(key["public_key"], encoding="ascii")
    (tmp_path / "msg").write_bytes(f"yimatong-tree-head\n{head['size']}\n{head['root_hash']}\n{head['timestamp']}\n".encode())
    (tmp_path / "sig").write_bytes(base64.b64decode(head["signature"]))
    check = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
                            "-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig"), "-digest", "sm3",
                            "-pkeyopt", "distid:1234567812345678"], capture_output=True, text=True)
    assert "Signature Verified Successfully" in check.stdout, check.stdout + check.stderr
    (tmp_path / "keys.json").write_text(run(env, "ledger", "keys").stdout, encoding="utf-8")
    ok = run(env, "ledger", "verify", "--from-checkpoint", str(tmp_path / "h.json"), "--key", str(tmp_path / "keys.json"))
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("cipher, key", [("sm4-gcm", "0f" * 16), ("aes-gcm", "a1" * 32)])
def test_restricted_files_sealed_at_rest_serve_and_verify_by_their_plaintext(db_url, tmp_path, cipher, key) -> None:
    from fastapi.testclient import TestClient

    from yimatong.api.app import create_app
    from yimatong.config import Settings
    from yimatong.core.context import App
    from yimatong.profiles.loader import load_profile

    (tmp_path / "blob.key").write_text(key, encoding="ascii")
    s = Settings(data_dir=tmp_path / "d", database_url=db_url, deliver_webhooks=False, blob_encryption=cipher,
                 blob_key_file=tmp_path / "blob.key")
    app = App(s, load_profile("changde"))
    h = {"Authorization": f"Bearer {make_token(app, 'registrar')}"}
    secret = "保密的宗地界址坐标 ".encode() * 200_000  # > 1 chunk
    with TestClient(create_app(s, app)) as c:
        code = register(c, h)["code"]
        res = add_result(c, h, code, {"stage": "pre_review", "kind": "界址", "confidentiality": "restricted"},
                         [("界址.txt", secret)]).json()
        pub = add_result(c, h, code, {"stage": "pre_review", "kind": "公告"}, [("公告.txt", b"public notice")]).json()
        f = res["files"][0]
        stored = list((tmp_path / "d" / "files").rglob(f["sha256"] + "*"))
        assert [p.name for p in stored] == [f["sha256"] + ".sealed"]
        assert "界址坐标".encode() not in stored[0].read_bytes()
        assert (tmp_path / "d" / "files" / pub["files"][0]["sha256"][:2]).is_dir()  # public files stay plain
        r = c.get(f"/api/v1/results/{res['id']}/files/{f['id']}", headers=h)
        assert r.content == secret and r.headers["ETag"] == f'"{f["sha256"]}"'
        env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "d"),
               "YMT_BLOB_KEY_FILE": str(tmp_path / "blob.key")}
        assert run(env, "ledger", "verify").returncode == 0
        no_key = {k: v for k, v in env.items() if k != "YMT_BLOB_KEY_FILE"}
        assert run(no_key, "ledger", "verify").returncode == 1  # cannot vouch for what it cannot read
        data = bytearray(stored[0].read_bytes())
        data[100] ^= 1
        stored[0].write_bytes(bytes(data))
        bad = run(env, "ledger", "verify")
        assert bad.returncode == 1 and f["sha256"] in bad.stderr
    app.close()


def test_non_public_downloads_packages_and_exports_are_audited(client, ymt, registrar_headers, admin_headers, env,
                                                               db_url, tmp_path) -> None:
    code = register(client, registrar_headers)["code"]
    ids = {}
    for level in ("public", "internal", "restricted"):
        res = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": level,
                                                          "confidentiality": level}, [(f"{level}.txt", level.encode())]).json()
        ids[level] = res
        got = client.get(f"/api/v1/results/{res['id']}/files/{res['files'][0]['id']}", headers=registrar_headers)
        assert got.status_code == 200
    assert client.get(f"/api/v1/projects/{code}/package", params={"purpose": "archive"},
                      headers=registrar_headers).status_code == 200
    assert client.get("/api/v1/warnings.xlsx", headers=registrar_headers).status_code == 200
    assert run(env, "export", "projects", str(tmp_path / "p.xlsx")).returncode == 0
    assert client.get("/api/v1/audit", headers=registrar_headers).status_code == 403
    items = client.get("/api/v1/audit", headers=admin_headers).json()["items"]
    got = [(i["action"], i["object"], i["interface"]) for i in items]
    f = {lv: f"results/{r['id']}/files/{r['files'][0]['id']}" for lv, r in ids.items()}
    assert got[:4] == [("file.download", f["internal"], "api"), ("file.download", f["restricted"], "api"),
                       ("package.download", f"projects/{code}/package?purpose=archive", "api"),
                       ("export.warnings", "warnings.xlsx?", "api")]
    assert got[4][0] == "export.projects" and got[4][2] == "cli" and got[4][1].endswith("p.xlsx")
    assert items[0]["actor"].startswith("registrar-") and items[0]["address"] and items[0]["seq"] == 1
    assert all(f["public"] not in o for _, o, _ in got)  # a public file is not audited
    page = client.get("/api/v1/audit", params={"after": 2, "limit": 2}, headers=admin_headers).json()
    assert [i["seq"] for i in page["items"]] == [3, 4] and page["next_cursor"] == "4"
    assert client.get("/api/v1/audit", params={"limit": 1001}, headers=admin_headers).status_code == 422
    # tamper-evident: an edited record and a deleted newest record are found
    assert run(env, "audit", "verify").returncode == 0
    sql(db_url, "UPDATE audit_records SET actor = '别人' WHERE seq = 2")
    bad = run(env, "audit", "verify")
    assert bad.returncode == 1 and "seq=2" in bad.stderr
    assert run(env, "ledger", "verify").returncode == 1
    sql(db_url, "UPDATE audit_records SET actor = (SELECT actor FROM audit_records WHERE seq = 1) WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 5")
    cut = run(env, "audit", "verify")
    assert cut.returncode == 1 and "计数器" in cut.stderr


def test_audit_record_api_for_other_areas(ymt) -> None:
    from yimatong.core.context import Actor
    from yimatong.ledger import audit

    first = audit.record(ymt, Actor("登记平台", "registration_platform"), "export.parcels", "parcels.gpkg", "web", "10.0.0.8")
    with ymt.db.write() as session:
        second = audit.record(session, "cli:root", "export.projects", "p.xlsx", "cli", None)
    assert (first, second) == (1, 2)
    with ymt.db.read() as session:
        assert audit.verify(session) == (2, None, None)
        items = audit.page(session, 0, 10)["items"]
    assert items[0] | {"at": None} == {"seq": 1, "at": None, "actor": "登记平台", "action": "export.parcels",
                                       "object": "parcels.gpkg", "interface": "web", "address": "10.0.0.8"}
    assert Path  # keep the import used by other tests of this module
