"""People who log in to the web pages: the service functions the CLI (`ymt user …`) and the admin pages use.

A password someone else chose (at creation, an admin's reset) must be changed at the next login. Every change
of password, disabling and "log out everywhere" ends the user's sessions at once. Functions that hash
(argon2: a good fraction of a second each) take the App and keep the hashing outside any transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yimatong.accounts import logins, passwords, scope, sessions, totp
from yimatong.accounts.passwords import PasswordPolicy
from yimatong.core.context import ROLES, Actor, App, now, rfc3339
from yimatong.domain.profile import Profile
from yimatong.errors import Conflict, NotFound, invalid
from yimatong.storage.models import PasswordHistory, User

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.]{1,64}$")
ACTOR_PREFIX = "user:"


def actor_of(user: User) -> Actor:
    return Actor(f"{ACTOR_PREFIX}{user.username}", user.role, sections=frozenset(user.sections or ()),
                 divisions=frozenset(user.divisions or ()))


def create(session: Session, username: str, password: str, role: str, display_name: str | None = None, *,
           policy: PasswordPolicy = PasswordPolicy(), profile: Profile | None = None,
           divisions: Iterable[str] = (), sections: Iterable[str] = (), must_change_password: bool = True,
           created_by: str | None = None) -> User:
    """A new account. Its password was chosen by whoever creates it, so by default it must be changed at the
    first login."""
    _check_role(role)
    if not username or not USERNAME_RE.match(username):
        raise invalid("username", "用户名须为 1–64 位字母、数字、下划线或点")
    if display_name is not None and len(display_name) > 100:
        raise invalid("display_name", "显示名称不超过 100 个字符")
    passwords.check(policy, password, username)
    divs, secs = scope.divisions(profile, divisions), scope.sections(profile, sections)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"用户 {username} 已存在", [("username", "已存在")])
    t = now()
    user = User(username=username, display_name=display_name or username, password_hash=passwords.hash_password(password),
                role=role, created_at=t, disabled=False, must_change_password=must_change_password,
                password_changed_at=t, divisions=divs, sections=secs, created_by=created_by)
    session.add(user)
    session.flush()
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=t))
    logins.record(session, "created", username, user.id, logins.Client(None, None), actor=created_by)
    return user


def get(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalars().first()
    if user is None:
        raise NotFound(f"用户 {username} 不存在", [("username", "用户不存在")])
    return user


def listing(session: Session, app: App | None = None) -> list[dict[str, Any]]:
    """Every account with its role, scope and state (never a hash or a secret)."""
    rows = session.execute(select(User).order_by(User.username)).scalars().all()
    return [describe(session, app, u) for u in rows]


def describe(session: Session, app: App | None, user: User) -> dict[str, Any]:
    out: dict[str, Any] = {
        "username": user.username, "display_name": user.display_name, "role": user.role,
        "divisions": list(user.divisions or []), "sections": list(user.sections or []),
        "disabled": user.disabled, "must_change_password": user.must_change_password,
        "totp": totp.enrolled(user), "created_at": rfc3339(user.created_at), "created_by": user.created_by,
        "password_changed_at": rfc3339(user.password_changed_at) if user.password_changed_at else None}
    if app is not None:
        out["lock"] = logins.lock_state(session, user.username)
    return out


def update(session: Session, actor_name: str, username: str, *, profile: Profile | None = None,
           role: str | None = None, display_name: str | None = None, divisions: Iterable[str] | None = None,
           sections: Iterable[str] | None = None) -> User:
    """Role, name and scope; they apply to the user's open sessions at their next request."""
    user = get(session, username)
    if role is not None:
        _check_role(role)
        user.role = role
    if display_name is not None:
        if not display_name.strip() or len(display_name) > 100:
            raise invalid("display_name", "显示名称不能为空且不超过 100 个字符")
        user.display_name = display_name.strip()
    if divisions is not None:
        user.divisions = scope.divisions(profile, divisions)
    if sections is not None:
        user.sections = scope.sections(profile, sections)
    logins.record(session, "updated", username, user.id, logins.Client(None, None), actor=actor_name)
    return user


