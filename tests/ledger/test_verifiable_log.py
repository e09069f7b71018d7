"""Issue 15.6 black-box: signed tree heads, keys, inclusion and consistency proofs checked by an independent
RFC 9162 verifier (tests/ledger/rfc9162.py, nothing of ours), witnesses' cosignatures, a forked or truncated
history detected from an earlier signed head, the signing key pinned (issue 10.6)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from api.helpers import register
from conftest import YMT, make_token
from ledger import rfc9162
from ledger.tamper import rewrite_history, sql


@pytest.fixture
def env(settings) -> dict[str, str]:
    return {**os.environ, "YMT_DATABASE_URL": settings.database_url, "YMT_DATA_DIR": str(settings.data_dir)}


def ymt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([YMT, *args], env=env, capture_output=True, text=True, timeout=120)


def signed_text(head: dict) -> bytes:
    return f"yimatong-tree-head\n{head['size']}\n{head['root_hash']}\n{head['timestamp']}\n".encode()


def pinned_key(client, h, key_id: str) -> Ed25519PublicKey:
    keys = client.get("/api/v1/ledger/keys", headers=h).json()["items"]
    pem = next(k["public_key"] for k in keys if k["key_id"] == key_id)
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    return key


def test_heads_and_proofs_verify_with_an_independent_implementation(client, registrar_headers) -> None:
    h = registrar_headers
    for i in range(5):
        register(client, h, name=f"证明{i}")
    old = client.get("/api/v1/ledger/tree-head", headers=h).json()
    for i in range(6):
        register(client, h, name=f"证明后{i}")
    head = client.get("/api/v1/ledger/tree-head", headers=h).json()
    assert head["size"] == 11 and old["size"] == 5 and head["hash_alg"] == "sha256"
    assert set(head) >= {"size", "root_hash", "hash_alg", "signature", "key_id", "timestamp", "cosignatures"}
    pinned_key(client, h, head["key_id"]).verify(base64.b64decode(head["signature"]), signed_text(head))
    events = client.get("/api/v1/events", params={"limit": 100}, headers=h).json()["items"]
    leaves = [bytes.fromhex(e["hash"]) for e in events]
    assert rfc9162.mth("sha256", leaves).hex() == head["root_hash"]
    for e in events:
        p = client.get("/api/v1/ledger/proof/inclusion", params={"seq": e["seq"], "size": head["size"]}, headers=h).json()
        assert p["leaf_index"] == e["seq"] - 1 and p["tree_size"] == 11
        assert rfc9162.verify_inclusion("sha256", bytes.fromhex(e["hash"]), p["leaf_index"], 11,
                                        [bytes.fromhex(x) for x in p["audit_path"]], bytes.fromhex(head["root_hash"]))
    c = client.get("/api/v1/ledger/proof/consistency", params={"first": 5, "second": 11}, headers=h).json()
    assert c["first"] == 5 and c["second"] == 11
    assert rfc9162.verify_consistency("sha256", 5, 11, bytes.fromhex(old["root_hash"]), bytes.fromhex(head["root_hash"]),
                                      [bytes.fromhex(x) for x in c["consistency_path"]])
    # the same head again: the one issued for this size, not a new signature
    assert client.get("/api/v1/ledger/tree-head", headers=h).json() == head
    assert client.get("/api/v1/ledger/tree-head", params={"size": 5}, headers=h).json()["root_hash"] == old["root_hash"]


@pytest.mark.parametrize("path, params, field", [
    ("inclusion", {"seq": 0, "size": 2}, "seq"),
    ("inclusion", {"seq": 3, "size": 2}, "seq"),
    ("inclusion", {"seq": 1, "size": 99}, "size"),
    ("inclusion", {"seq": "x"}, "seq"),
    ("consistency", {"first": 3, "second": 2}, "first"),
    ("consistency", {"first": 1, "second": 99}, "second"),
    ("consistency", {"second": 2}, "first"),
])
def test_bad_proof_parameters_are_422_naming_the_parameter(client, registrar_headers, path, params, field) -> None:
    register(client, registrar_headers)
    register(client, registrar_headers, name="第二个")
    r = client.get(f"/api/v1/ledger/proof/{path}", params=params, headers=registrar_headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_feed_events_of_a_viewer_are_each_provably_in_the_log(client, ymt, registrar_headers) -> None:
    """Hidden (restricted) events leave seq gaps in a viewer's feed; inclusion proofs still let the viewer check
    every event it sees (issue 10.10), through the SDK's offline verification."""
    from api.helpers import add_result
    from yimatong.client import YmtClient, verify_tree_head

    code = register(client, registrar_headers)["code"]
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "密件", "confidentiality": "restricted"})
    register(client, registrar_headers, name="之后")
    viewer = make_token(ymt, "viewer")
    with YmtClient("http://testserver", viewer, transport=client._transport) as sdk:
        events = list(sdk.events())
        assert [e["seq"] for e in events] == [1, 3]  # the gap: seq 2 is restricted
        head, keys = sdk.tree_head(), sdk.ledger_keys()
        assert verify_tree_head(head, keys)
        assert all(sdk.event_included(e, head) for e in events)
        forged = dict(events[1], hash="00" * 32)
        assert not sdk.event_included(forged, head)
        assert not verify_tree_head(dict(head, root_hash="11" * 32), keys)


