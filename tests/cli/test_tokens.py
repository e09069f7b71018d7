"""API token lifecycle (issue 15.2 and the contract): expiry, revocation and rotation by name, listing without
the secret, last use, scope carried on the actor, and `ymt demo` reusing its token — through `ymt` and a real
server."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, text, update

from conftest import TEST_DB, YMT, _pg_admin_url, is_pg
from yimatong.accounts import tokens
from yimatong.config import Settings
from yimatong.core.context import App, now
from yimatong.profiles.loader import load_profile
from yimatong.storage.db import make_engine
from yimatong.storage.migrate import alembic_config, upgrade
from yimatong.storage.models import ApiToken


def ymt(server, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([YMT, *args], env=server.env, capture_output=True, text=True, timeout=120)


def create(server, *args: str) -> str:  # type: ignore[no-untyped-def]
    out = ymt(server, "token", "create", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def listed(server) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    out = ymt(server, "token", "list", "--json")
    assert out.returncode == 0, out.stderr
    return {t["name"]: t for t in json.loads(out.stdout) if t["state"] != "revoked"}


def call(server, token: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(server.url + "/api/v1/projects", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_an_expired_and_a_revoked_token_are_401_saying_which(live_server) -> None:
    expired = create(live_server, "--name", "过期系统", "--role", "viewer", "--expires-at", "2020-01-01T00:00:00+08:00")
    r = call(live_server, expired)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "令牌已过期" and r.json()["errors"][0]["field"] == "Authorization"
    live = create(live_server, "--name", "审批系统", "--role", "approval_system", "--expires-in", "30")
    assert call(live_server, live).status_code == 200
    out = ymt(live_server, "token", "revoke", "审批系统")
    assert out.returncode == 0 and "已吊销" in out.stdout
    r = call(live_server, live)
    assert r.status_code == 401 and r.json()["detail"] == "令牌已吊销"
    assert call(live_server, "ymt_not-a-token").json()["detail"] == "令牌无效"
    again = ymt(live_server, "token", "revoke", "审批系统")
    assert again.returncode == 1 and "不存在或已吊销" in again.stderr
    # the name is free again once revoked: a new token for the same system
    assert call(live_server, create(live_server, "--name", "审批系统", "--role", "approval_system")).status_code == 200


@pytest.mark.any_database  # CLI flow and token rules: the same on every database
def test_list_shows_everything_but_the_secret(live_server) -> None:
    token = create(live_server, "--name", "登记平台", "--role", "registration_platform", "--division", "430702",
                   "--division", "430703", "--section", "cadastre", "--expires-in", "90")
    out = ymt(live_server, "token", "list")
    assert out.returncode == 0 and "登记平台" in out.stdout and token not in out.stdout and token[:12] not in out.stdout
    assert "430702、430703" in out.stdout and "从未" in out.stdout
    row = listed(live_server)["登记平台"]
    assert row["role"] == "registration_platform" and row["divisions"] == ["430702", "430703"]
    assert row["sections"] == ["cadastre"] and row["state"] == "active" and row["owner"].startswith("cli:")
    expires = datetime.fromisoformat(row["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    assert not any(token in json.dumps(v) for v in listed(live_server).values())
    # the last use, with the address, after a call (written at most once a minute)
    assert call(live_server, token).status_code == 200
    used = listed(live_server)["登记平台"]
    assert used["last_used_at"] and used["last_used_address"] == "127.0.0.1"
    assert call(live_server, token).status_code == 200
    assert listed(live_server)["登记平台"]["last_used_at"] == used["last_used_at"]


@pytest.mark.any_database  # CLI flow and token rules: the same on every database
def test_default_and_maximum_lifetime(live_server) -> None:
    create(live_server, "--name", "默认", "--role", "viewer")
    expires = datetime.fromisoformat(listed(live_server)["默认"]["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=364) < expires - datetime.now(UTC) <= timedelta(days=365)  # YMT_TOKEN_DEFAULT_DAYS
    for args, needle in ((["--expires-in", "2000"], "1095"), (["--expires-at", "2099-01-01"], "1095"),
                         (["--expires-at", "明天"], "--expires-at"),
                         (["--expires-in", "5", "--expires-at", "2027-01-01"], "只能给一个"),
                         (["--division", "999999"], "division.0"), (["--division", "武陵区"], "division.0"),
                         (["--section", "a b"], "section.0")):
        out = ymt(live_server, "token", "create", "--name", "太长", "--role", "viewer", *args)
        assert out.returncode != 0 and needle in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)


@pytest.mark.any_database  # CLI flow and token rules: the same on every database
def test_rotation_keeps_name_role_and_scope(live_server) -> None:
    old = create(live_server, "--name", "一张图", "--role", "base_platform", "--division", "430702")
    before = listed(live_server)["一张图"]
    out = ymt(live_server, "token", "rotate", "一张图")
    assert out.returncode == 0, out.stderr
    new = out.stdout.strip().splitlines()[-1]
    assert new != old and new.startswith("ymt_")
    assert call(live_server, new).status_code == 200
    r = call(live_server, old)
    assert r.status_code == 401 and r.json()["detail"].startswith("令牌已吊销")
    after = listed(live_server)["一张图"]
    assert {k: after[k] for k in ("role", "divisions", "expires_at", "created_at")} == \
        {k: before[k] for k in ("role", "divisions", "expires_at", "created_at")} and after["rotated_at"]
    # with an overlap the old secret keeps working until it ends
    out = ymt(live_server, "token", "rotate", "一张图", "--overlap-minutes", "60")
    newer = out.stdout.strip().splitlines()[-1]
    assert call(live_server, new).status_code == 200 and call(live_server, newer).status_code == 200
    assert ymt(live_server, "token", "rotate", "没有这个").returncode != 0


def test_the_overlap_ends(ymt) -> None:  # type: ignore[no-untyped-def]
    with ymt.db.write() as s:
        first = tokens.create(s, "甲", "viewer")
        second = tokens.rotate(s, "甲", timedelta(minutes=5))
    with ymt.db.read() as s:
        assert tokens.check(s, first).actor is not None and tokens.check(s, second).actor is not None
    with ymt.db.write() as s:  # five minutes later
        s.execute(update(ApiToken).values(previous_valid_until=now() - timedelta(seconds=1)))
    with ymt.db.read() as s:
        assert tokens.check(s, first).problem == tokens.ROTATED and tokens.check(s, second).actor is not None


def test_scope_is_carried_on_the_actor(ymt) -> None:  # type: ignore[no-untyped-def]
    with ymt.db.write() as s:
        secret = tokens.create(s, "县局", "registrar", divisions=["430703"], sections=["planning"],
                               limits=tokens.TokenLimits.of_app(ymt))
    with ymt.db.read() as s:
        actor = tokens.check(s, secret).actor
    assert actor is not None and actor.divisions == frozenset({"430703"}) and actor.sections == frozenset({"planning"})


def test_demo_rotates_its_one_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "YMT_DATA_DIR": str(tmp_path / "demo"),
           "YMT_DATABASE_URL": f"sqlite:///{tmp_path / 'demo' / 'ymt.sqlite3'}"}

    def demo() -> str:
        out = subprocess.run([YMT, "demo", "--per-district", "0"], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        assert "yimatong-2026" in out.stderr
        return out.stdout.strip().splitlines()[-1]

    first, second = demo(), demo()
    app = App(Settings(database_url=env["YMT_DATABASE_URL"], data_dir=tmp_path / "demo"), load_profile("changde"))
    try:
        with app.db.read() as s:
            rows = tokens.listing(s)
            assert [r["name"] for r in rows if r["role"] == "admin"] == ["demo-admin"]
            assert tokens.check(s, first).actor is None and tokens.check(s, second).actor is not None
    finally:
        app.close()


def test_tokens_from_before_the_upgrade_keep_working(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A token made at revision 0004 (no owner, no expiry) still opens the API after the upgrade, for a year."""
    url, drop = fresh_database(tmp_path)
    try:
        engine = make_engine(url)
        cfg = alembic_config(engine)
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
            conn.commit()
        with engine.begin() as c:
            c.execute(text("INSERT INTO api_tokens (name, role, token_hash, prefix, created_at) "
                           "VALUES ('老系统', 'viewer', :h, 'ymt_old', :t)"),
                      {"h": tokens.token_hash("ymt_old-secret"), "t": datetime(2025, 1, 1, tzinfo=UTC)})
        upgrade(engine)
        engine.dispose()
        app = App(Settings(database_url=url, data_dir=tmp_path / "d"), load_profile("changde"))
        with app.db.read() as s:
            assert tokens.check(s, "ymt_old-secret").actor is not None
            row = tokens.listing(s)[0]
        app.close()
        assert row["owner"] is None and row["divisions"] == [] and row["state"] == "active"
        expires = datetime.fromisoformat(row["expires_at"].replace("Z", "+00:00"))
        assert timedelta(days=364) < expires - datetime.now(UTC) <= timedelta(days=365)
    finally:
        drop()


