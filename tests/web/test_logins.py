"""Login throttling and lockout (issue 15.1 and the contract), the forced change of an initial password, the
password policy, and the TOTP second factor for admins — through the login pages, as a person would."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from web.test_sessions import PASSWORD, csrf_of, make_user
from yimatong.accounts import logins, passwords, totp, users
from yimatong.accounts.passwords import PasswordPolicy
from yimatong.api.app import create_app
from yimatong.config import Settings
from yimatong.core.context import App, now
from yimatong.errors import Invalid
from yimatong.storage.models import LoginEvent, LoginGuard, User

WRONG = "用户名或密码错误"
LOCKED = "账号已临时锁定"
THROTTLED = "此地址登录失败次数过多"


@pytest.fixture
def web(ymt: App) -> Iterator[TestClient]:
    """The pages behind a trusted proxy, so that each attempt can come from the address the test says."""
    s = Settings(**{**ymt.settings.model_dump(), "trusted_proxies": "testclient"})
    with TestClient(create_app(s, App(s, ymt.profile))) as c:
        yield c


def attempt(client: httpx.Client, username: str, password: str, address: str = "10.0.0.1") -> httpx.Response:
    client.cookies.clear()
    page = client.get("/login", headers={"X-Forwarded-For": address})
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(page.text)},
                       headers={"X-Forwarded-For": address}, follow_redirects=False)


def kinds(ymt: App, username: str) -> list[str]:
    with ymt.db.read() as s:
        return list(s.execute(select(LoginEvent.kind).where(LoginEvent.username == username)
                              .order_by(LoginEvent.id)).scalars())


def test_an_account_locks_after_five_failures_from_any_address_and_only_that_account(web, ymt) -> None:
    make_user(ymt, "lisi")
    make_user(ymt, "zhaoliu")
    for i in range(5):  # five addresses, one failure each: it is the account that counts
        r = attempt(web, "lisi", "wrong-Password-1", f"10.0.1.{i}")
        assert r.status_code == 401 and WRONG in r.text
    right = attempt(web, "lisi", PASSWORD, "10.0.2.1")
    assert right.status_code == 401 and LOCKED in right.text and "15 分钟" in right.text
    assert attempt(web, "zhaoliu", PASSWORD, "10.0.1.1").status_code == 303  # the others are unaffected
    # a name that does not exist locks the same way: the answers never tell whether an account exists
    for i in range(5):
        assert WRONG in attempt(web, "nobody", "wrong-Password-1", f"10.0.3.{i}").text
    assert LOCKED in attempt(web, "nobody", PASSWORD, "10.0.3.9").text
    assert kinds(ymt, "lisi") == ["created", "failure", "failure", "failure", "failure", "failure", "locked",
                                  "refused_locked"]
    with ymt.db.write() as s:  # the lock lasts YMT_LOGIN_LOCK_MINUTES; then the account opens again
        s.execute(update(LoginGuard).where(LoginGuard.key == "u:lisi").values(locked_until=now() - timedelta(seconds=1)))
    assert attempt(web, "lisi", PASSWORD).status_code == 303
    assert kinds(ymt, "lisi")[-1] == "success"


def test_an_admin_unlocks_an_account(web, ymt, tmp_path) -> None:
    make_user(ymt, "lisi")
    for _ in range(5):
        attempt(web, "lisi", "wrong-Password-1")
    assert LOCKED in attempt(web, "lisi", PASSWORD).text
    with ymt.db.write() as s:
        assert users.describe(s, ymt, users.get(s, "lisi"))["lock"]["locked"] is True
        assert users.unlock(s, "user:admin", "lisi") is True
    assert attempt(web, "lisi", PASSWORD).status_code == 303
    with ymt.db.read() as s:
        unlocked = s.execute(select(LoginEvent).where(LoginEvent.kind == "unlocked")).scalars().one()
    assert unlocked.actor == "user:admin" and unlocked.username == "lisi"


def test_ymt_user_unlock(live_server) -> None:
    r = live_server.ymt("user", "unlock", "nobody-here", check=False)
    assert r.returncode != 0 and "不存在" in r.stderr and "Traceback" not in r.stderr


def test_an_address_is_throttled_across_accounts_before_any_hashing(web, ymt) -> None:
    make_user(ymt, "lisi")
    for i in range(20):  # YMT_LOGIN_ADDRESS_MAX_FAILURES: 20 names, one failure each, from one address
        assert WRONG in attempt(web, f"guess{i}", "wrong-Password-1", "10.9.9.9").text
    r = attempt(web, "lisi", PASSWORD, "10.9.9.9")
    assert r.status_code == 401 and THROTTLED in r.text
    assert attempt(web, "lisi", PASSWORD, "10.9.9.10").status_code == 303  # another address is unaffected
    with ymt.db.read() as s:
        throttled = s.execute(select(LoginEvent).where(LoginEvent.kind == "throttled")).scalars().one()
        guard = s.get(LoginGuard, "u:lisi")
    # refused before the account was even looked at: it counted no failure against lisi
    assert throttled.address == "10.9.9.9" and throttled.username == "lisi" and guard is not None and guard.failures == 0


def test_parallel_guesses_cannot_pass_the_limit(ymt) -> None:
    """Counted before hashing, under a row lock: 12 guesses at once get at most 5 verifications."""
    make_user(ymt, "lisi")
    with ThreadPoolExecutor(6) as pool:
        outs = list(pool.map(lambda i: logins.attempt(ymt, "lisi", f"wrong-Password-{i}",
                                                      logins.Client(f"10.1.0.{i}", None)), range(12)))
    assert sum(o.message == logins.BAD_CREDENTIALS for o in outs) <= 5
    assert all(o.message == logins.BAD_CREDENTIALS or LOCKED in (o.message or "") for o in outs)
    assert LOCKED in (logins.attempt(ymt, "lisi", PASSWORD, logins.Client("10.1.1.1", None)).message or "")


def test_an_initial_password_must_be_changed_at_first_login(client, ymt) -> None:
    with ymt.db.write() as s:
        users.create(s, "xiaoming", "Initial-Pass-1", "registrar", "小明")  # created by an admin: forced change
    page = client.get("/login")
    r = client.post("/login", data={"username": "xiaoming", "password": "Initial-Pass-1", "csrf": csrf_of(page.text),
                                    "next": "/projects"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/password?next=/projects"
    # nothing else opens until it is changed: pages send the person back, the API bridge refuses
    assert client.get("/projects", follow_redirects=False).headers["location"].startswith("/account/password")
    assert client.get("/api/v1/projects").status_code == 401
    form = client.get("/account/password")
    assert "初始密码" in form.text
    token = csrf_of(form.text)

    def change(new: str, again: str | None = None, old: str = "Initial-Pass-1") -> httpx.Response:
        return client.post("/account/password", data={"old_password": old, "password": new,
                                                       "password2": again or new, "csrf": token,
                                                       "next": "/projects"}, follow_redirects=False)

    assert "至少 10 位" in change("Short-1").text
    assert "至少 3 类" in change("onlylowercaseletters").text
    assert "不能包含用户名" in change("Xiaoming-2026!").text
    assert "不一致" in change("Good-Passw0rd", "Good-Passw0rd-typo").text
    assert "当前密码错误" in change("Good-Passw0rd", old="wrong").text
    assert "不能与当前密码相同" in change("Initial-Pass-1").text
    done = change("Good-Passw0rd")
    assert done.status_code == 303 and done.headers["location"] == "/projects"
    assert client.get("/projects").status_code == 200 and client.get("/api/v1/projects").status_code == 200
    with ymt.db.read() as s:
        assert s.execute(select(User.must_change_password).where(User.username == "xiaoming")).scalar() is False


def test_a_password_may_not_repeat_the_last_five(ymt) -> None:
    make_user(ymt, "lisi")
    with ymt.db.read() as s:
        uid = users.get(s, "lisi").id
    client = logins.Client(None, None)
    history = [PASSWORD, "Second-pass-2", "Third-pass-3", "Fourth-pass-4", "Fifth-pass-5"]
    for old, new in zip(history, history[1:], strict=False):
        users.change_password(ymt, uid, old, new, client)
    with pytest.raises(Invalid, match="最近 5 次"):
        users.change_password(ymt, uid, "Fifth-pass-5", PASSWORD, client)  # the first one is still among the last 5
    users.change_password(ymt, uid, "Fifth-pass-5", "Sixth-pass-6", client)
    users.change_password(ymt, uid, "Sixth-pass-6", PASSWORD, client)  # now it is the 6th back: allowed again


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.sampled_from(["lisi", "zhangsan", "ab", "wang.wu"]))
def test_every_password_the_policy_accepts_meets_each_rule(password: str, username: str) -> None:
    policy = PasswordPolicy()
    try:
        passwords.check(policy, password, username)
    except Invalid as exc:
        assert exc.errors[0][0] == "password"
        return
    text = unicodedata.normalize("NFKC", password)
    assert len(text) >= 10 and passwords.classes(text) >= 3
    assert len(username) < 3 or username.casefold() not in text.casefold()


def fresh_code(secret: str, last_step: int | None) -> str:
    """The authenticator's code now — or of the next step when this one's code was used already."""
    t = pyotp.TOTP(secret)
    step = max(int(time.time()) // 30, (last_step or 0) + 1)
    return t.generate_otp(step)


def last_step(ymt: App, username: str) -> int | None:
    with ymt.db.read() as s:
        return s.execute(select(User.totp_last_step).where(User.username == username)).scalar()


def test_totp_enrolment_and_login_for_an_admin(client, ymt) -> None:
    make_user(ymt, "admin1", role="admin")
    page = client.get("/login")
    client.post("/login", data={"username": "admin1", "password": PASSWORD, "csrf": csrf_of(page.text)})
    enrol = client.get("/account/totp")
    assert enrol.status_code == 200 and "data:image/svg+xml" in enrol.text and "otpauth://totp/" in enrol.text
    secret = enrol.text.split('id="totp-secret">')[1].split("<")[0]
    token = csrf_of(enrol.text)
    bad = client.post("/account/totp", data={"code": "000000" if fresh_code(secret, None) != "000000" else "111111",
                                             "csrf": token})
    assert bad.status_code == 422 and "验证码错误" in bad.text
    ok = client.post("/account/totp", data={"code": fresh_code(secret, None), "csrf": token}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/account?done=totp"
    assert "已启用" in client.get("/account").text

    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    page = client.get("/login")
    r = client.post("/login", data={"username": "admin1", "password": PASSWORD, "csrf": csrf_of(page.text),
                                    "next": "/map"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login/totp?next=/map"
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login/totp")
    assert client.get("/api/v1/projects").status_code == 401  # the password alone opens nothing
    form = client.get("/login/totp")
    used = pyotp.TOTP(secret).generate_otp(last_step(ymt, "admin1") or 0)  # the enrolment's code: used already
    replay = client.post("/login/totp", data={"code": used, "csrf": csrf_of(form.text)})
    assert replay.status_code == 401 and "验证码错误" in replay.text
    good = client.post("/login/totp", data={"code": fresh_code(secret, last_step(ymt, "admin1")),
                                            "csrf": csrf_of(form.text), "next": "/map"}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/map"
    assert client.get("/map").status_code == 200
    assert kinds(ymt, "admin1")[-3:] == ["success", "totp_failure", "totp_success"]


def test_wrong_codes_lock_the_account_like_wrong_passwords(client, ymt) -> None:
    make_user(ymt, "admin2", role="admin")
    with ymt.db.write() as s:
        uid = users.get(s, "admin2").id
        secret = totp.begin(s, uid)
        assert totp.confirm(s, uid, fresh_code(secret, None))
    page = client.get("/login")
    client.post("/login", data={"username": "admin2", "password": PASSWORD, "csrf": csrf_of(page.text)})
    token = csrf_of(client.get("/login/totp").text)
    wrong = "123456" if fresh_code(secret, last_step(ymt, "admin2")) != "123456" else "654321"
    for _ in range(5):
        assert "验证码错误" in client.post("/login/totp", data={"code": wrong, "csrf": token}).text
    locked = client.post("/login/totp", data={"code": fresh_code(secret, last_step(ymt, "admin2")), "csrf": token})
    assert LOCKED in locked.text


def test_admins_must_enrol_when_totp_is_required(ymt) -> None:
    s = Settings(**{**ymt.settings.model_dump(), "admin_totp": "required"})
    make_user(ymt, "admin3", role="admin")
    make_user(ymt, "clerk", role="registrar")
    with TestClient(create_app(s, App(s, ymt.profile))) as c:
        page = c.get("/login")
        r = c.post("/login", data={"username": "admin3", "password": PASSWORD, "csrf": csrf_of(page.text)},
                   follow_redirects=False)
        assert r.headers["location"] == "/account/totp?next=/"
        assert c.get("/projects", follow_redirects=False).headers["location"].startswith("/account/totp")
        assert c.get("/api/v1/projects").status_code == 401
        assert "管理员账号须启用两步验证" in c.get("/account/totp").text
        c.post("/logout", data={"csrf": csrf_of(c.get("/account/totp").text)})
        page = c.get("/login")
        r = c.post("/login", data={"username": "clerk", "password": PASSWORD, "csrf": csrf_of(page.text)},
                   follow_redirects=False)
        assert r.headers["location"] == "/"  # other roles are not asked
