"""The hash chain of the append-only ledger. Pure: canonical serialisation and hashing only."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical(payload: dict[str, Any]) -> bytes:
    """A stable byte form: sorted keys, no whitespace, UTF-8 — the same on every database and machine."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(seq: int, type_: str, code: str | None, actor: str, at: str, data: dict[str, Any],
               prev_hash: str) -> str:
    body = {"seq": seq, "type": type_, "code": code, "actor": actor, "at": at, "data": data, "prev_hash": prev_hash}
    return hashlib.sha256(canonical(body)).hexdigest()
