"""Append to the hash-chained ledger (inside the caller's transaction) and verify it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, now, rfc3339
from yimatong.domain.ledger import GENESIS, canonical, event_hash
from yimatong.ledger import outbox
from yimatong.storage.counters import next_counter
from yimatong.storage.models import Blob, Event, Project, ResultFile, table

# Statements of the hot path built once (building them per call cost as much as running them).
_HASH_AT = select(Event.hash).where(Event.seq == bindparam("seq"))
_INSERT_EVENTS = insert(table(Event))


@dataclass(frozen=True)
class NewEvent:
    type: str
    code: str | None
    data: dict[str, Any]
    confidentiality: str = "internal"
    owner_role: str | None = None


def append(session: Session, type_: str, code: str | None, actor: Actor, data: dict[str, Any],
           confidentiality: str = "internal", owner_role: str | None = None) -> SimpleNamespace:
    return append_many(session, actor, [NewEvent(type_, code, data, confidentiality, owner_role)])[0]


def append_many(session: Session, actor: Actor, items: list[NewEvent]) -> list[SimpleNamespace]:
    """Append events in the given order. The ledger counter row lock orders concurrent writers, so seq is
    gap-free and commits in seq order: a feed reader never sees seq n+1 before n. A batch reserves its seqs
    with one counter update and reads the previous hash once (imports append thousands per file)."""
    if not items:
        return []
    last = next_counter(session, "ledger", len(items))
    first = last - len(items) + 1
    prev = GENESIS if first == 1 else session.execute(_HASH_AT, {"seq": first - 1}).scalar_one()
    at = rfc3339(now())
    divisions = divisions_of(session, {item.code for item in items if item.code})
    rows = []
    for seq, item in enumerate(items, start=first):
        data_text = canonical(item.data).decode()
        stored = json.loads(data_text)  # hash what the database will give back, not the Python objects
        h = event_hash(seq, item.type, item.code, actor.name, at, stored, prev)
        rows.append({"seq": seq, "type": item.type, "code": item.code, "actor": actor.name, "at": at,
                     "data": data_text, "prev_hash": prev, "hash": h, "confidentiality": item.confidentiality,
                     "owner_role": item.owner_role, "division": divisions.get(item.code or "")})
        prev = h
    # A Core insert: events are write-once, the ORM's identity tracking buys nothing on this hot path.
    session.execute(_INSERT_EVENTS, rows)
    events = [SimpleNamespace(**row) for row in rows]  # plain records: no ORM state to build per event
    outbox.enqueue_many(session, events)
    return events


def divisions_of(session: Session, codes: set[str]) -> dict[str, str]:
    """The division of each project by code: events carry it for district scope (feeds, webhooks)."""
    out: dict[str, str] = {}
    todo = list(codes)
    for i in range(0, len(todo), 5000):
        for code, division in session.execute(select(Project.code, Project.division).where(
                Project.code.in_(todo[i:i + 5000]))):
            out[code] = division
    return out


def event_dict(ev: Event) -> dict[str, Any]:
    return {"seq": ev.seq, "type": ev.type, "code": ev.code, "at": ev.at, "actor": ev.actor,
            "data": json.loads(ev.data), "hash": ev.hash, "prev_hash": ev.prev_hash}


@dataclass
class VerifyReport:
    ok: bool
    length: int
    head: str | None
    first_bad_seq: int | None
    reason: str | None = None
    bad_files: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "length": self.length, "head": self.head, "first_bad_seq": self.first_bad_seq,
                "reason": self.reason, "bad_files": self.bad_files or []}


def verify(session: Session, blobs: Any = None, batch: int = 5000) -> VerifyReport:
    """Recompute the chain in seq order (streamed in batches), then the hashes of stored files."""
    prev, expected, length, head = GENESIS, 1, 0, None
    last = 0
    while True:
        rows = session.execute(select(Event).where(Event.seq > last).order_by(Event.seq).limit(batch)).scalars().all()
        if not rows:
            break
        for ev in rows:
            bad = _check_event(ev, expected, prev)
            if bad:
                return VerifyReport(False, length, head, ev.seq if ev.seq == expected else expected, bad)
            prev, head, expected, length, last = ev.hash, ev.hash, expected + 1, length + 1, ev.seq
        session.expunge_all()
    if blobs is not None:
        bad_file = _check_files(session, blobs)
        if bad_file:
            seq, reason, names = bad_file
            return VerifyReport(False, length, head, seq, reason, names)
    return VerifyReport(True, length, head, None)


def _check_event(ev: Event, expected: int, prev: str) -> str | None:
    if ev.seq != expected:
        return f"事件序号不连续：缺少第 {expected} 条"
    if ev.prev_hash != prev:
        return f"第 {ev.seq} 条事件的 prev_hash 与前一条不符"
    try:
        data = json.loads(ev.data)
    except ValueError:
        return f"第 {ev.seq} 条事件的数据不是合法 JSON"
    if event_hash(ev.seq, ev.type, ev.code, ev.actor, ev.at, data, ev.prev_hash) != ev.hash:
        return f"第 {ev.seq} 条事件的内容与其哈希不符（已被改动）"
    return None


def _check_files(session: Session, blobs: Any) -> tuple[int | None, str, list[str]] | None:
    """Every blob must still hash to its name; report the ledger entry that recorded the first bad one."""
    bad: list[str] = []
    for (sha,) in session.execute(select(Blob.sha256).order_by(Blob.sha256)):
        if not blobs.verify(sha):
            bad.append(sha)
    if not bad:
        return None
    seq = None
    rid = session.execute(select(ResultFile.result_id).where(ResultFile.sha256 == bad[0]).limit(1)).scalar()
    if rid is not None:
        code_events = select(Event).where(Event.type == "result.added").order_by(Event.seq)
        for ev in session.execute(code_events).scalars():
            if json.loads(ev.data).get("result_id") == rid:
                seq = ev.seq
                break
    return seq, f"文件内容与其 SHA-256 不符：{bad[0]}", bad
