"""Appending to the hash-chained ledger: writers queue their events (`record`), whoever holds the ledger's
order — SQLite's single writer, or the sequencer (`ledger.sequencer`) on PostgreSQL — integrates them
(`integrate`: seq, prev_hash, hash, Merkle tree, outbox)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, now, rfc3339
from yimatong.domain.ledger import GENESIS, canonical, event_hash
from yimatong.errors import AppError
from yimatong.ledger import merkle, outbox
from yimatong.storage import ledger_meta
from yimatong.storage.counters import next_ledger_seqs
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import Counter, Event, PendingEvent, Project, table

# Statements of the hot path built once (building them per call cost as much as running them), on the tables
# (Core): a statement on mapped attributes goes through the ORM's compile and result machinery on every call.
_EVENTS, _COUNTERS = table(Event), table(Counter)
_HASH_AT = select(_EVENTS.c.hash).where(_EVENTS.c.seq == bindparam("seq"))
_INSERT_EVENTS = insert(_EVENTS)
_HEAD = (select(_COUNTERS.c.value, _EVENTS.c.hash).outerjoin(_EVENTS, _EVENTS.c.seq == _COUNTERS.c.value)
         .where(_COUNTERS.c.scope == "ledger"))
_PROJECTS = table(Project)


@dataclass(frozen=True)
class NewEvent:
    type: str
    code: str | None
    data: dict[str, Any]
    confidentiality: str = "internal"
    owner_role: str | None = None
    division: str | None = None  # the project's division when the emitter knows it (else read at record time)


ORDER_LOCK_KEY = 7240530  # the sequencer's advisory lock: whoever holds it gives the ledger its order
_PENDING = table(PendingEvent)
_INSERT_PENDING = insert(_PENDING)
_INSERT_ONE_PENDING = insert(_PENDING).returning(_PENDING.c.id)
# The oldest queued events taken off the queue in one statement (DELETE … RETURNING, both databases): only the
# holder of the ledger's order deletes from the queue, so what it takes is exactly what it sequences.
_TAKE_PENDING = (delete(_PENDING)
                 .where(_PENDING.c.id.in_(select(_PENDING.c.id).order_by(_PENDING.c.id).limit(bindparam("n"))))
                 .returning(_PENDING.c.id, _PENDING.c.type, _PENDING.c.code, _PENDING.c.actor, _PENDING.c.at,
                            _PENDING.c.data, _PENDING.c.confidentiality, _PENDING.c.owner_role,
                            _PENDING.c.division))


def append(session: Session, type_: str, code: str | None, actor: Actor, data: dict[str, Any],
           confidentiality: str = "internal", owner_role: str | None = None) -> SimpleNamespace:
    return append_many(session, actor, [NewEvent(type_, code, data, confidentiality, owner_role)])[0]


def append_many(session: Session, actor: Actor, items: list[NewEvent]) -> list[SimpleNamespace]:
    """Append events to the ledger now, in the caller's transaction (scripts, tests, migrations): the
    sequencer's lock is taken and held to commit, whatever is queued goes first, then these. Commands do not
    call this: the unit of work queues their events (`record`)."""
    if not items:
        return []
    dialect_of(session).lock_for_writers(session, ORDER_LOCK_KEY, 60_000)
    while integrate_pending(session, 5000):
        pass
    return integrate(session, prepare(session, actor, items))


def record(session: Session, actor: Actor, items: list[NewEvent], *, known: dict[str, str] | None = None,
           sequence_batch: int = 0) -> list[SimpleNamespace]:
    """The unit of work's append. With one writer at a time (SQLite) the events go into the ledger at once.
    Otherwise, when the writer may sequence (`sequence_batch` > 0: its last append before the commit) and the
    sequencer's lock is free, it takes the lock (without waiting: it holds row locks) and integrates, in its
    own transaction, everything queued and committed before — and what it queued itself — and then its events:
    the lock is held from here to the commit, so events still commit in seq order, and the writer saves the
    separate sequencing transaction after its commit. Else the events are queued without any lock, and the
    sequencer gives them their seq once committed (records come back with seq None). `known`: divisions by
    code the caller has at hand (the projects it wrote), not read again."""
    if not items:
        return []
    rows = prepare(session, actor, items, known)
    dialect = dialect_of(session)
    if dialect.single_writer:
        return integrate(session, rows)
    if sequence_batch > 0 and dialect.try_lock(session, ORDER_LOCK_KEY):
        while integrate_pending(session, sequence_batch) == sequence_batch:
            pass  # a full batch: more may be queued
        return integrate(session, rows)
    return enqueue(session, rows)


def prepare(session: Session, actor: Actor, items: list[NewEvent], known: dict[str, str] | None = None
            ) -> list[dict[str, Any]]:
    """Everything of the events but seq, prev_hash and hash, fixed when the writer emits them: the time, the
    canonical text of the data (hashed as stored), the project's division (district scope): as the event
    carries it, or from `known`, else read."""
    at = rfc3339(now())
    divisions = dict(known or {})
    divisions |= {item.code: item.division for item in items if item.code and item.division is not None}
    missing = {item.code for item in items if item.code and item.code not in divisions}
    if missing:
        divisions |= divisions_of(session, missing)
    return [{"type": item.type, "code": item.code, "actor": actor.name, "at": at,
             "data": canonical(item.data).decode(), "confidentiality": item.confidentiality,
             "owner_role": item.owner_role, "division": divisions.get(item.code or "")} for item in items]


def enqueue(session: Session, rows: list[dict[str, Any]]) -> list[SimpleNamespace]:
    """Queue prepared events in `pending_events`, ids ascending in emit order (the sequencer keeps it)."""
    _check_head(session)
    t = now()
    if len(rows) == 1:  # the usual case: the id from the sequence as it inserts (one round trip, not two)
        queued = [rows[0] | {"queued_at": t}]
        queued[0]["id"] = session.execute(_INSERT_ONE_PENDING, queued).scalar_one()
    else:
        ids = dialect_of(session).reserve_ids(session, "pending_events_id_seq", len(rows))
        queued = [row | {"id": pid, "queued_at": t} for pid, row in zip(ids, rows, strict=True)]
        session.execute(_INSERT_PENDING, queued)
    return [SimpleNamespace(**row, seq=None) for row in queued]


def integrate_pending(session: Session, limit: int) -> int:
    """Sequence up to `limit` queued events, oldest id first, and drop them from the queue. The caller holds
    the sequencer's lock (or is SQLite's writer). Returns how many were sequenced."""
    rows = sorted((dict(r._mapping) for r in session.execute(_TAKE_PENDING, {"n": limit})), key=lambda r: r["id"])
    if not rows:
        return 0
    for row in rows:
        del row["id"]
    integrate(session, rows)
    return len(rows)


def integrate(session: Session, rows: list[dict[str, Any]]) -> list[SimpleNamespace]:
    """Give prepared events the next seqs in the given order, chain and hash them (format 2 from the recorded
    seq on), insert them, add them to the Merkle tree and fan them out to the outbox. The caller holds the
    ledger's order (SQLite's writer, or the sequencer's lock): the ledger counter it advances is then taken by
    nobody else, seq is gap-free and events commit in seq order, so a feed reader never sees seq n+1 before n.
    A batch reserves its seqs with one counter update and reads the previous hash once."""
    first, prev = _advance(session, len(rows))
    alg, format_2 = ledger_meta.hash_alg(session, has_events=first > 1), ledger_meta.format_2_from(session)
    out = []
    for seq, row in enumerate(rows, start=first):
        stored = json.loads(row["data"])  # hash what the database will give back, not the Python objects
        seen_by = (row["confidentiality"], row["owner_role"]) if seq >= format_2 else None
        h = event_hash(seq, row["type"], row["code"], row["actor"], row["at"], stored, prev, alg, seen_by)
        out.append(row | {"seq": seq, "prev_hash": prev, "hash": h})
        prev = h
    # A Core insert: events are write-once, the ORM's identity tracking buys nothing on this hot path.
    session.execute(_INSERT_EVENTS, out)
    merkle.append_leaves(session, first, [str(row["hash"]) for row in out], alg=alg,  # RFC 9162's log
                         prev_hash=None if first == 1 else str(out[0]["prev_hash"]))
    events = [SimpleNamespace(**row) for row in out]  # plain records: no ORM state to build per event
    outbox.enqueue_many(session, events)
    return events


def _advance(session: Session, n: int) -> tuple[int, str]:
    """Reserve the next n seqs (the ledger counter): (the first of them, the hash of the seq before it)."""
    last, prev = next_ledger_seqs(session, n)
    first = last - n + 1
    if first == 1:
        return first, GENESIS
    return first, str(prev) if prev is not None else _hash_at(session, first - 1)  # raises on a broken chain


def divisions_of(session: Session, codes: set[str]) -> dict[str, str]:
    """The division of each project by code: events carry it for district scope (feeds, webhooks)."""
    out: dict[str, str] = {}
    todo = list(codes)
    for i in range(0, len(todo), 5000):
        for code, division in session.execute(select(_PROJECTS.c.code, _PROJECTS.c.division).where(
                _PROJECTS.c.code.in_(todo[i:i + 5000]))):
            out[code] = division
    return out


def event_dict(ev: Event) -> dict[str, Any]:
    return {"seq": ev.seq, "type": ev.type, "code": ev.code, "at": ev.at, "actor": ev.actor,
            "data": json.loads(ev.data), "hash": ev.hash, "prev_hash": ev.prev_hash}


class LedgerBroken(AppError):
    """The ledger's head is gone (events deleted behind the counter): refuse to write on a broken chain."""

    status = 503
    title = "台账已损坏"


def _check_head(session: Session) -> None:
    """Refuse to queue on a broken chain (the newest events deleted behind the counter): the sequencer could not
    integrate them. One primary-key read, no lock: the counter and its event commit together."""
    head = session.execute(_HEAD).first()
    if head is not None and head.value > 0 and head.hash is None:
        _hash_at(session, int(head.value))  # raises LedgerBroken naming the missing seq


def _hash_at(session: Session, seq: int) -> str:
    prev = session.execute(_HASH_AT, {"seq": seq}).scalar()
    if prev is None:
        raise LedgerBroken(f"台账第 {seq} 条事件缺失（计数器已到 {seq}）：台账被改动，暂停写入；"
                           "请管理员运行 ymt ledger verify 查明并从备份恢复", [("ledger", f"缺少第 {seq} 条事件")])
    return str(prev)
