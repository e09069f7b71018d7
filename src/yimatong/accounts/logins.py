"""Web login attempts: throttle, lockout, log (GB/T 22239-2019 8.1.4.1 b: 应具有登录失败处理功能，应配置并启用
结束会话、限制非法登录次数).

- An account (by the name typed, whether or not it exists, so that the answer never tells) is locked after
  `login_max_failures` consecutive failures for `login_lock_minutes`, whatever address they come from.
- An address is throttled after `login_address_max_failures` failures across accounts within
  `login_address_window_minutes`; other addresses and accounts are unaffected.
- Both are checked and counted *before* the password is hashed: argon2 costs 64 MiB and a good fraction of a
  second, so an unthrottled login would be a denial-of-service lever. The count is taken pessimistically (a
  failure until the hash says otherwise) under a row lock, so parallel guesses cannot slip past the limit.
- No hashing happens inside a transaction; every attempt, lock and unlock is a row of `login_events`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yimatong.accounts import passwords, totp
from yimatong.config import Settings
from yimatong.core.context import App, aware, now, rfc3339
from yimatong.storage.models import LoginEvent, LoginGuard, User

BAD_CREDENTIALS = "用户名或密码错误"
BAD_CODE = "验证码错误或已使用，请输入验证器中的最新 6 位数字"
DISABLED = "账号已停用，请联系管理员"
T = TypeVar("T")


@dataclass(frozen=True)
class LoginLimits:
    max_failures: int = 5
    lock: timedelta = timedelta(minutes=15)
    address_max_failures: int = 20
    address_window: timedelta = timedelta(minutes=15)

    @classmethod
    def of(cls, settings: Settings) -> LoginLimits:
        return cls(settings.login_max_failures, timedelta(minutes=settings.login_lock_minutes),
                   settings.login_address_max_failures, timedelta(minutes=settings.login_address_window_minutes))


@dataclass(frozen=True)
class Outcome:
    ok: bool
    user_id: int | None = None
    message: str | None = None  # Chinese, for the person; never says whether the account exists


@dataclass(frozen=True)
class Client:
    address: str | None
    user_agent: str | None


def attempt(app: App, username: str, password: str, client: Client) -> Outcome:
    """One password login. Returns the user on success (the caller starts the session)."""
    limits = LoginLimits.of(app.settings)
    username = username.strip()[:200]
    with app.db.write(exclusive=False) as s:
        refused = _retry(lambda: _reserve(s, limits, username, client))
        if refused:
            return Outcome(False, message=refused)
        user = s.execute(select(User).where(User.username == username)).scalars().first()
        known = (user.id, user.password_hash, user.disabled) if user is not None else None
    if len(password) > passwords.MAX_LENGTH:
        good = False  # never hashed: a megabyte "password" is a way to make the server work
    elif known is None:
        passwords.burn(password)  # as long as a real verification: the answer's time tells nothing
        good = False
    else:
        good = passwords.verify(known[1], password)
    with app.db.write(exclusive=False) as s:
        if not good:
            _failed(s, limits, username, known[0] if known else None, client, "failure")
            return Outcome(False, message=BAD_CREDENTIALS)
        assert known is not None
        _release(s, username, client)
        if known[2]:
            record(s, "refused_disabled", username, known[0], client)
            return Outcome(False, message=DISABLED)
        record(s, "success", username, known[0], client)
        if passwords.needs_rehash(known[1]):  # the hasher's parameters were raised since
            user = s.get(User, known[0])
            if user is not None:
                user.password_hash = passwords.hash_password(password)
    return Outcome(True, user_id=known[0])


def second_factor(app: App, user_id: int, code: str, client: Client) -> Outcome:
    """The TOTP code after the password (admins): counted against the same lock as passwords."""
    limits = LoginLimits.of(app.settings)
    with app.db.write(exclusive=False) as s:
        user = s.get(User, user_id)
        if user is None or user.disabled or not user.totp_secret:
            return Outcome(False, message=BAD_CODE)
        username = user.username
        refused = _retry(lambda: _reserve(s, limits, username, client))
        if refused:
            return Outcome(False, message=refused)
        secret, last = user.totp_secret, user.totp_last_step
    step = totp.matching_step(secret, code, last)
    with app.db.write(exclusive=False) as s:
        if step is None or not totp.use_step(s, user_id, step):
            _failed(s, limits, username, user_id, client, "totp_failure")
            return Outcome(False, message=BAD_CODE)
        _release(s, username, client)
        record(s, "totp_success", username, user_id, client)
    return Outcome(True, user_id=user_id)


def unlock(session: Session, actor_name: str, username: str) -> bool:
    """An admin lifts the lock of an account (by name); returns whether it was locked or counting failures."""
    found = session.get(LoginGuard, _user_key(username))
    if found is not None:
        session.delete(found)
    record(session, "unlocked", username, _user_id(session, username), Client(None, None), actor=actor_name)
    return found is not None and found.failures > 0


def lock_state(session: Session, username: str) -> dict[str, Any]:
    """Whether an account is locked, until when, and the failures counted (for the admin pages)."""
    g = session.get(LoginGuard, _user_key(username))
    t = now()
    locked = g is not None and g.locked_until is not None and aware(g.locked_until) > t
    return {"locked": locked, "locked_until": rfc3339(g.locked_until) if locked and g and g.locked_until else None,
            "failures": g.failures if g is not None and not _expired(g, t) else 0}


def record(session: Session, kind: str, username: str, user_id: int | None, client: Client,
           actor: str | None = None) -> None:
    session.add(LoginEvent(at=now(), kind=kind, username=username[:200], user_id=user_id,
                           address=(client.address or "")[:64] or None,
                           user_agent=(client.user_agent or "")[:300] or None, actor=actor))


def events(session: Session, username: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest login events, of one account or all (for the admin pages and `ymt user events`)."""
    stmt = select(LoginEvent).order_by(LoginEvent.id.desc()).limit(min(max(limit, 1), 1000))
    if username is not None:
        stmt = stmt.where(LoginEvent.username == username)
    return [{"id": e.id, "at": rfc3339(e.at), "kind": e.kind, "username": e.username, "address": e.address,
             "user_agent": e.user_agent, "actor": e.actor} for e in session.execute(stmt).scalars()]


