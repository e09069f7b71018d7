"""Atomic named counters (code serials per scope, the ledger head): never max()+1."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from yimatong.storage.dialect import dialect_of

# Built once: building the statement per call cost as much as running it (registration's hot path). The upsert
# is spelt the same on SQLite and PostgreSQL.
_INCREMENT = text("INSERT INTO counters (scope, value) VALUES (:s, :n) "
                  "ON CONFLICT (scope) DO UPDATE SET value = counters.value + :n RETURNING value")


def next_counter(session: Session, scope: str, n: int = 1) -> int:
    """Atomically add n to a named counter and return its new value (row-locked until commit): the caller
    owns the values new-n+1 … new."""
    return int(session.execute(_INCREMENT, {"s": scope, "n": n}).scalar_one())


# The ledger counter advanced and the hash of the seq before the reserved ones read in one round trip where a
# WITH clause may write (PostgreSQL); the read sees what this transaction and every commit before it wrote.
_LEDGER_AND_HASH = text("WITH c AS (INSERT INTO counters (scope, value) VALUES ('ledger', :n) ON CONFLICT (scope) "
                        "DO UPDATE SET value = counters.value + :n RETURNING value) "
                        "SELECT c.value, (SELECT e.hash FROM events e WHERE e.seq = c.value - :n) FROM c")


def next_ledger_seqs(session: Session, n: int) -> tuple[int, str | None]:
    """Reserve the ledger's next n seqs (the holder of its order only): (the new counter value, the hash of the
    event just before the reserved ones when read here — None when it was not, or is missing)."""
    if dialect_of(session).writable_ctes:
        last, prev = session.execute(_LEDGER_AND_HASH, {"n": n}).one()
        return int(last), None if prev is None else str(prev)
    return next_counter(session, "ledger", n), None
