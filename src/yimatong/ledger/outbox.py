"""Transactional outbox: deliveries are written in the same transaction as the event they carry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from yimatong.core.context import now
from yimatong.core.visibility import role_sees
from yimatong.storage.models import Delivery, Subscription, table

_ACTIVE = select(Subscription.id, Subscription.types, Subscription.role).where(Subscription.active.is_(True))


def enqueue_many(session: Session, events: Sequence[Any]) -> None:
    """One delivery per event (anything with the Event's attributes) and active subscription that wants its
    type and may see it."""
    subs = session.execute(_ACTIVE).all()
    if not subs:
        return
    t = now()
    rows = [{"subscription_id": sid, "seq": ev.seq, "code": ev.code, "state": "pending", "attempts": 0,
             "next_attempt_at": t, "created_at": t}
            for ev in events for sid, types, role in subs
            if (not types or ev.type in types) and role_sees(role, ev.confidentiality, ev.owner_role)]
    if rows:
        session.execute(insert(table(Delivery)), rows)
