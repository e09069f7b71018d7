"""The `ymt` command, black-box through the installed binary, on the database under test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import YMT, is_pg
from yimatong.storage.db import normalize_url


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}


def ymt(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([YMT, *args], env=env, capture_output=True, text=True, timeout=120, input=input)


def test_init_twice_is_harmless(env) -> None:
    first, second = ymt(env, "init"), ymt(env, "init")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "数据库已就绪" in second.stdout


def test_init_on_an_empty_database_creates_every_table(tmp_path: Path) -> None:
    """Empty database → head: every table and the dialect's spatial index."""
    if is_pg():
        from conftest import TEST_DB, _pg_admin_url

        name = "ymt_empty_" + tmp_path.name[-8:].lower().replace("-", "_")
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            c.execute(text(f"CREATE DATABASE {name}"))
        url = TEST_DB.rsplit("/", 1)[0] + "/" + name
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        spatial = "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_parcels_geom'"
    else:
        url = f"sqlite:///{tmp_path / 'fresh' / 'ymt.sqlite3'}"
        query = "SELECT name FROM sqlite_master WHERE type='table'"
        spatial = "SELECT 1 FROM sqlite_master WHERE name = 'parcels_rtree'"
    env = {**os.environ, "YMT_DATABASE_URL": url, "YMT_DATA_DIR": str(tmp_path / "fresh")}
    assert ymt(env, "init").returncode == 0
    assert ymt(env, "init").returncode == 0
    eng = create_engine(normalize_url(url))
    with eng.connect() as c:
        tables = {r[0] for r in c.execute(text(query))}
        has_spatial = c.execute(text(spatial)).scalar()
    eng.dispose()
    assert {"projects", "events", "counters", "results", "parcels", "alembic_version"} <= tables
    assert has_spatial == 1
    if is_pg():
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_token_is_printed_alone_on_last_line_and_stored_hashed(env, db_url) -> None:
    out = ymt(env, "token", "create", "--name", "审批系统", "--role", "approval_system")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("ymt_") and " " not in token
    eng = create_engine(normalize_url(db_url))
    with eng.connect() as c:
        stored = c.execute(text("SELECT token_hash FROM api_tokens WHERE name = '审批系统'")).scalar_one()
    eng.dispose()
    assert token not in stored and len(stored) == 64
    dup = ymt(env, "token", "create", "--name", "审批系统", "--role", "viewer")
    assert dup.returncode != 0 and "已存在" in dup.stderr
    bad = ymt(env, "token", "create", "--name", "x", "--role", "emperor")
    assert bad.returncode != 0 and "role" in bad.stderr and "Traceback" not in bad.stderr


def test_user_create_refuses_bad_input_naming_the_option(env) -> None:
    """The password comes from standard input (--password-stdin) or a prompt, never from the command line."""
    for args, password, field in ((["--username", "a b"], "Long-enough-1", "username"),
                                  (["--username", "ok"], "short", "password"),
                                  (["--username", "ok", "--display-name", "名" * 101], "Long-enough-1", "display_name")):
        full = ["user", "create", "--password-stdin", "--role", "viewer", *args]
        out = ymt(env, *full, input=password + "\n")
        assert out.returncode != 0 and field in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    assert ymt(env, "user", "create", "--username", "ok", "--password-stdin", input="Long-enough-1\n").returncode == 0
    argv = ymt(env, "user", "create", "--username", "ok2", "--password", "Long-enough-1")
    assert argv.returncode != 0 and "--password" in argv.stderr  # the option is gone
    no_tty = ymt(env, "user", "create", "--username", "ok3", input="")  # no terminal to prompt on
    assert no_tty.returncode != 0 and "--password-stdin" in no_tty.stderr and "Traceback" not in no_tty.stderr


def test_ledger_verify_names_the_edited_event(client, registrar_headers, admin_headers, env, db_url) -> None:
    from conftest import project_body

    for i in range(3):
        assert client.post("/api/v1/projects", json=project_body(name=f"台账{i}"),
                           headers=registrar_headers).status_code == 201
    ok = ymt(env, "ledger", "verify")
    assert ok.returncode == 0, ok.stderr
    eng = create_engine(normalize_url(db_url))
    with eng.begin() as c:
        c.execute(text("UPDATE events SET data = replace(data, '台账1', '台账X') WHERE seq = 2"))
    eng.dispose()
    bad = ymt(env, "ledger", "verify")
    assert bad.returncode == 1
    assert "seq=2" in bad.stderr
    r = client.get("/api/v1/ledger/verify", headers=admin_headers).json()  # admin only since issue 10.10
    assert r["ok"] is False and r["first_bad_seq"] == 2 and r["length"] == 1


