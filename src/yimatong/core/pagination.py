"""Keyset pagination: opaque cursors over an increasing id; no OFFSET, no COUNT(*)."""

from __future__ import annotations

import base64
import json
from typing import Any

from yimatong.errors import invalid

MAX_LIMIT = 1000


def check_limit(limit: int) -> int:
    if limit < 1 or limit > MAX_LIMIT:
        raise invalid("limit", f"limit 必须在 1 到 {MAX_LIMIT} 之间")
    return limit


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise invalid("cursor", "cursor 无效：请使用上一页返回的 next_cursor") from None


def decode_id(cursor: str | None) -> int | None:
    """The id (or position) a cursor continues after. Every list pages over an integer, so anything else — a
    hand-made cursor, a float, a number no database column holds — is a 422 naming `cursor`, never a 500."""
    value = decode(cursor)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise invalid("cursor", "cursor 无效：请使用上一页返回的 next_cursor")
    return value
