"""Issue 10.10: the data directory and the file store are 0700, the SQLite database (with its -wal and -shm)
and the secret and key files 0600 — whatever the umask — and an older installation's looser modes are
tightened."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx

from conftest import YMT, is_pg, start_server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_installation_is_private(tmp_path: Path, db_url: str) -> None:
    data = tmp_path / "fresh" / "data"
    url = db_url if is_pg() else f"sqlite:///{data / 'ymt.sqlite3'}"
    env = {**os.environ, "YMT_DATA_DIR": str(data), "YMT_DATABASE_URL": url}
    old = os.umask(0o022)  # what most shells have
    try:
        assert subprocess.run([YMT, "init"], env=env, capture_output=True, timeout=120).returncode == 0
        server = start_server(url, data)
    finally:
        os.umask(old)
    try:
        token = subprocess.run([YMT, "token", "create", "--name", "模式", "--role", "registrar"], env=env,
                               capture_output=True, text=True, timeout=120).stdout.strip().splitlines()[-1]
        h = {"Authorization": f"Bearer {token}"}
        code = httpx.post(server.url + "/api/v1/projects", headers=h, timeout=30, json={
            "name": "文件权限项目", "division": "430702", "year": 2026, "approval_type": "01", "project_type": "02",
            "supply_type": "23", "land_use": "0701"}).json()["code"]
        r = httpx.post(f"{server.url}/api/v1/projects/{code}/results", headers=h, timeout=30,
                       data={"meta": '{"stage": "pre_review", "kind": "意见书", "confidentiality": "restricted"}'},
                       files=[("files", ("受限.pdf", b"%PDF-1.4\n%%EOF\n"))])
        assert r.status_code == 201, r.text
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=15)
    assert mode(data) == 0o700
    assert mode(data / "files") == 0o700
    blobs = [p for p in (data / "files").rglob("*") if p.is_file()]
    assert blobs and all(mode(p) == 0o600 for p in blobs)
    assert all(mode(p) == 0o700 for p in (data / "files").rglob("*") if p.is_dir())
    assert mode(data / "session-secret") == 0o600
    if not is_pg():
        for name in ("ymt.sqlite3", "ymt.sqlite3-wal", "ymt.sqlite3-shm"):
            if (data / name).exists():
                assert mode(data / name) == 0o600, name
        assert (data / "ymt.sqlite3").exists()


def test_an_older_installation_is_tightened(tmp_path: Path, db_url: str) -> None:
    data = tmp_path / "old"
    url = db_url if is_pg() else f"sqlite:///{data / 'ymt.sqlite3'}"
    env = {**os.environ, "YMT_DATA_DIR": str(data), "YMT_DATABASE_URL": url}
    assert subprocess.run([YMT, "init"], env=env, capture_output=True, timeout=120).returncode == 0
    (data / "files").mkdir(exist_ok=True)
    (data / "session-secret").write_text("an old secret")
    for path, loose in ((data, 0o755), (data / "files", 0o755), (data / "session-secret", 0o644)):
        path.chmod(loose)
    if not is_pg():
        (data / "ymt.sqlite3").chmod(0o644)
    assert subprocess.run([YMT, "init"], env=env, capture_output=True, timeout=120).returncode == 0
    assert mode(data) == 0o700 and mode(data / "files") == 0o700
    if not is_pg():
        assert mode(data / "ymt.sqlite3") == 0o600
    server = start_server(url, data)
    server.proc.terminate()
    server.proc.wait(timeout=15)
    assert mode(data / "session-secret") == 0o600