def fresh_database(tmp_path):  # type: ignore[no-untyped-def]
    if not is_pg():
        return f"sqlite:///{tmp_path / 'old.sqlite3'}", lambda: None
    name = "ymt_old_" + uuid.uuid4().hex[:10]
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return TEST_DB.rsplit("/", 1)[0] + "/" + name, drop


def test_a_token_scoped_to_wuling_stays_there(live_server) -> None:
    """The scope given at `ymt token create --division` reaches the policy: another district's project is
    404 to read and 403 to write or register."""
    city = {"Authorization": f"Bearer {create(live_server, '--name', '市局', '--role', 'registrar')}"}
    wuling = {"Authorization": "Bearer " + create(live_server, "--name", "武陵区分局", "--role", "registrar",
                                                  "--division", "430702")}
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        body = {"name": "鼎城区项目", "division": "430703", "year": 2026, "approval_type": "01", "project_type": "02",
                "supply_type": "23", "land_use": "0701"}
        code = c.post("/api/v1/projects", json=body, headers=city).json()["code"]
        assert c.get(f"/api/v1/projects/{code}", headers=wuling).status_code == 404
        assert c.patch(f"/api/v1/projects/{code}", json={"builder": "越权"}, headers=wuling).status_code in (403, 404)
        assert c.post("/api/v1/projects", json=body, headers=wuling).status_code == 403
        mine = c.post("/api/v1/projects", json=body | {"name": "武陵区项目", "division": "430702"}, headers=wuling)
        assert mine.status_code == 201, mine.text
        assert [p["division"] for p in c.get("/api/v1/projects", headers=wuling).json()["items"]] == ["430702"]
