"""A large webhook backlog made quickly: events appended to the ledger in large batches and fanned out by the real
outbox, as an import does."""

from __future__ import annotations

from yimatong.core.context import SYSTEM, App, now
from yimatong.ledger.log import NewEvent, append_many
from yimatong.storage.counters import next_counter
from yimatong.storage.models import Subscription


def add_subscription(app: App, url: str, active: bool = True, **extra: object) -> int:
    with app.db.write() as session:
        sub = Subscription(url=url, types=[], secret="x" * 16, role="admin", active=active, parked=False,
                           created_by="test", created_at=now(), **extra)
        session.add(sub)
        session.flush()
        return sub.id


def backlog(app: App, n: int, keys: int, chunk: int = 5000) -> list[int]:
    """n events over `keys` project codes (every tenth one without a code), appended to the real ledger (hash
    chain, Merkle tree) and fanned out by the real outbox; returns their seqs."""
    seqs: list[int] = []
    done = 0
    while done < n:
        size = min(chunk, n - done)
        with app.db.write() as session:
            base = next_counter(session, "ledger", 0)
            items = [NewEvent("project.updated", None if q % 10 == 0 else f"4307022026B{q % keys:08d}", {"n": q})
                     for q in range(base + 1, base + size + 1)]
            seqs += [ev.seq for ev in append_many(session, SYSTEM, items)]
        done += size
    return seqs
