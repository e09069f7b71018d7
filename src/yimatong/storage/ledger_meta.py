"""What a database records about its ledger when it is created: the hash algorithm of the ledger and of the
file store (`sha256` or `sm3`), and from which seq event hashes cover confidentiality (format 2).

Every later check reads the recorded values, never the current configuration: a database created with sm3
stays sm3, one created before the choice existed stays sha256 (migration 0007 records it)."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from yimatong.domain.ledger import DEFAULT_ALG, check_alg
from yimatong.storage.models import Event, LedgerSetting

HASH_ALG = "hash_alg"
FORMAT_2_FROM = "event_format_2_from"

# Recorded values never change, so they are kept per engine once read (absent values are read again).
_CACHE: weakref.WeakKeyDictionary[Engine, dict[str, str]] = weakref.WeakKeyDictionary()


def get(session: Session, key: str) -> str | None:
    engine = session.get_bind()
    cached = _CACHE.get(engine, {}).get(key) if isinstance(engine, Engine) else None
    if cached is not None:
        return cached
    value = session.execute(select(LedgerSetting.value).where(LedgerSetting.key == key)).scalar()
    if value is not None and isinstance(engine, Engine):
        _CACHE.setdefault(engine, {})[key] = value
    return value


def put(session: Session, key: str, value: str) -> None:
    row = session.get(LedgerSetting, key)
    if row is None:
        session.add(LedgerSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()
    engine = session.get_bind()
    if isinstance(engine, Engine):
        _CACHE.setdefault(engine, {}).pop(key, None)


def hash_alg(session: Session, *, has_events: bool = False) -> str:
    """The ledger's hash algorithm; a database that never recorded one is sha256 (what it was written with).
    `has_events`: the caller knows the ledger has events (the appender, from its counter). An absent choice is
    then final — `choose_hash` records sha256 for a ledger with events — so it is kept like a recorded one
    instead of being read again on every append."""
    value = get(session, HASH_ALG)
    if value is None and has_events:
        engine = session.get_bind()
        if isinstance(engine, Engine):
            _CACHE.setdefault(engine, {})[HASH_ALG] = DEFAULT_ALG
    return value or DEFAULT_ALG


def format_2_from(session: Session) -> int:
    value = get(session, FORMAT_2_FROM)
    return int(value) if value is not None else 1


def choose_hash(session: Session, wanted: str | None) -> tuple[str, str | None]:
    """At `ymt init`: record the hash for a database that has none yet. Returns (the recorded algorithm, a
    note when `wanted` could not be honoured)."""
    if wanted is not None:
        check_alg(wanted)  # a typo is refused, even on a database whose choice is made already
    recorded = get(session, HASH_ALG)
    if recorded is not None:
        note = None if wanted in (None, recorded) else f"数据库创建时已选定 {recorded}，YMT_LEDGER_HASH={wanted} 不再生效"
        return recorded, note
    has_events = session.execute(select(func.count()).select_from(Event)).scalar_one() > 0
    alg = check_alg(wanted or DEFAULT_ALG)
    note = None
    if has_events and alg != DEFAULT_ALG:
        alg, note = DEFAULT_ALG, f"数据库已有按 {DEFAULT_ALG} 写入的台账，保持 {DEFAULT_ALG}（{wanted} 只能在新建数据库时选择）"
    put(session, HASH_ALG, alg)
    return alg, note


def resolver(db: Any) -> Any:
    """A callable giving the recorded hash algorithm of a `Database` (for the file store, built before it)."""

    def alg() -> str:
        with db.read() as session:
            return hash_alg(session)

    return alg
