"""Issue 10.6: each tampering an operator with database access can do is found by `ymt ledger verify` (the
installed command, exit 1 and a message naming what changed), on the database under test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from api.helpers import add_result, put_stage, register
from conftest import YMT
from ledger.tamper import scalar, sql


@pytest.fixture
def env(settings) -> dict[str, str]:  # the same database and data dir as the in-process `client`
    return {**os.environ, "YMT_DATABASE_URL": settings.database_url, "YMT_DATA_DIR": str(settings.data_dir)}


def verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([YMT, "ledger", "verify", *args], env=env, capture_output=True, text=True, timeout=120)


def intact(env: dict[str, str]) -> None:
    out = verify(env)
    assert out.returncode == 0, out.stderr


def broken(env: dict[str, str], *words: str) -> str:
    out = verify(env)
    assert out.returncode == 1, out.stdout
    assert "Traceback" not in out.stderr
    for w in words:
        assert w in out.stderr, (w, out.stderr)
    return out.stderr


def test_deleting_the_newest_events_is_found_and_writes_refuse_clearly(client, registrar_headers, env, db_url) -> None:
    for i in range(5):
        register(client, registrar_headers, name=f"尾部{i}")
    intact(env)
    # the newest event goes (the stored tree covers the first 4): chain and tree of 4 events are self-consistent
    sql(db_url, "DELETE FROM events WHERE seq = 5")
    broken(env, "seq=5", "计数器")
    r = client.post("/api/v1/projects", json={**_body(), "name": "删后写入"}, headers=registrar_headers)
    assert r.status_code == 503, r.text  # not a 500 NoResultFound
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "ledger" and "ymt ledger verify" in r.json()["detail"]


def _body() -> dict[str, object]:
    from conftest import project_body

    return project_body()


def test_an_events_confidentiality_relabelled_is_found(client, registrar_headers, env, db_url) -> None:
    code = register(client, registrar_headers)["code"]
    assert add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "意见书",
                                                       "confidentiality": "restricted"}).status_code == 201
    intact(env)
    sql(db_url, "UPDATE events SET confidentiality = 'public' WHERE type = 'result.added'")
    broken(env, "seq=2", "密级")


def test_a_results_confidentiality_lowered_is_found(client, registrar_headers, env, db_url) -> None:
    code = register(client, registrar_headers)["code"]
    add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "意见书", "confidentiality": "restricted"})
    sql(db_url, "UPDATE results SET confidentiality = 'public'")
    broken(env, "seq=2", "confidentiality", "results")


def test_a_file_pointed_at_another_blob_is_found(client, registrar_headers, env, db_url) -> None:
    code = register(client, registrar_headers)["code"]
    a = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "甲"}, [("a.txt", b"AAAAA")]).json()
    b = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "乙"}, [("b.txt", b"BBBBB")]).json()
    intact(env)
    sql(db_url, "UPDATE result_files SET sha256 = :other WHERE id = :id", other=b["files"][0]["sha256"],
        id=a["files"][0]["id"])
    broken(env, "seq=2", "result_files")


def test_a_blob_deleted_with_its_file_is_found(client, registrar_headers, env, db_url, settings) -> None:
    code = register(client, registrar_headers)["code"]
    res = add_result(client, registrar_headers, code, {"stage": "pre_review", "kind": "测绘"}, [("m.bin", b"\x00" * 99)]).json()
    sha = res["files"][0]["sha256"]
    intact(env)
    sql(db_url, "DELETE FROM result_files WHERE sha256 = :s", "DELETE FROM blobs WHERE sha256 = :s", s=sha)
    (Path(settings.data_dir) / "files" / sha[:2] / sha[2:4] / sha).unlink()
    err = broken(env, "seq=2")
    assert sha in err and "blobs" in err


@pytest.mark.parametrize("edit, words", [
    ("UPDATE stages SET status = 'done' WHERE key = 'pre_review'", ("pre_review", "stages")),
    ("UPDATE projects SET name = '改过的名字', name_norm = '改过的名字'", ("name", "改过的名字")),
    ("UPDATE projects SET status = 'void'", ("status", "void")),
    ("UPDATE projects SET land_use = '0702'", ("land_use", "0702")),
    ("DELETE FROM stages WHERE key = 'pre_review'", ("pre_review",)),
    ("DELETE FROM project_parcels", ("地块",)),
])
def test_current_state_edits_are_found(client, registrar_headers, env, db_url, edit, words) -> None:
    from spatial.spatial_helpers import WULING, square

    code = register(client, registrar_headers, parcels=[square(WULING)])["code"]
    assert put_stage(client, registrar_headers, code, "pre_review", "in_progress").status_code == 200
    intact(env)
    sql(db_url, edit)
    broken(env, "被改动" if "DELETE" not in edit else "", *words)


def test_verify_help_says_which_tables_it_covers(env) -> None:
    out = subprocess.run([YMT, "ledger", "verify", "--help"], env=env, capture_output=True, text=True, timeout=60)
    for word in ("projects", "stages", "result_files", "blobs", "project_parcels", "不在范围"):
        assert word in out.stdout


def test_counter_and_tree_survive_a_normal_life(client, registrar_headers, env, db_url) -> None:
    """Registers, updates, a merge, a void, results and parcels: the replayed state matches, the counter too."""
    a = register(client, registrar_headers, name="甲项目", investment_code=None)["code"]
    b = register(client, registrar_headers, name="乙项目", investment_code="2026-430702-47-01-000001")["code"]
    c = register(client, registrar_headers, name="丙项目")["code"]
    assert client.patch(f"/api/v1/projects/{a}", json={"name": "甲项目（更名）", "land_use": "0702"},
                        headers=registrar_headers).status_code == 200
    assert client.post(f"/api/v1/projects/{b}/merge", json={"into": a, "reason": "重复"},
                       headers=registrar_headers).status_code == 200
    assert client.post(f"/api/v1/projects/{c}/void", json={"reason": "错误赋码"}, headers=registrar_headers).status_code == 200
    add_result(client, registrar_headers, a, {"stage": "pre_review", "kind": "意见书"}, [("x.txt", b"x")])
    intact(env)
    assert scalar(db_url, "SELECT investment_code FROM projects WHERE code = :c", c=a) == "2026-430702-47-01-000001"
    sql(db_url, "UPDATE projects SET investment_code = NULL WHERE code = :c", c=a)
    broken(env, "investment_code")


def test_an_edited_tree_node_is_found(client, registrar_headers, env, db_url) -> None:
    for i in range(9):
        register(client, registrar_headers, name=f"树{i}")
    intact(env)
    sql(db_url, "UPDATE merkle_nodes SET hash = :h WHERE level = 2 AND idx = 1", h="ab" * 32)
    broken(env, "seq=5", "Merkle")