def test_ledger_verify_detects_a_deleted_event(client, registrar_headers, env, db_url) -> None:
    from conftest import project_body

    for i in range(3):
        client.post("/api/v1/projects", json=project_body(name=f"删{i}"), headers=registrar_headers)
    eng = create_engine(normalize_url(db_url))
    with eng.begin() as c:
        c.execute(text("DELETE FROM events WHERE seq = 2"))
    eng.dispose()
    bad = ymt(env, "ledger", "verify")
    assert bad.returncode == 1 and "seq=2" in bad.stderr


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "YMT_DATABASE_URL": "mysql+nothing://x/y", "YMT_DATA_DIR": str(tmp_path)}
    out = ymt(env, "init")
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_signed_checkpoint_detects_a_rewritten_history(client, registrar_headers, env, db_url, tmp_path) -> None:
    from conftest import project_body

    for i in range(2):
        client.post("/api/v1/projects", json=project_body(name=f"检查点{i}"), headers=registrar_headers)
    cp = tmp_path / "cp.json"
    assert ymt(env, "ledger", "checkpoint", "-o", str(cp)).returncode == 0
    ok = ymt(env, "ledger", "check-checkpoint", str(cp))
    assert ok.returncode == 0, ok.stderr
    forged = cp.read_text(encoding="utf-8").replace('"seq": 2', '"seq": 1')
    (tmp_path / "forged.json").write_text(forged, encoding="utf-8")
    assert ymt(env, "ledger", "check-checkpoint", str(tmp_path / "forged.json")).returncode == 1
    # rewrite history consistently (recompute every hash and the Merkle tree): verify of the chain alone passes
    # for the events, but the project rows no longer match; the checkpoint fails on the changed head
    from ledger.tamper import rewrite_history, sql

    rewrite_history(db_url, lambda d: d.replace("检查点0", "改写"))
    sql(db_url, "UPDATE projects SET name = '改写', name_norm = '改写' WHERE name = '检查点0'")
    assert ymt(env, "ledger", "verify").returncode == 0
    bad = ymt(env, "ledger", "check-checkpoint", str(cp))
    assert bad.returncode == 1 and "改写" in bad.stderr


def test_demo_loads_every_stage_and_district_once(env) -> None:
    out = ymt(env, "demo", "--per-district", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("ymt_")
    token = out.stdout.strip().splitlines()[-1]
    from fastapi.testclient import TestClient

    from yimatong.api.app import create_app
    from yimatong.config import Settings

    with TestClient(create_app(Settings(database_url=env["YMT_DATABASE_URL"], data_dir=env["YMT_DATA_DIR"],
                                        deliver_webhooks=False))) as c:
        h = {"Authorization": f"Bearer {token}"}
        stats = c.get("/api/v1/stats", params={"group_by": "division"}, headers=h).json()
        assert len(stats["items"]) == 10 and stats["total"]["count"] == 30
        stage_keys = {i["key"] for i in c.get("/api/v1/stats", params={"group_by": "stage"}, headers=h).json()["items"]}
        assert {"intake", "supply", "registration"} <= stage_keys
        assert c.get("/api/v1/warnings", headers=h).json()["items"]
    again = ymt(env, "demo", "--per-district", "3")
    assert again.returncode == 0 and "已存在" in again.stdout
    assert ymt(env, "ledger", "verify").returncode == 0


def test_db_option_before_or_after_the_command(db_url, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "YMT_DATABASE_URL"} | {"YMT_DATA_DIR": str(tmp_path / "x")}
    for args in (("--db", db_url, "init"), ("init", "--db", db_url), ("token", "create", "--name", "甲",
                                                                       "--role", "viewer", f"--db={db_url}")):
        out = ymt(env, *args)
        assert out.returncode == 0, (args, out.stderr)
    assert not (tmp_path / "x" / "ymt.sqlite3").exists()  # --db was honoured, no default database made


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".zip", ".txt"])
def test_parcel_export_reads_back_with_the_same_area(client, registrar_headers, env, tmp_path, suffix) -> None:
    """`ymt export parcels` in every format GIS users open; each file is read back by our own importer."""
    from api.helpers import register
    from spatial.spatial_helpers import WULING, square
    from yimatong.formats.parcel_files import read_parcel_file

    code = register(client, registrar_headers)["code"]
    feature = square(WULING, half=0.002, parcel_no="DK-001", name="丹阳一号地块")
    attached = client.post(f"/api/v1/projects/{code}/parcels", json=feature, headers=registrar_headers).json()
    area = attached["features"][0]["properties"]["area_m2"] if "features" in attached else attached["area_m2"]
    out = tmp_path / f"地块{suffix}"
    done = ymt(env, "export", "parcels", str(out))
    assert done.returncode == 0, done.stderr
    items = read_parcel_file(out.read_bytes(), out.name)
    assert len(items) == 1 and items[0].areas["area_m2"] == pytest.approx(area, rel=1e-3)
    if suffix in (".gpkg", ".zip", ".geojson"):
        assert items[0].properties["name"] == "丹阳一号地块" and code in str(items[0].properties["codes"])
    bad = ymt(env, "export", "parcels", str(tmp_path / "地块.dwg"))
    assert bad.returncode != 0 and ".zip" in bad.stderr and "Traceback" not in bad.stderr


def test_outputs_and_inputs_that_cannot_work_are_refused_before_any_work(env, tmp_path) -> None:
    cases = [
        (["export", "projects", str(tmp_path / "无此目录" / "项目.xlsx")], "不存在"),
        (["export", "projects", str(tmp_path / "项目.csv")], ".xlsx"),
        (["export", "warnings", str(tmp_path)], "格式应为"),
        (["export", "parcels", str(tmp_path / "地块.dwg")], ".gpkg"),
        (["ledger", "checkpoint", "-o", str(tmp_path / "无此目录" / "head.json")], "不存在"),
        (["import", "supply_plan", str(tmp_path)], "不是普通文件"),
        (["import", "supply_plan", str(tmp_path / "无此文件.xlsx")], "文件不存在"),
        (["serve", "--port", "99999"], "65535"),
    ]
    for args, needle in cases:
        out = ymt(env, *args)
        assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    assert not (tmp_path / "项目.csv").exists()
