"""Atomic named counters (code serials per scope, the ledger head): never max()+1."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Built once: building the statement per call cost as much as running it (registration's hot path). The upsert
# is spelt the same on SQLite and PostgreSQL.
_INCREMENT = text("INSERT INTO counters (scope, value) VALUES (:s, :n) "
                  "ON CONFLICT (scope) DO UPDATE SET value = counters.value + :n RETURNING value")


def next_counter(session: Session, scope: str, n: int = 1) -> int:
    """Atomically add n to a named counter and return its new value (row-locked until commit): the caller
    owns the values new-n+1 … new."""
    return int(session.execute(_INCREMENT, {"s": scope, "n": n}).scalar_one())
