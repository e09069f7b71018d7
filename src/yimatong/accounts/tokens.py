"""API tokens: one per client system, stored as SHA-256 (tokens are 256-bit random, so a fast hash is safe;
passwords of people use argon2 instead).

A token has a name (unique among the tokens not revoked), an owner (who created it), an expiry (default and
maximum in the settings), the time and address of its last use (written at most once a minute), and an
optional scope: the divisions it is limited to and the sections it acts for. Rotation gives a new secret under
the same name, role and scope; the old one stops at once or after an overlap."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yimatong.accounts import scope
from yimatong.config import Settings
from yimatong.core.context import ROLES, Actor, App, aware, now, rfc3339
from yimatong.domain.profile import Profile
from yimatong.errors import Conflict, NotFound, invalid
from yimatong.storage.models import ApiToken as ApiTokenRow

PREFIX = "ymt_"
TOUCH_EVERY = timedelta(seconds=60)
EXPIRED = "令牌已过期"
REVOKED = "令牌已吊销"
ROTATED = "令牌已吊销：已轮换为新令牌，旧令牌不再有效"
UNKNOWN = "令牌无效"
MAX_OVERLAP = timedelta(days=30)


@dataclass(frozen=True)
class TokenLimits:
    default_days: int = 365
    max_days: int = 1095
    profile: Profile | None = None  # validates divisions and sections when given

    @classmethod
    def of(cls, settings: Settings, profile: Profile | None = None) -> TokenLimits:
        return cls(settings.token_default_days, settings.token_max_days, profile)

    @classmethod
    def of_app(cls, app: App) -> TokenLimits:
        return cls.of(app.settings, app.profile)


@dataclass(frozen=True)
class Check:
    """What a presented token is: an actor, or why not (the 401 detail)."""

    actor: Actor | None
    problem: str | None = None
    token_id: int | None = None
    touch: bool = False  # last use is older than TOUCH_EVERY (or the address changed): write it


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, name: str, role: str, *, owner: str | None = "system",
           expires_at: datetime | None = None, divisions: Iterable[str] = (), sections: Iterable[str] = (),
           limits: TokenLimits = TokenLimits()) -> str:
    """A new token; returns the secret (shown once, only its hash is kept). `expires_at` may be in the past
    (an already expired token, for client tests) but not beyond the maximum lifetime."""
    if role not in ROLES:
        raise invalid("role", f"未知角色 {role!r}，可选：{', '.join(ROLES)}")
    if not name or not name.strip() or len(name) > 100:
        raise invalid("name", "名称不能为空且不超过 100 个字符")
    expiry = check_expiry(expires_at, limits)
    divs = scope.divisions(limits.profile, divisions, "division")
    secs = scope.sections(limits.profile, sections, "section")
    if _active(session, name) is not None:
        raise Conflict(f"令牌名称 {name} 已存在", [("name", "名称已存在（可吊销或轮换该令牌）")])
    token = _secret()
    session.add(ApiTokenRow(name=name, role=role, token_hash=token_hash(token), prefix=token[:10],
                            created_at=now(), owner=owner, expires_at=expiry, divisions=divs, sections=secs))
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"令牌名称 {name} 已存在", [("name", "名称已存在")]) from None
    return token


def check_expiry(expires_at: datetime | None, limits: TokenLimits, field: str = "expires_at") -> datetime:
    t = now()
    if expires_at is None:
        return t + timedelta(days=limits.default_days)
    if expires_at.tzinfo is None:
        # a time typed without a zone is the profile's local time
        expires_at = expires_at.replace(tzinfo=limits.profile.tz if limits.profile is not None else scope.LOCAL_TZ)
    if expires_at > t + timedelta(days=limits.max_days):
        raise invalid(field, f"令牌有效期最长 {limits.max_days} 天")
    return expires_at


def expiry_in_days(days: float, limits: TokenLimits, field: str = "expires_in") -> datetime:
    if not 0 < days <= limits.max_days:
        raise invalid(field, f"有效天数应在 1 到 {limits.max_days} 之间")
    return now() + timedelta(days=days)


def check(session: Session, token: str, address: str | None = None, at: datetime | None = None) -> Check:
    """Who presents this token — or that it is unknown, expired, revoked or rotated away."""
    at = at or now()
    digest = token_hash(token)
    row = session.execute(select(ApiTokenRow).where(or_(ApiTokenRow.token_hash == digest,
                                                        ApiTokenRow.previous_hash == digest))
                          .order_by(ApiTokenRow.id.desc()).limit(1)).scalars().first()
    if row is None:
        return Check(None, UNKNOWN)
    if row.revoked_at is not None:
        return Check(None, REVOKED)
    if row.token_hash != digest and (row.previous_valid_until is None or aware(row.previous_valid_until) <= at):
        return Check(None, ROTATED)
    if aware(row.expires_at) <= at:
        return Check(None, EXPIRED)
    due = row.last_used_at is None or at - aware(row.last_used_at) >= TOUCH_EVERY or \
        (address is not None and address[:64] != row.last_used_address)
    return Check(actor_of(row), token_id=row.id, touch=due)


def authenticate(session: Session, token: str) -> Actor | None:
    return check(session, token).actor


def touch(session: Session, token_id: int, address: str | None, at: datetime | None = None) -> None:
    session.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id)
                    .values(last_used_at=at or now(), last_used_address=(address or "")[:64] or None))


def actor_of(row: ApiTokenRow) -> Actor:
    return Actor(row.name, row.role, sections=frozenset(row.sections or ()), divisions=frozenset(row.divisions or ()))


def revoke(session: Session, name: str) -> bool:
    row = _active(session, name)
    if row is None:
        return False
    row.revoked_at = now()
    row.previous_hash = row.previous_valid_until = None
    return True


def rotate(session: Session, name: str, overlap: timedelta = timedelta(0)) -> str:
    """A new secret for the token of this name (same role, scope and expiry); the old secret keeps working for
    `overlap` (0: stops at once). Returns the new secret."""
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise invalid("overlap", f"重叠期应在 0 到 {MAX_OVERLAP.days} 天之间")
    row = _active(session, name)
    if row is None:
        raise NotFound(f"令牌 {name} 不存在或已吊销", [("name", "令牌不存在或已吊销")])
    token = _secret()
    t = now()
    row.previous_hash, row.previous_valid_until = row.token_hash, (t + overlap if overlap else t)
    row.token_hash, row.prefix, row.rotated_at = token_hash(token), token[:10], t
    session.flush()
    return token


def listing(session: Session, include_revoked: bool = True) -> list[dict[str, Any]]:
    """Every token with its state — never the secret or its hash."""
    stmt = select(ApiTokenRow).order_by(ApiTokenRow.name, ApiTokenRow.id)
    if not include_revoked:
        stmt = stmt.where(ApiTokenRow.revoked_at.is_(None))
    return [describe(r) for r in session.execute(stmt).scalars()]


def describe(row: ApiTokenRow, at: datetime | None = None) -> dict[str, Any]:
    at = at or now()
    state = "revoked" if row.revoked_at is not None else "expired" if aware(row.expires_at) <= at else "active"
    return {"name": row.name, "role": row.role, "owner": row.owner, "divisions": list(row.divisions or []),
            "sections": list(row.sections or []), "prefix": row.prefix, "state": state,
            "created_at": rfc3339(row.created_at), "expires_at": rfc3339(row.expires_at),
            "last_used_at": rfc3339(row.last_used_at) if row.last_used_at else None,
            "last_used_address": row.last_used_address,
            "revoked_at": rfc3339(row.revoked_at) if row.revoked_at else None,
            "rotated_at": rfc3339(row.rotated_at) if row.rotated_at else None}


def get(session: Session, name: str) -> ApiTokenRow | None:
    return _active(session, name)


def _active(session: Session, name: str) -> ApiTokenRow | None:
    return session.execute(select(ApiTokenRow).where(ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None))
                           ).scalars().first()


def _secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)