def disable(session: Session, actor_name: str, username: str) -> User:
    user = get(session, username)
    user.disabled = True
    sessions.revoke_all(session, user.id, "disabled")
    logins.record(session, "disabled", username, user.id, logins.Client(None, None), actor=actor_name)
    return user


def enable(session: Session, actor_name: str, username: str) -> User:
    user = get(session, username)
    user.disabled = False
    logins.record(session, "enabled", username, user.id, logins.Client(None, None), actor=actor_name)
    return user


def logout_everywhere(session: Session, actor_name: str, username: str) -> int:
    user = get(session, username)
    n = sessions.revoke_all(session, user.id, "logout_all")
    logins.record(session, "logout_all", username, user.id, logins.Client(None, None), actor=actor_name)
    return n


def unlock(session: Session, actor_name: str, username: str) -> bool:
    get(session, username)
    return logins.unlock(session, actor_name, username)


def reset_totp(session: Session, actor_name: str, username: str) -> None:
    """The user lost the authenticator: the second factor is enrolled again at the next login."""
    user = get(session, username)
    totp.reset(session, user.id)
    sessions.revoke_all(session, user.id, "totp_reset")
    logins.record(session, "totp_reset", username, user.id, logins.Client(None, None), actor=actor_name)


def reset_password(app: App, actor_name: str, username: str, new: str) -> None:
    """An admin sets a password: the user must change it at the next login; the account is unlocked."""
    with app.db.read() as s:
        user = get(s, username)
    _set_password(app, user.id, username, new, must_change=True, reason="password_reset", actor_name=actor_name)


def change_password(app: App, user_id: int, old: str, new: str, client: logins.Client) -> None:
    """The person changes their own password (the current one is asked again)."""
    with app.db.read() as s:
        user = s.get(User, user_id)
        if user is None or user.disabled:
            raise NotFound("账号不存在或已停用", [("username", "账号不存在或已停用")])
        username, current = user.username, user.password_hash
    if not passwords.verify(current, old):
        with app.db.write(exclusive=False) as s:
            logins.record(s, "password_change_failure", username, user_id, client)
        raise invalid("old_password", "当前密码错误")
    if new == old:
        raise invalid("password", "新密码不能与当前密码相同")
    _set_password(app, user_id, username, new, must_change=False, reason="password_changed", actor_name=None,
                  client=client)


def _set_password(app: App, user_id: int, username: str, new: str, *, must_change: bool, reason: str,
                  actor_name: str | None, client: logins.Client | None = None) -> None:
    policy = PasswordPolicy.of(app.settings)
    passwords.check(policy, new, username)
    with app.db.read() as s:
        recent = s.execute(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user_id)
                           .order_by(PasswordHistory.id.desc()).limit(policy.history)).scalars().all()
    if policy.history and any(passwords.verify(h, new) for h in recent):
        raise invalid("password", f"新密码不能与最近 {policy.history} 次使用过的密码相同")
    new_hash = passwords.hash_password(new)
    with app.db.write(exclusive=False) as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("账号不存在", [("username", "账号不存在")])
        t = now()
        user.password_hash, user.password_changed_at, user.must_change_password = new_hash, t, must_change
        s.add(PasswordHistory(user_id=user_id, password_hash=new_hash, created_at=t))
        s.flush()
        _trim_history(s, user_id, max(policy.history, 1))
        sessions.revoke_all(s, user_id, reason)
        logins.forget_user(s, username)
        logins.record(s, reason, username, user_id, client or logins.Client(None, None), actor=actor_name)


def _trim_history(s: Session, user_id: int, keep: int) -> None:
    ids = s.execute(select(PasswordHistory.id).where(PasswordHistory.user_id == user_id)
                    .order_by(PasswordHistory.id.desc()).offset(keep)).scalars().all()
    if ids:
        s.execute(delete(PasswordHistory).where(PasswordHistory.id.in_(ids)))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise invalid("role", f"未知角色 {role!r}，可选：{', '.join(ROLES)}")