def test_witness_cosigns_and_a_bad_cosignature_is_422(client, registrar_headers, env, tmp_path) -> None:
    h = registrar_headers
    code = register(client, h)["code"]
    witness_key = Ed25519PrivateKey.generate()
    pem = witness_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "w.pem").write_bytes(pem)
    out = ymt(env, "ledger", "witness", "add", "--name", "一体化审批系统", "--key", str(tmp_path / "w.pem"))
    assert out.returncode == 0, out.stderr
    head = client.get("/api/v1/ledger/tree-head", headers=h).json()
    good = base64.b64encode(witness_key.sign(signed_text(head))).decode()
    body = {"size": head["size"], "root_hash": head["root_hash"], "witness": "一体化审批系统", "signature": good}
    for change, field in (({"signature": base64.b64encode(b"x" * 64).decode()}, "signature"),
                          ({"signature": "不是base64"}, "signature"), ({"witness": "路人"}, "witness"),
                          ({"root_hash": "ab" * 32}, "root_hash"), ({"size": 999}, "size")):
        r = client.post("/api/v1/ledger/tree-head/cosign", json=body | change, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (change, r.text)
    r = client.post("/api/v1/ledger/tree-head/cosign", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert [c["witness"] for c in r.json()["cosignatures"]] == ["一体化审批系统"]
    assert client.get("/api/v1/ledger/tree-head", headers=h).json()["cosignatures"][0]["signature"] == good
    page = client.get(f"/p/{code}").text
    assert "已包含在经一体化审批系统联署的台账树头中" in page and "包含证明已核验" in page
    register(client, h, name="新的一条")
    client.post(f"/api/v1/projects/{code}/void", json={"reason": "测试"}, headers=h)
    assert "尚未进入经见证方联署的台账树头" in client.get(f"/p/{code}").text


def test_a_forked_or_truncated_history_is_found_from_an_earlier_head(client, registrar_headers, env, db_url,
                                                                     tmp_path) -> None:
    for i in range(4):
        register(client, registrar_headers, name=f"分叉{i}")
    saved = tmp_path / "head.json"
    assert ymt(env, "ledger", "tree-head", "-o", str(saved)).returncode == 0
    keys = ymt(env, "ledger", "keys").stdout
    (tmp_path / "keys.json").write_text(keys, encoding="utf-8")
    for i in range(3):
        register(client, registrar_headers, name=f"延伸{i}")
    ok = ymt(env, "ledger", "verify", "--from-checkpoint", str(saved), "--key", str(tmp_path / "keys.json"))
    assert ok.returncode == 0 and "延伸" in ok.stdout, ok.stderr
    # the operator rewrites an early event and everything after it, tree included: verify of the chain alone
    # cannot know; the department's saved head can
    rewrite_history(db_url, lambda d: d.replace("分叉1", "伪造"))
    sql(db_url, "UPDATE projects SET name = '伪造', name_norm = '伪造' WHERE name = '分叉1'")
    assert ymt(env, "ledger", "verify").returncode == 0
    bad = ymt(env, "ledger", "verify", "--from-checkpoint", str(saved), "--key", str(tmp_path / "keys.json"))
    assert bad.returncode == 1 and "分叉" in bad.stderr, bad.stdout + bad.stderr
    rewrite_history(db_url, lambda d: d, keep=2)
    cut = ymt(env, "ledger", "verify", "--from-checkpoint", str(saved))
    assert cut.returncode == 1 and "截断" in cut.stderr, cut.stdout + cut.stderr


def test_a_checkpoint_signed_with_a_fresh_key_does_not_pass(client, registrar_headers, env, db_url, tmp_path) -> None:
    """Issue 10.6: check-checkpoint trusted the public key inside the file."""
    from yimatong.domain.ledger import canonical

    for i in range(2):
        register(client, registrar_headers, name=f"检查点{i}")
    cp = tmp_path / "cp.json"
    assert ymt(env, "ledger", "checkpoint", "-o", str(cp)).returncode == 0
    (tmp_path / "keys.json").write_text(ymt(env, "ledger", "keys").stdout, encoding="utf-8")
    rewrite_history(db_url, lambda d: d.replace("检查点0", "改写"))
    fresh = Ed25519PrivateKey.generate()
    head = json.loads(cp.read_text(encoding="utf-8"))
    from ledger.tamper import scalar

    body = {"seq": head["seq"], "head": scalar(db_url, "SELECT hash FROM events WHERE seq = 2"), "at": head["at"]}
    forged = body | {"signature": base64.b64encode(fresh.sign(canonical(body))).decode(),
                     "public_key": base64.b64encode(fresh.public_key().public_bytes(
                         serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode(), "algorithm": "Ed25519"}
    (tmp_path / "forged.json").write_text(json.dumps(forged), encoding="utf-8")
    for extra in ((), ("--key", str(tmp_path / "keys.json"))):
        out = ymt(env, "ledger", "check-checkpoint", str(tmp_path / "forged.json"), *extra)
        assert out.returncode == 1 and "伪造" in out.stderr, out.stdout + out.stderr


def test_a_data_dir_without_its_key_refuses_to_sign_until_rotate_key(client, registrar_headers, env, settings) -> None:
    register(client, registrar_headers)
    first = client.get("/api/v1/ledger/tree-head", headers=registrar_headers).json()
    key_file = Path(settings.data_dir) / "ledger-signing-key.pem"
    key_file.unlink()  # a restore that forgot the key
    register(client, registrar_headers, name="恢复后")
    r = client.get("/api/v1/ledger/tree-head", headers=registrar_headers)
    assert r.status_code == 503 and "rotate-key" in r.json()["detail"], r.text
    out = ymt(env, "ledger", "tree-head")
    assert out.returncode != 0 and "rotate-key" in out.stderr and "Traceback" not in out.stderr
    assert not key_file.exists()  # no new key made in silence
    assert ymt(env, "ledger", "rotate-key").returncode != 0  # needs --yes
    out = ymt(env, "ledger", "rotate-key", "--yes")
    assert out.returncode == 0, out.stderr
    head = client.get("/api/v1/ledger/tree-head", headers=registrar_headers).json()
    assert head["key_id"] != first["key_id"]
    keys = {k["key_id"]: k["status"] for k in client.get("/api/v1/ledger/keys", headers=registrar_headers).json()["items"]}
    assert keys == {first["key_id"]: "retired", head["key_id"]: "active"}
    rotated = client.get("/api/v1/events", params={"type": "ledger.key_rotated"}, headers=registrar_headers).json()["items"]
    assert rotated[0]["data"]["key_id"] == head["key_id"]
    assert rotated[0]["data"]["previous_key_id"] == first["key_id"]
    # the old head still verifies against the retired key, the new one against the new key
    pinned_key(client, registrar_headers, first["key_id"]).verify(base64.b64decode(first["signature"]), signed_text(first))
    assert ymt(env, "ledger", "verify").returncode == 0


def test_verify_endpoint_is_admin_only_cached_and_one_at_a_time(client, ymt, registrar_headers, admin_headers,
                                                                 db_url, settings) -> None:
    from api.helpers import add_result

    code = register(client, registrar_headers)["code"]
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "图"}, [("a.bin", b"a" * 1000)])
    assert client.get("/api/v1/ledger/verify", headers=registrar_headers).status_code == 403
    first = client.get("/api/v1/ledger/verify", headers=admin_headers).json()
    assert first["ok"] and first["cached"] is False and first["files_rehashed"] == 1
    again = client.get("/api/v1/ledger/verify", headers=admin_headers).json()
    assert again["cached"] is True and again["length"] == first["length"]
    register(client, registrar_headers, name="新头")
    third = client.get("/api/v1/ledger/verify", headers=admin_headers).json()
    assert third["cached"] is False and third["files_checked"] == 1 and third["files_rehashed"] == 0  # incremental
    # a file rewritten on disk is re-hashed (its ctime changed) and found
    sha = first and client.get(f"/api/v1/projects/{code}/results", headers=registrar_headers).json()["items"][0]["files"][0]["sha256"]
    (Path(settings.data_dir) / "files" / sha[:2] / sha[2:4] / sha).write_bytes(b"b" * 1000)
    register(client, registrar_headers, name="再一个")
    fourth = client.get("/api/v1/ledger/verify", headers=admin_headers).json()
    assert fourth["ok"] is False and fourth["files_rehashed"] == 1 and sha in fourth["reason"]
    # another verification running (claimed by another process): 503 with Retry-After, never two at once
    sql(db_url, "UPDATE ledger_verify_runs SET running_since = :t", t="2999-01-01 00:00:00+00:00")
    register(client, registrar_headers, name="头又变了")
    busy = client.get("/api/v1/ledger/verify", headers=admin_headers)
    assert busy.status_code == 503 and busy.headers["Retry-After"].isdigit()
    assert busy.json()["errors"][0]["field"] == "ledger"
