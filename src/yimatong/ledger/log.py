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
from yimatong.errors import AppError
from yimatong.ledger import merkle, outbox
from yimatong.storage import ledger_meta
from yimatong.storage.counters import next_counter
from yimatong.storage.models import Event, Project, table

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
    prev = GENESIS if first == 1 else _hash_at(session, first - 1)
    at = rfc3339(now())
    divisions = divisions_of(session, {item.code for item in items if item.code})
    alg, format_2 = ledger_meta.hash_alg(session), ledger_meta.format_2_from(session)
    rows = []
    for seq, item in enumerate(items, start=first):
        data_text = canonical(item.data).decode()
        stored = json.loads(data_text)  # hash what the database will give back, not the Python objects
        seen_by = (item.confidentiality, item.owner_role) if seq >= format_2 else None
        h = event_hash(seq, item.type, item.code, actor.name, at, stored, prev, alg, seen_by)
        rows.append({"seq": seq, "type": item.type, "code": item.code, "actor": actor.name, "at": at,
                     "data": data_text, "prev_hash": prev, "hash": h, "confidentiality": item.confidentiality,
                     "owner_role": item.owner_role, "division": divisions.get(item.code or "")})
        prev = h
    # A Core insert: events are write-once, the ORM's identity tracking buys nothing on this hot path.
    session.execute(_INSERT_EVENTS, rows)
    merkle.append_leaves(session, first, [str(row["hash"]) for row in rows])  # the verifiable log (RFC 9162)
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


class LedgerBroken(AppError):
    """The ledger's head is gone (events deleted behind the counter): refuse to write on a broken chain."""

    status = 503
    title = "台账已损坏"


def _hash_at(session: Session, seq: int) -> str:
    prev = session.execute(_HASH_AT, {"seq": seq}).scalar()
    if prev is None:
        raise LedgerBroken(f"台账第 {seq} 条事件缺失（计数器已到 {seq}）：台账被改动，暂停写入；"
                           "请管理员运行 ymt ledger verify 查明并从备份恢复", [("ledger", f"缺少第 {seq} 条事件")])
    return str(prev)
