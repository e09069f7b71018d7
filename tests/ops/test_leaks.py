"""Issue 10.8: nothing stays on disk after refused requests, failed transactions, killed processes and exports."""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient

from api.helpers import add_result, register
from conftest import YMT, S3Server, serve
from web.test_auth import login
from yimatong.accounts import users
from yimatong.api.app import create_app
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.ops import gc
from yimatong.profiles.loader import load_profile
from yimatong.storage.blobs import blob_store_from


def _leftovers(ymt: App) -> list[str]:
    spool = Path(ymt.blobs.backend.spool())
    return [p.name for p in spool.rglob("*") if p.is_file()]


def test_a_refused_result_stores_no_file_and_leaves_no_temp_file(client, registrar_headers, ymt) -> None:  # type: ignore[no-untyped-def]
    code = register(client, registrar_headers)["code"]
    missing = code[:-6] + ("000000" if code[-6:] != "000000" else "000001")
    r = add_result(client, registrar_headers, missing, {"stage": "pre_review", "kind": "意见"}, [("a.pdf", b"%PDF refused")])
    assert r.status_code == 404
    assert _leftovers(ymt) == []  # before the fix the refused files stayed in the store
    idem = {**registrar_headers, "Idempotency-Key": "k1"}
    ok = add_result(client, idem, code, {"stage": "pre_review", "kind": "意见"}, [("a.pdf", b"%PDF kept")])
    assert ok.status_code == 201
    replay = add_result(client, idem, code, {"stage": "pre_review", "kind": "意见"}, [("a.pdf", b"%PDF kept")])
    assert replay.json() == ok.json()
    sha = ok.json()["files"][0]["sha256"]
    assert _leftovers(ymt) == [sha]


def _old(path: Path, hours: float = 2) -> None:
    t = time.time() - hours * 3600
    os.utime(path, (t, t))


def test_the_service_collects_what_a_killed_upload_left_at_start(db_url: str, tmp_path: Path) -> None:
    files = tmp_path / "srv" / "files"
    files.mkdir(parents=True)
    stale, fresh = files / ".upload-k9stale", files / ".upload-running"  # as a kill -9 mid-upload leaves them
    stale.write_bytes(b"x" * 4096)
    fresh.write_bytes(b"y" * 4096)
    _old(stale)
    gen = serve(db_url, tmp_path / "srv2", {"YMT_DATA_DIR": str(tmp_path / "srv"), "YMT_DELIVER_WEBHOOKS": "false"})
    next(gen)
    try:
        deadline = time.monotonic() + 60
        while stale.exists() and time.monotonic() < deadline:  # collected by the start-up pass
            time.sleep(0.1)
        assert not stale.exists() and fresh.exists()  # an upload of another process within the grace stays
    finally:
        next(gen, None)


@pytest.mark.parametrize("store", ["local", "s3"])
def test_gc_collects_unreferenced_files_and_keeps_referenced_ones(request: pytest.FixtureRequest, store: str,
                                                                  client, registrar_headers, ymt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = ymt.settings
    if store == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        extra = {k[4:].lower(): v for k, v in s3.env(f"gc-{uuid.uuid4().hex[:8]}").items()}
        settings = Settings(**{**ymt.settings.model_dump(), **extra})
    app = App(settings, load_profile("changde"))
    try:
        with TestClient(create_app(settings, app)) as c:
            code = register(c, registrar_headers)["code"]
            r = add_result(c, registrar_headers, code, {"stage": "pre_review", "kind": "意见"}, [("a.pdf", b"%PDF ref")])
            kept = r.json()["files"][0]["sha256"]
        orphan, _, _ = blob_store_from(settings).put(io.BytesIO(b"left by a failed transaction"), 1000)
        env = {**os.environ, "YMT_DATABASE_URL": settings.resolved_database_url(), "YMT_DATA_DIR": str(settings.data_dir),
               **{f"YMT_{k.upper()}": str(v) for k, v in (extra if store == "s3" else {}).items()}}
        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([YMT, *args], env=env, capture_output=True, text=True, timeout=120)

        assert "无引用的文件 0 个" in run("gc").stdout  # within the grace period: kept
        found = gc.scan(app, grace=0)
        assert [k.rsplit("/", 1)[-1] for k in found.unreferenced] == [orphan]
        out = run("gc", "--grace", "0")
        assert out.returncode == 0 and "无引用的文件 1 个" in out.stdout, out.stderr
        assert not app.blobs.exists(orphan) and app.blobs.exists(kept)
    finally:
        app.close()


def test_check_reports_leftovers_without_failing(ymt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sha, _, _ = ymt.blobs.put(io.BytesIO(b"orphan"), 1000)
    _old(Path(ymt.blobs.backend.spool()) / ymt.blobs.key(sha))
    env = {**os.environ, "YMT_DATABASE_URL": ymt.settings.resolved_database_url(), "YMT_DATA_DIR": str(ymt.settings.data_dir)}
    out = subprocess.run([YMT, "check"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "无引用的文件 1 个" in out.stderr and "ymt gc" in out.stderr
    assert "无引用的文件 1 个" in subprocess.run([YMT, "gc"], env=env, capture_output=True, text=True).stdout
    assert not ymt.blobs.exists(sha)


def test_a_web_export_leaves_no_temp_dir(client, ymt, registrar_headers, tmp_path: Path,  # type: ignore[no-untyped-def]
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    register(client, registrar_headers, name="导出测试项目")
    with ymt.db.write() as s:
        users.create(s, "lisi", "correct-horse-2", "registrar", "李四", must_change_password=False)
    login(client, "lisi", "correct-horse-2")
    r = client.get("/projects.xlsx")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert any("导出测试项目" in str(c.value) for row in sheet.iter_rows() for c in row)
    assert list(scratch.iterdir()) == []  # before the fix: a ymt-export-* directory per export


def test_an_unreachable_object_store_is_a_503_and_leaves_nothing(ymt, registrar_headers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import free_port

    down = Settings(**{**ymt.settings.model_dump(), "blob_url": "s3://gone/x", "s3_access_key": "a",
                       "s3_secret_key": "b", "s3_endpoint": f"http://127.0.0.1:{free_port()}"})
    app = App(down, load_profile("changde"))
    try:
        with TestClient(create_app(down, app)) as c:
            code = register(c, registrar_headers)["code"]
            r = add_result(c, registrar_headers, code, {"stage": "pre_review", "kind": "意见"}, [("a.pdf", b"%PDF x")])
            assert r.status_code == 503 and r.json()["errors"][0]["field"] == "files", r.text
            assert c.get(f"/api/v1/projects/{code}/results", headers=registrar_headers).json()["items"] == []
        assert _leftovers(app) == []
    finally:
        app.close()
