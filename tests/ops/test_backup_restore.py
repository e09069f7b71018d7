"""`ymt backup` while the service runs, `ymt restore` into an empty data dir and database, then the ledger and
the checkpoints verify and every file downloads byte-identical; `ymt upgrade` backs up first; `ymt check`;
no command but `ymt init`/`ymt demo` creates a database. Black-box through the installed `ymt`, both databases."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from conftest import YMT, LiveServer, S3Server, _pg_admin_url, free_port, is_pg, project_body, serve
from yimatong.storage.db import normalize_url

KEY = secrets.token_hex(32)


def ymt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([YMT, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[str]:
    """An empty database to restore into (PostgreSQL: PostGIS already installed, as a DBA would leave it)."""
    if not is_pg():
        yield f"sqlite:///{tmp_path / 'restored' / 'ymt.sqlite3'}"
        return
    from conftest import TEST_DB

    name = f"ymt_r_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    url = TEST_DB.rsplit("/", 1)[0] + "/" + name
    eng = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    eng.dispose()
    yield url
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _fill(server: LiveServer) -> dict[str, bytes]:
    """Projects with public, internal and restricted (sealed) files; returns {download path: bytes}."""
    h = {"Authorization": f"Bearer {server.token('admin')}"}
    files: dict[str, bytes] = {}
    for level in ("public", "internal", "restricted"):
        code = httpx.post(server.url + "/api/v1/projects", json=project_body(name=f"备份{level}"), headers=h).json()["code"]
        data = secrets.token_bytes(1024 * 1024 + 333) + level.encode()
        r = httpx.post(f"{server.url}/api/v1/projects/{code}/results", headers=h,
                       data={"meta": json.dumps({"stage": "pre_review", "kind": "意见", "confidentiality": level})},
                       files=[("files", (f"{level}.bin", data, "application/octet-stream"))])
        assert r.status_code == 201, r.text
        files[f"/api/v1/results/{r.json()['id']}/files/{r.json()['files'][0]['id']}"] = data
    return files


def _downloads(server: LiveServer, files: dict[str, bytes]) -> None:
    h = {"Authorization": f"Bearer {server.token('admin')}"}
    for path, data in files.items():
        r = httpx.get(server.url + path, headers=h)
        assert r.status_code == 200 and hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest(), path


@pytest.mark.parametrize("store", ["local", "s3"])
def test_backup_while_serving_then_restore_verifies_and_serves_identical_files(
        request: pytest.FixtureRequest, store: str, db_url: str, empty_db: str, tmp_path: Path) -> None:
    env = {"YMT_BLOB_ENCRYPTION": "aes-gcm", "YMT_BLOB_KEY": KEY, "YMT_DELIVER_WEBHOOKS": "false"}
    target_env = dict(env)
    if store == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        env |= s3.env(f"src-{uuid.uuid4().hex[:8]}")
        target_env |= s3.env(f"dst-{uuid.uuid4().hex[:8]}")
    gen = serve(db_url, tmp_path / "live", env)
    server = next(gen)
    try:
        files = _fill(server)
        checkpoint = tmp_path / "checkpoint.json"
        assert server.ymt("ledger", "checkpoint", "-o", str(checkpoint)).returncode == 0
        out = server.ymt("backup", str(tmp_path / "bk"))  # while the server runs
        assert out.returncode == 0, out.stderr
    finally:
        next(gen, None)
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["files"]) == 3 and any(p["path"].endswith("ledger-signing-key.pem") for p in manifest["data"])
    for part in [manifest["database"], *manifest["files"], *manifest["data"]]:
        assert hashlib.sha256((tmp_path / "bk" / part["path"]).read_bytes()).hexdigest() == part["sha256"]

    restored = {**os.environ, "YMT_DATABASE_URL": empty_db, "YMT_DATA_DIR": str(tmp_path / "restored"), **target_env}
    out = ymt(restored, "restore", str(tmp_path / "bk"))
    assert out.returncode == 0, out.stderr
    verify = ymt(restored, "ledger", "verify")
    assert verify.returncode == 0 and "台账完好" in verify.stdout, verify.stdout + verify.stderr
    assert ymt(restored, "ledger", "check-checkpoint", str(checkpoint)).returncode == 0
    assert ymt(restored, "check").returncode == 0
    again = ymt(restored, "restore", str(tmp_path / "bk"))  # the target now holds data: refused, untouched
    assert again.returncode == 1 and "不是空的" in again.stderr
    gen = serve(empty_db, tmp_path / "restored-live2", {**target_env, "YMT_DATA_DIR": str(tmp_path / "restored")})
    server = next(gen)
    try:
        _downloads(server, files)
    finally:
        next(gen, None)


def test_restore_refuses_a_damaged_backup_before_writing_anything(live_server: LiveServer, empty_db: str,
                                                                  tmp_path: Path) -> None:
    _fill(live_server)
    assert live_server.ymt("backup", str(tmp_path / "bk")).returncode == 0
    assert live_server.ymt("backup", str(tmp_path / "bk"), check=False).returncode == 1  # not an empty directory
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text(encoding="utf-8"))
    victim = tmp_path / "bk" / manifest["files"][0]["path"]
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    restored = {**os.environ, "YMT_DATABASE_URL": empty_db, "YMT_DATA_DIR": str(tmp_path / "restored")}
    out = ymt(restored, "restore", str(tmp_path / "bk"))
    assert out.returncode == 1 and "sha256 与清单不符" in out.stderr and "Traceback" not in out.stderr
    written = [p for p in (tmp_path / "restored").rglob("*") if p.is_file() and p.stat().st_size]
    assert written == []
    assert ymt(restored, "ledger", "verify").returncode == 2  # still no database there


def test_upgrade_backs_up_first_then_migrates(db_url: str, tmp_path: Path) -> None:
    from yimatong.storage.db import make_engine
    from yimatong.storage.migrate import alembic_config, current_revision, head_revision

    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}
    engine = make_engine(db_url)
    head = head_revision(engine)
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    check = ymt(env, "check")
    assert check.returncode == 1 and "ymt upgrade" in check.stderr
    # only init, demo and upgrade change the schema: a server or a command migrating by itself would skip the
    # backup (and on several hosts change the schema under the others still running)
    older = current_revision(engine)
    for args in (("serve", "--port", str(free_port())), ("worker",), ("token", "create", "--name", "甲", "--role", "admin")):
        refused = ymt(env, *args)
        assert refused.returncode != 0 and "ymt upgrade" in refused.stderr and "Traceback" not in refused.stderr, args
        assert current_revision(engine) == older, args
    engine.dispose()
    out = ymt(env, "upgrade", "--backup-dir", str(tmp_path / "pre"))
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "pre" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["revision"] != head and f"升级到 {head}" in out.stdout
    assert ymt(env, "check").returncode == 0
    assert "无需升级" in ymt(env, "upgrade").stdout


def test_no_command_but_init_creates_a_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YMT_")} | {"YMT_DATA_DIR": str(tmp_path / "d")}
    for args in (("token", "create", "--name", "甲", "--role", "admin"), ("serve",), ("worker",),
                 ("export", "projects", str(tmp_path / "p.xlsx")), ("ledger", "verify"), ("backup", str(tmp_path / "b")),
                 ("gc",), ("upgrade",), ("check",)):
        out = ymt(env, *args)
        assert out.returncode != 0 and "ymt init" in out.stderr and "Traceback" not in out.stderr, args
    assert not (tmp_path / "d" / "ymt.sqlite3").exists()
    assert ymt(env, "init").returncode == 0 and (tmp_path / "d" / "ymt.sqlite3").is_file()
    assert ymt(env, "token", "create", "--name", "甲", "--role", "admin").returncode == 0


def test_an_empty_database_is_refused_naming_init(empty_db: str, tmp_path: Path) -> None:
    if not is_pg():
        Path(empty_db.removeprefix("sqlite:///")).parent.mkdir(parents=True)
        Path(empty_db.removeprefix("sqlite:///")).touch()
    env = {**os.environ, "YMT_DATABASE_URL": empty_db, "YMT_DATA_DIR": str(tmp_path / "d")}
    out = ymt(env, "token", "create", "--name", "甲", "--role", "admin")
    assert out.returncode == 2 and "尚未初始化" in out.stderr and "ymt init" in out.stderr


def test_check_fails_on_an_unreachable_store(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "d"),
           "YMT_BLOB_URL": "s3://nowhere/x", "YMT_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
           "YMT_S3_ACCESS_KEY": "a", "YMT_S3_SECRET_KEY": "b"}
    out = ymt(env, "check")
    assert out.returncode == 1 and "✗ 文件存储" in out.stderr and "Traceback" not in out.stderr
    assert "✓ 数据库版本" in out.stdout