def forget_user(session: Session, username: str) -> None:
    session.execute(delete(LoginGuard).where(LoginGuard.key == _user_key(username)))


# --- the counters ---------------------------------------------------------------------------------------


def _reserve(s: Session, limits: LoginLimits, username: str, client: Client) -> str | None:
    """Check the address and the account; when neither is over its limit, count this attempt as a failure
    (released on success). Returns the refusal message, or None to go on and hash."""
    t = now()
    addr = _guard(s, _address_key(client.address), t) if client.address else None
    if addr is not None:
        if aware(addr.window_start) + limits.address_window <= t:
            addr.failures, addr.window_start = 0, t
        if addr.failures >= limits.address_max_failures:
            record(s, "throttled", username, None, client)
            wait = aware(addr.window_start) + limits.address_window - t
            return f"此地址登录失败次数过多，请 {_minutes(wait)} 分钟后再试"
    user = _guard(s, _user_key(username), t)
    if _expired(user, t):
        user.failures, user.locked_until = 0, None
    if user.locked_until is not None or user.failures >= limits.max_failures:
        user.locked_until = user.locked_until or t + limits.lock
        record(s, "refused_locked", username, None, client)
        return (f"登录失败次数过多，账号已临时锁定，请 {_minutes(aware(user.locked_until) - t)} 分钟后再试，"
                "或请管理员解锁")
    user.failures += 1
    user.updated_at = t
    if user.failures >= limits.max_failures:
        user.locked_until = t + limits.lock  # provisional: lifted at once if this password is right
    if addr is not None:
        addr.failures += 1
        addr.updated_at = t
    return None


def _failed(s: Session, limits: LoginLimits, username: str, user_id: int | None, client: Client, kind: str) -> None:
    record(s, kind, username, user_id, client)
    g = s.get(LoginGuard, _user_key(username))
    if g is not None and g.failures == limits.max_failures and g.locked_until is not None:
        record(s, "locked", username, user_id, client)


def _release(s: Session, username: str, client: Client) -> None:
    """The password (or code) was right: the account's count starts again; the address gets its attempt back."""
    t = now()
    g = s.execute(select(LoginGuard).where(LoginGuard.key == _user_key(username)).with_for_update()).scalars().first()
    if g is not None:
        g.failures, g.locked_until, g.updated_at = 0, None, t
    if client.address:
        a = s.execute(select(LoginGuard).where(LoginGuard.key == _address_key(client.address))
                      .with_for_update()).scalars().first()
        if a is not None and a.failures > 0:
            a.failures, a.updated_at = a.failures - 1, t


def _guard(s: Session, key: str, t: datetime) -> LoginGuard:
    g = s.execute(select(LoginGuard).where(LoginGuard.key == key).with_for_update()).scalars().first()
    if g is None:
        g = LoginGuard(key=key, failures=0, window_start=t, updated_at=t)
        with s.begin_nested():  # two first attempts at once: the loser retries (see _retry)
            s.add(g)
    return g


def _retry(fn: Callable[[], T]) -> T:
    for _ in range(3):
        try:
            return fn()
        except IntegrityError:
            continue
    return fn()


def _expired(g: LoginGuard, t: datetime) -> bool:
    return g.locked_until is not None and aware(g.locked_until) <= t


def _user_key(username: str) -> str:
    return f"u:{username[:190]}"


def _address_key(address: str | None) -> str:
    return f"a:{(address or '')[:190]}"


def _user_id(session: Session, username: str) -> int | None:
    return session.execute(select(User.id).where(User.username == username)).scalar()


def _minutes(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds() / 60))
