"""The hash chain of the append-only ledger. Pure: canonical serialisation and hashing only.

The hash algorithm is the ledger's, fixed when the database is created: `sha256` (default) or `sm3`
(GB/T 32905-2016, the 商用密码 hash GB/T 39786-2021 asks for). Both give 32 bytes, written as 64 hex digits.
SM3 comes from `cryptography` (OpenSSL), never from a hand-written implementation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes

GENESIS = "0" * 64
HASH_ALGS = ("sha256", "sm3")
DEFAULT_ALG = "sha256"


class Hasher:
    """The incremental interface of hashlib, for either algorithm (file store and ledger)."""

    def __init__(self, alg: str) -> None:
        check_alg(alg)
        self._h: Any = hashlib.sha256() if alg == "sha256" else hashes.Hash(hashes.SM3())
        self._alg = alg

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest() if self._alg == "sha256" else self._h.finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()


def check_alg(alg: str) -> str:
    if alg not in HASH_ALGS:
        raise ValueError(f"unknown ledger hash algorithm {alg!r} (sha256 or sm3)")
    return alg


def digest_fn(alg: str) -> Callable[[bytes], bytes]:
    """One-shot hash function of an algorithm (sha256 through hashlib: the hot path of imports)."""
    check_alg(alg)
    if alg == "sha256":
        return lambda data: hashlib.sha256(data).digest()

    def sm3(data: bytes) -> bytes:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()

    return sm3


def canonical(payload: dict[str, Any]) -> bytes:
    """A stable byte form: sorted keys, no whitespace, UTF-8 — the same on every database and machine."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(seq: int, type_: str, code: str | None, actor: str, at: str, data: dict[str, Any],
               prev_hash: str, alg: str = DEFAULT_ALG, visibility: tuple[str, str | None] | None = None) -> str:
    """The hash of one event. `visibility` = (confidentiality, owner_role) for events of format 2 (written
    since migration 0007): who may see an event is then part of what is hashed, so that re-labelling a
    restricted event `public` breaks the chain. Format-1 events (None) hash as they always did."""
    body: dict[str, Any] = {"seq": seq, "type": type_, "code": code, "actor": actor, "at": at, "data": data,
                            "prev_hash": prev_hash}
    if visibility is not None:
        body["confidentiality"], body["owner_role"] = visibility
    return digest_fn(alg)(canonical(body)).hex()


def record_hash(alg: str, body: dict[str, Any]) -> str:
    """The hash of a record of another chain (the read audit) over its canonical form."""
    return digest_fn(alg)(canonical(body)).hex()
