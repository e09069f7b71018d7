"""The optional second factor: TOTP (RFC 6238, 30 s, 6 digits, SHA-1 — what every authenticator app reads)
with pyotp; the enrolment QR code is an SVG made locally by segno (the secret never leaves the server except
on the enrolling person's screen). Each code is accepted once (the last time step used is kept)."""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime
from typing import Any

import pyotp
import segno
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from yimatong.core.context import now
from yimatong.errors import NotFound
from yimatong.storage.models import User

DRIFT_STEPS = 1  # a code from the step before or after is still accepted (clock drift, typing time)
MODES = ("optional", "required")


def required_for(user: User, mode: str) -> bool:
    return mode == "required" and user.role == "admin"


def enrolled(user: User) -> bool:
    return bool(user.totp_secret and user.totp_confirmed_at)


def begin(session: Session, user_id: int) -> str:
    """A fresh secret for a user who has none confirmed (a pending one is replaced); returns it."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("账号不存在", [("username", "账号不存在")])
    if enrolled(user):
        assert user.totp_secret is not None
        return user.totp_secret
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    return user.totp_secret


def provisioning(secret: str, username: str, issuer: str) -> dict[str, Any]:
    """What the enrolment page shows: the otpauth URI, the secret for typing in, and the QR as an SVG data URI."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)
    qr = segno.make(uri, error="m")
    return {"uri": uri, "secret": secret, "qr_svg": qr.svg_data_uri(scale=5, border=2)}


def matching_step(secret: str, code: str, last_step: int | None, at: float | None = None) -> int | None:
    """The time step whose code this is (within the drift), if it is later than the last one used."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    t = pyotp.TOTP(secret)
    at = time.time() if at is None else at
    current = t.timecode(datetime.fromtimestamp(at, UTC))
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        step = current + offset
        if hmac.compare_digest(t.generate_otp(step), code) and (last_step is None or step > last_step):
            return step
    return None


def use_step(session: Session, user_id: int, step: int) -> bool:
    """Record the step as used, unless a concurrent login used it (or a later one) first."""
    result = session.execute(update(User).where(User.id == user_id, or_(User.totp_last_step.is_(None),
                                                                         User.totp_last_step < step))
                             .values(totp_last_step=step))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def confirm(session: Session, user_id: int, code: str) -> bool:
    """Enrolment ends when the person types a code from the app: proof that the app holds the secret."""
    user = session.get(User, user_id)
    if user is None or not user.totp_secret:
        return False
    step = matching_step(user.totp_secret, code, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    user.totp_confirmed_at = now()
    return True


def reset(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is not None:
        user.totp_secret = user.totp_confirmed_at = user.totp_last_step = None

