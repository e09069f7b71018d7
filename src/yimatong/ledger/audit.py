"""The read audit (访问审计, 等保 2.0 安全审计): who read what, when, from where, through which interface —
every download of an `internal` or `restricted` result file, every package, every export.

Records form a hash chain of their own (same construction and hash algorithm as the ledger, a counter of their
own), so that deleting or editing one is found by `ymt audit verify` (and by `ymt ledger verify`). Reads are not
ledger events: they would flood the change feed and webhooks, and the feed is for changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.context import Actor, App, now, rfc3339
from yimatong.domain.ledger import GENESIS, record_hash
from yimatong.errors import invalid
from yimatong.storage import ledger_meta
from yimatong.storage.counters import next_counter
from yimatong.storage.models import AuditRecord, Counter

INTERFACES = ("api", "web", "cli")
COUNTER = "audit"
# Action names people see on the audit page.
ACTIONS = {"file.download": "下载成果文件", "package.download": "下载成果包", "export.projects": "导出项目库",
           "export.parcels": "导出地块", "export.warnings": "导出预警清单", "export.audit": "导出审计记录"}
_INSERT = insert(AuditRecord)


def _body(seq: int, at: str, actor: str, action: str, obj: str, interface: str, address: str | None,
          prev_hash: str) -> dict[str, Any]:
    return {"seq": seq, "at": at, "actor": actor, "action": action, "object": obj, "interface": interface,
            "address": address, "prev_hash": prev_hash}


def record(session_or_app: Session | App, actor: Actor | str, action: str, object: str, interface: str,
           address: str | None) -> int:
    """Write one access record; returns its seq. With an App it commits on its own (a read path has no write
    transaction); with a Session it joins the caller's transaction."""
    if isinstance(session_or_app, App):
        with session_or_app.db.write(exclusive=False) as session:
            return _append(session, actor, action, object, interface, address)
    return _append(session_or_app, actor, action, object, interface, address)


def _append(session: Session, actor: Actor | str, action: str, obj: str, interface: str, address: str | None) -> int:
    if interface not in INTERFACES:
        raise ValueError(f"interface must be one of {INTERFACES}")
    name = actor.name if isinstance(actor, Actor) else str(actor)
    seq = next_counter(session, COUNTER)  # row-locked to commit: the audit chain has one order too
    prev = GENESIS
    if seq > 1:
        prev = session.execute(select(AuditRecord.hash).where(AuditRecord.seq == seq - 1)).scalar() or GENESIS
    at = rfc3339(now())
    body = _body(seq, at, name[:100], action[:40], obj[:300], interface, (address or None) and address[:100], prev)
    session.execute(_INSERT, [body | {"hash": record_hash(ledger_meta.hash_alg(session), body)}])
    return seq


def record_dict(r: AuditRecord) -> dict[str, Any]:
    return {"seq": r.seq, "at": r.at, "actor": r.actor, "action": r.action, "object": r.object,
            "interface": r.interface, "address": r.address}


@dataclass
class Filter:
    actor: str | None = None
    action: str | None = None
    since: str | None = None  # RFC 3339 text compared as stored (UTC, same format)
    until: str | None = None


def page(session: Session, after: int, limit: int, cursor: str | None = None, f: Filter | None = None
         ) -> dict[str, Any]:
    """`GET /api/v1/audit?after=&limit=`: ascending seq, like the change feed; the cursor is the plain seq."""
    pagination.check_limit(limit)
    if cursor:
        if not cursor.isdigit() or len(cursor) > 18:
            raise invalid("cursor", "cursor 应为上一页返回的 next_cursor")
        after = int(cursor)
    rows = list(session.execute(_filtered(f).where(AuditRecord.seq > after).order_by(AuditRecord.seq)
                                .limit(limit)).scalars())
    return {"items": [record_dict(r) for r in rows],
            "next_cursor": str(rows[-1].seq) if len(rows) == limit else None}


def _filtered(f: Filter | None) -> Any:
    stmt = select(AuditRecord)
    if f is None:
        return stmt
    if f.actor:
        stmt = stmt.where(AuditRecord.actor == f.actor)
    if f.action:
        stmt = stmt.where(AuditRecord.action == f.action)
    if f.since:
        stmt = stmt.where(AuditRecord.at >= f.since)
    if f.until:
        stmt = stmt.where(AuditRecord.at < f.until)
    return stmt


def newest_first(session: Session, f: Filter, before: int | None, limit: int) -> list[AuditRecord]:
    stmt = _filtered(f)
    if before is not None:
        stmt = stmt.where(AuditRecord.seq < before)
    return list(session.execute(stmt.order_by(AuditRecord.seq.desc()).limit(limit)).scalars())


def verify(session: Session, batch: int = 5000) -> tuple[int, int | None, str | None]:
    """Recompute the audit chain: (records checked, first bad seq or None, reason)."""
    alg = ledger_meta.hash_alg(session)
    prev, expected, after = GENESIS, 1, 0
    while True:
        rows = session.execute(select(AuditRecord).where(AuditRecord.seq > after).order_by(AuditRecord.seq)
                               .limit(batch)).scalars().all()
        if not rows:
            break
        for r in rows:
            if r.seq != expected:
                return expected - 1, expected, f"审计记录序号不连续：缺少第 {expected} 条"
            if r.prev_hash != prev:
                return expected - 1, r.seq, f"第 {r.seq} 条审计记录的 prev_hash 与前一条不符"
            body = _body(r.seq, r.at, r.actor, r.action, r.object, r.interface, r.address, r.prev_hash)
            if record_hash(alg, body) != r.hash:
                return expected - 1, r.seq, f"第 {r.seq} 条审计记录的内容与其哈希不符（已被改动）"
            prev, expected, after = r.hash, expected + 1, r.seq
        session.expunge_all()
    length = expected - 1
    counter = session.get(Counter, COUNTER)
    if counter is not None and counter.value != length:
        if counter.value > length:
            return length, length + 1, (f"审计记录末尾缺少第 {length + 1}–{counter.value} 条"
                                        f"（计数器为 {counter.value}，现存 {length} 条）")
        return length, counter.value + 1, f"审计计数器 {counter.value} 小于现存记录数 {length}"
    return length, None, None
