"""Server-side web sessions (GB/T 22239-2019 8.1.4.1 b: 登录失败处理、连接超时自动退出). The browser holds a
random id (in a signed cookie, see web/auth.py); the database holds its SHA-256 with the user, times, address
and user agent. A session ends when revoked (logout, user disabled, password changed, "log out everywhere"),
after `session_idle_minutes` without a request, or `session_max_hours` after the login — in every process at
once, since the state is only in the database."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from yimatong.config import Settings
from yimatong.core.context import aware, now, rfc3339
from yimatong.storage.models import User, WebSession

TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most this often per session
KEEP_ENDED = timedelta(days=30)      # ended sessions stay this long for the record, then go


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(hours=8)

    @classmethod
    def of(cls, settings: Settings) -> SessionLimits:
        return cls(timedelta(minutes=settings.session_idle_minutes), timedelta(hours=settings.session_max_hours))


def hash_id(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start(session: Session, user_id: int, address: str | None, user_agent: str | None,
          mfa_pending: bool = False) -> str:
    """A new session for the user; returns the raw id for the cookie (never stored)."""
    raw = secrets.token_urlsafe(32)
    t = now()
    session.add(WebSession(token_hash=hash_id(raw), user_id=user_id, created_at=t, last_seen_at=t,
                           address=(address or "")[:64] or None, user_agent=(user_agent or "")[:300] or None,
                           mfa_pending=mfa_pending))
    session.flush()
    return raw


def lookup(session: Session, raw: str, limits: SessionLimits, at: datetime | None = None
           ) -> tuple[WebSession, User] | None:
    """The live session with this id and its user, or None (unknown, revoked, idle, too old, user disabled)."""
    at = at or now()
    row = session.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                          .where(WebSession.token_hash == hash_id(raw))).first()
    if row is None:
        return None
    ws, user = row
    if ws.revoked_at is not None or user.disabled:
        return None
    if at - aware(ws.last_seen_at) > limits.idle or at - aware(ws.created_at) > limits.max_age:
        return None
    return ws, user


def touch_due(ws: WebSession, at: datetime | None = None) -> bool:
    return (at or now()) - aware(ws.last_seen_at) >= TOUCH_EVERY


def touch(session: Session, session_id: int, at: datetime | None = None) -> None:
    session.execute(update(WebSession).where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
                    .values(last_seen_at=at or now()))


def revoke(session: Session, raw: str, reason: str) -> bool:
    result = session.execute(update(WebSession).where(WebSession.token_hash == hash_id(raw),
                                                      WebSession.revoked_at.is_(None))
                             .values(revoked_at=now(), revoked_reason=reason))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_all(session: Session, user_id: int, reason: str) -> int:
    """End every session of a user (disabled, password changed, log out everywhere); returns how many."""
    result = session.execute(update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
                             .values(revoked_at=now(), revoked_reason=reason))
    return int(result.rowcount)  # type: ignore[attr-defined]


def active(session: Session, user_id: int, limits: SessionLimits) -> list[dict[str, Any]]:
    """The user's live sessions (for the account page and the admin pages)."""
    at = now()
    rows = session.execute(select(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
                           .order_by(WebSession.id.desc()).limit(100)).scalars()
    return [{"id": ws.id, "created_at": rfc3339(ws.created_at), "last_seen_at": rfc3339(ws.last_seen_at),
             "address": ws.address, "user_agent": ws.user_agent}
            for ws in rows if at - aware(ws.last_seen_at) <= limits.idle
            and at - aware(ws.created_at) <= limits.max_age]


def purge(session: Session, limits: SessionLimits) -> None:
    """Drop sessions ended long ago (the login log keeps who logged in from where)."""
    session.execute(delete(WebSession).where(WebSession.created_at < now() - limits.max_age - KEEP_ENDED))
