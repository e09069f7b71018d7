"""API tokens: one per client system, stored as SHA-256 (tokens are 256-bit random, so a fast hash is
safe; passwords of people use argon2 instead)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yimatong.core.context import ROLES, Actor, now
from yimatong.errors import Conflict, invalid
from yimatong.storage.models import ApiToken

PREFIX = "ymt_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, name: str, role: str, sections: list[str] | None = None,
           known_sections: list[str] | None = None) -> str:
    """A new token; `sections`: the sections (科室) it signs joint-review opinions for (checked against
    `known_sections`, the profile's, when given)."""
    for s in sections or []:
        if known_sections is not None and s not in known_sections:
            raise invalid("section", f"未知科室 {s!r}，可选：{', '.join(known_sections)}")
    if role not in ROLES:
        raise invalid("role", f"未知角色 {role!r}，可选：{', '.join(ROLES)}")
    if not name or len(name) > 100:
        raise invalid("name", "名称不能为空且不超过 100 个字符")
    if session.execute(select(ApiToken.id).where(ApiToken.name == name)).first():
        raise Conflict(f"令牌名称 {name} 已存在", [("name", "名称已存在")])
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_hash=token_hash(token), prefix=token[:10], created_at=now(),
                         sections=sorted(set(sections)) if sections else None))
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"令牌名称 {name} 已存在", [("name", "名称已存在")]) from None
    return token


def authenticate(session: Session, token: str) -> Actor | None:
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).scalars().first()
    if row is None or row.revoked_at is not None:
        return None
    return Actor(row.name, row.role, frozenset(row.sections or []))


def revoke(session: Session, name: str) -> bool:
    row = session.execute(select(ApiToken).where(ApiToken.name == name)).scalars().first()
    if row is None:
        return False
    row.revoked_at = now()
    return True
