"""What an operator with write access to the database can do: edit rows directly, or rewrite the whole history
consistently (every event hash and the Merkle tree recomputed), as a forger would."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import create_engine, text

from yimatong.domain import merkle
from yimatong.domain.ledger import GENESIS, event_hash
from yimatong.ledger.merkle import STORED_FROM
from yimatong.storage.db import normalize_url


def sql(db_url: str, *statements: str, **params: object) -> None:
    eng = create_engine(normalize_url(db_url))
    with eng.begin() as c:
        for s in statements:
            c.execute(text(s), params)
    eng.dispose()


def scalar(db_url: str, statement: str, **params: object) -> object:
    eng = create_engine(normalize_url(db_url))
    with eng.connect() as c:
        value = c.execute(text(statement), params).scalar()
    eng.dispose()
    return value


def rewrite_history(db_url: str, edit: Callable[[str], str], keep: int | None = None) -> None:
    """Rewrite every event's data with `edit` (optionally keeping only the first `keep` events), recompute every
    hash as the service would, rebuild the Merkle tree and set the counter: a self-consistent forged ledger."""
    eng = create_engine(normalize_url(db_url))
    with eng.begin() as c:
        alg = c.execute(text("SELECT value FROM ledger_settings WHERE key = 'hash_alg'")).scalar() or "sha256"
        f2 = int(c.execute(text("SELECT value FROM ledger_settings WHERE key = 'event_format_2_from'")).scalar() or 1)
        if keep is not None:
            c.execute(text("DELETE FROM deliveries WHERE seq > :k"), {"k": keep})
            c.execute(text("DELETE FROM events WHERE seq > :k"), {"k": keep})
        rows = c.execute(text("SELECT seq, type, code, actor, at, data, confidentiality, owner_role FROM events "
                              "ORDER BY seq")).all()
        prev, hashes = GENESIS, []
        for seq, type_, code, actor, at, data, conf, owner in rows:
            data = edit(data)
            h = event_hash(seq, type_, code, actor, at, json.loads(data), prev, alg,
                           (conf, owner) if seq >= f2 else None)
            c.execute(text("UPDATE events SET data=:d, prev_hash=:p, hash=:h WHERE seq=:s"),
                      {"d": data, "p": prev, "h": h, "s": seq})
            prev = h
            hashes.append(h)
        c.execute(text("DELETE FROM merkle_nodes"))
        nodes = [n for n in merkle.append(alg, {}, 0, [merkle.leaf_bytes(h) for h in hashes]) if n[0] >= STORED_FROM]
        if nodes:
            c.execute(text("INSERT INTO merkle_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                      [{"l": lv, "i": i, "h": h.hex()} for lv, i, h in nodes])
        c.execute(text("UPDATE counters SET value = :n WHERE scope = 'ledger'"), {"n": len(rows)})
    eng.dispose()
