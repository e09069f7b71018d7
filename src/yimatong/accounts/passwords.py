"""Passwords of people: argon2id hashes (argon2-cffi) and the policy a new password must meet
(length, character classes, not the username, not one of the last N) — GB/T 22239-2019 8.1.4.1 a)
(等保 2.0, level 3: 身份标识具有唯一性，身份鉴别信息具有复杂度要求并定期更换)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from yimatong.config import Settings
from yimatong.errors import Invalid

HASHER = PasswordHasher()
MAX_LENGTH = 256  # beyond this a password is a way to make the server hash megabytes
CLASS_NAMES = ("小写字母", "大写字母", "数字", "其他字符")


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 10
    min_classes: int = 3
    history: int = 5

    @classmethod
    def of(cls, settings: Settings) -> PasswordPolicy:
        return cls(settings.password_min_length, settings.password_min_classes, settings.password_history)


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def burn(password: str) -> None:
    """The work of one verification, for an unknown user: the answer takes as long whether or not they exist."""
    HASHER.hash(password[:MAX_LENGTH])


def classes(password: str) -> int:
    kinds = set()
    for ch in password:
        if ch.isascii() and ch.islower():
            kinds.add(0)
        elif ch.isascii() and ch.isupper():
            kinds.add(1)
        elif ch.isdigit():
            kinds.add(2)
        else:
            kinds.add(3)
    return len(kinds)


def check(policy: PasswordPolicy, password: str, username: str, field: str = "password") -> None:
    """Raise Invalid naming `field` when the password breaks the policy (the history is checked apart)."""
    text = unicodedata.normalize("NFKC", password)
    if len(text) < policy.min_length:
        raise _bad(field, f"密码至少 {policy.min_length} 位")
    if len(text) > MAX_LENGTH:
        raise _bad(field, f"密码不超过 {MAX_LENGTH} 位")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise _bad(field, "密码不能包含控制字符")
    if classes(text) < policy.min_classes:
        raise _bad(field, f"密码须包含{'、'.join(CLASS_NAMES)}中的至少 {policy.min_classes} 类")
    # a one- or two-letter username is in too many passwords to be a useful rule
    if len(username) >= 3 and username.casefold() in text.casefold():
        raise _bad(field, "密码不能包含用户名")


def _bad(field: str, message: str) -> Invalid:
    return Invalid(message, [(field, message)])
