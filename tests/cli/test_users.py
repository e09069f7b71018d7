"""`ymt user …` for the administrator: accounts with scope, password resets from standard input, disabling,
unlocking, logging out everywhere, and the login log — black-box through the installed binary."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import YMT


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(tmp_path / "data")}


def ymt(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([YMT, *args], env=env, capture_output=True, text=True, timeout=120, input=input)


def accounts(env: dict[str, str]) -> dict[str, dict]:
    out = ymt(env, "user", "list", "--json")
    assert out.returncode == 0, out.stderr
    return {u["username"]: u for u in json.loads(out.stdout)}


@pytest.mark.any_database  # CLI flow and token rules: the same on every database
def test_an_administrator_manages_accounts(env) -> None:
    made = ymt(env, "user", "create", "--username", "zhou", "--role", "registrar", "--display-name", "周科长",
               "--division", "430703", "--section", "planning", "--password-stdin", input="First-pass-2026\n")
    assert made.returncode == 0 and "首次登录时须修改密码" in made.stdout, made.stderr
    zhou = accounts(env)["zhou"]
    assert zhou["divisions"] == ["430703"] and zhou["sections"] == ["planning"] and zhou["must_change_password"]
    assert "password" not in json.dumps(zhou).replace("must_change_password", "").replace("password_changed_at", "")
    bad = ymt(env, "user", "create", "--username", "qian", "--division", "000000", "--password-stdin",
              input="First-pass-2026\n")
    assert bad.returncode != 0 and "divisions.0" in bad.stderr and "Traceback" not in bad.stderr

    assert ymt(env, "user", "update", "zhou", "--role", "viewer", "--all-divisions").returncode == 0
    assert accounts(env)["zhou"]["role"] == "viewer" and accounts(env)["zhou"]["divisions"] == []
    weak = ymt(env, "user", "reset-password", "zhou", "--password-stdin", input="weak\n")
    assert weak.returncode != 0 and "至少 10 位" in weak.stderr
    again = ymt(env, "user", "reset-password", "zhou", "--password-stdin", input="First-pass-2026\n")
    assert again.returncode != 0 and "最近 5 次" in again.stderr  # the history holds the initial one
    assert ymt(env, "user", "reset-password", "zhou", "--password-stdin", input="Second-pass-2026\n").returncode == 0
    assert ymt(env, "user", "disable", "zhou").returncode == 0
    assert accounts(env)["zhou"]["disabled"] is True
    assert "已停用" in ymt(env, "user", "list").stdout
    assert ymt(env, "user", "enable", "zhou").returncode == 0
    assert "已结束 zhou 的 0 个登录会话" in ymt(env, "user", "logout", "zhou").stdout
    assert "未被锁定" in ymt(env, "user", "unlock", "zhou").stdout
    log = json.loads(ymt(env, "user", "events", "zhou", "--json").stdout)
    assert [e["kind"] for e in log][::-1] == ["created", "updated", "password_reset", "disabled", "enabled",
                                               "logout_all", "unlocked"]
    assert all(e["actor"].startswith("cli:") for e in log)
    for args in (["disable", "nobody"], ["unlock", "nobody"], ["reset-totp", "nobody"]):
        out = ymt(env, "user", *args)
        assert out.returncode != 0 and "不存在" in out.stderr and "Traceback" not in out.stderr, args
