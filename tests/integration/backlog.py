"""A large webhook backlog made quickly: events written straight into the ledger tables (seqs reserved from the
ledger counter, so later registrations continue after them) and fanned out by the real outbox."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import insert

from yimatong.core.context import App, now
from yimatong.ledger import outbox
from yimatong.storage.counters import next_counter
from yimatong.storage.models import Event, Subscription


def add_subscription(app: App, url: str, active: bool = True, **extra: object) -> int:
    with app.db.write() as session:
        sub = Subscription(url=url, types=[], secret="x" * 16, role="admin", active=active, parked=False,
                           created_by="test", created_at=now(), **extra)
        session.add(sub)
        session.flush()
        return sub.id


def backlog(app: App, n: int, keys: int, chunk: int = 5000) -> list[int]:
    """n events over `keys` project codes (every tenth one without a code); returns their seqs."""
    seqs: list[int] = []
    while len(seqs) < n:
        size = min(chunk, n - len(seqs))
        with app.db.write() as session:
            last = next_counter(session, "ledger", size)
            rows = []
            for seq in range(last - size + 1, last + 1):
                code = None if seq % 10 == 0 else f"4307022026B{seq % keys:08d}"
                rows.append({"seq": seq, "type": "project.updated", "code": code, "actor": "test",
                             "at": "2026-12-01T00:00:00.000000Z", "data": "{}", "prev_hash": "0" * 64,
                             "hash": "0" * 64, "confidentiality": "internal", "owner_role": None})
            session.execute(insert(Event.__table__), rows)
            outbox.enqueue_many(session, [SimpleNamespace(**r) for r in rows])
            seqs += [r["seq"] for r in rows]
    return seqs
