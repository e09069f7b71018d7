"""People who log in to the web pages. Passwords hashed with argon2 (argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core.context import ROLES, Actor, now
from yimatong.errors import Conflict, invalid
from yimatong.storage.models import User

HASHER = PasswordHasher()


def create(session: Session, username: str, password: str, role: str, display_name: str | None = None,
           sections: list[str] | None = None, known_sections: list[str] | None = None) -> User:
    """A web account; `sections`: the sections (科室) the person signs joint-review opinions for."""
    for s in sections or []:
        if known_sections is not None and s not in known_sections:
            raise invalid("section", f"未知科室 {s!r}，可选：{', '.join(known_sections)}")
    if role not in ROLES:
        raise invalid("role", f"未知角色 {role!r}，可选：{', '.join(ROLES)}")
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise invalid("username", "用户名须为 1–64 位字母、数字、下划线或点")
    if len(password) < 8:
        raise invalid("password", "密码至少 8 位")
    if display_name is not None and len(display_name) > 100:
        raise invalid("display_name", "显示名称不超过 100 个字符")
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"用户 {username} 已存在", [("username", "已存在")])
    user = User(username=username, display_name=display_name or username, password_hash=HASHER.hash(password),
                role=role, created_at=now(), disabled=False, sections=sorted(set(sections)) if sections else None)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.execute(select(User).where(User.username == username)).scalars().first()
    if user is None or user.disabled:
        HASHER.hash(password)  # same work whether or not the user exists
        return None
    try:
        HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def actor_of(user: User) -> Actor:
    return Actor(f"user:{user.username}", user.role, frozenset(user.sections or []))
