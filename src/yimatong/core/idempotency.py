"""Idempotency-Key for writes that create something: the same key and body replays the first response;
the same key with another body is a conflict. The record is written in the transaction of the write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, App, now
from yimatong.domain.ledger import canonical
from yimatong.errors import Conflict
from yimatong.storage.models import IdempotencyRecord

Outcome = tuple[int, dict[str, Any]]


def request_hash(payload: Any) -> str:
    return hashlib.sha256(canonical({"p": payload})).hexdigest()


def run(app: App, actor: Actor, key: str | None, operation: str, payload: Any,
        fn: Callable[[Session], Outcome]) -> Outcome:
    """Run `fn` in one write transaction, once per (actor, key)."""
    if not key:
        with app.db.write() as session:
            return fn(session)
    if len(key) > 200:
        from yimatong.errors import invalid

        raise invalid("Idempotency-Key", "Idempotency-Key 不能超过 200 个字符")
    digest = request_hash({"op": operation, "payload": payload})
    for _ in range(3):
        try:
            return _run_once(app, actor, key, operation, digest, fn)
        except IntegrityError:
            continue  # a concurrent request with the same key committed first: replay its answer
    raise Conflict("同一 Idempotency-Key 的请求正在处理，请稍后重试", [("Idempotency-Key", "并发重复提交")])


def _run_once(app: App, actor: Actor, key: str, operation: str, digest: str,
              fn: Callable[[Session], Outcome]) -> Outcome:
    with app.db.write() as session:
        found = session.get(IdempotencyRecord, (actor.name, key))
        if found is not None:
            if found.request_hash != digest or found.operation != operation:
                raise Conflict("Idempotency-Key 已用于另一个不同的请求",
                               [("Idempotency-Key", "同一键对应的请求内容不同")])
            return found.status_code, json.loads(found.response)
        # Claim the key first: a concurrent twin blocks here (PostgreSQL) and then fails on the key.
        record = IdempotencyRecord(actor=actor.name, key=key, operation=operation, request_hash=digest,
                                   status_code=0, response="{}", created_at=now())
        session.add(record)
        session.flush()
        status, body = fn(session)
        record.status_code = status
        record.response = json.dumps(body, ensure_ascii=False, default=str)
        return status, body
