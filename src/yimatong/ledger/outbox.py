"""Transactional outbox: deliveries are written in the same transaction as the event they carry.

A subscription sees exactly what its creator may see (contract "Tokens, audit, scope"): the role's rule for
restricted events and, for a creator limited to divisions, only events of projects in those divisions (an event
without a project — an import summary — is then not shown). Next to each delivery the fan-out makes sure its
ordering key has a head (`DeliveryHead`, see `delivery.queue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from yimatong.core.context import now
from yimatong.core.visibility import role_sees
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import ApiToken, Delivery, DeliveryHead, Project, Subscription

# Live subscriptions: not deleted, and not made by a token since revoked (a revoked token sees nothing). Paused
# and parked ones still queue: they get everything once resumed.
_LIVE = (select(Subscription.id, Subscription.types, Subscription.role, Subscription.divisions)
         .outerjoin(ApiToken, ApiToken.name == Subscription.created_by)
         .where(Subscription.active.is_(True), or_(ApiToken.id.is_(None), ApiToken.revoked_at.is_(None))))
_UNSET = object()


def sees(role: str, divisions: Sequence[str], ev: Any, division: str | None) -> bool:
    """The subscription's scope applied to one event (the same rules as the change feed's)."""
    if not role_sees(role, ev.confidentiality, ev.owner_role):
        return False
    return not divisions or division in divisions


def enqueue_many(session: Session, events: Sequence[Any]) -> None:
    """One delivery per event (anything with the Event's attributes) and live subscription that wants its
    type and may see it, and a head for every ordering key that has none."""
    subs = session.execute(_LIVE).all()
    if not subs or not events:
        return
    divisions = _divisions(session, events) if any(sub.divisions for sub in subs) else {}
    t = now()
    rows: list[dict[str, Any]] = []
    heads: dict[tuple[int, str], dict[str, Any]] = {}
    for ev in events:
        key = ev.code or ""
        division = divisions.get(ev.seq)
        for sid, types, role, scope in subs:
            if (types and ev.type not in types) or not sees(role, scope or (), ev, division):
                continue
            rows.append({"subscription_id": sid, "seq": ev.seq, "code": ev.code, "state": "pending", "attempts": 0,
                         "next_attempt_at": t, "created_at": t})
            # the first (oldest) delivery of a key in this batch; an existing head is older still and stays
            heads.setdefault((sid, key), {"subscription_id": sid, "key": key, "seq": ev.seq, "next_attempt_at": t})
    if rows:
        session.execute(insert(Delivery.__table__), rows)
        dialect_of(session).insert_or_lock(session, DeliveryHead.__table__, list(heads.values()),
                                           ["subscription_id", "key"], "seq")


def _divisions(session: Session, events: Sequence[Any]) -> dict[int, str | None]:
    """Each event's division: carried by the event (filled at append time), else its project's."""
    out: dict[int, str | None] = {}
    missing: dict[str, list[int]] = {}
    for ev in events:
        division = getattr(ev, "division", _UNSET)
        if division is _UNSET:
            if ev.code:
                missing.setdefault(ev.code, []).append(ev.seq)
            else:
                out[ev.seq] = None
        else:
            out[ev.seq] = division  # type: ignore[assignment]
    codes = list(missing)
    for i in range(0, len(codes), 5000):
        for code, division in session.execute(select(Project.code, Project.division).where(
                Project.code.in_(codes[i:i + 5000]))):
            for seq in missing[code]:
                out[seq] = division
    return out
