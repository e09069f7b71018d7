"""Transactional outbox: deliveries are written in the same transaction as the event they carry."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.services.context import now
from yimatong.services.visibility import role_sees
from yimatong.storage.models import Delivery, Event, Subscription


def enqueue(session: Session, ev: Event) -> None:
    subs = session.execute(select(Subscription).where(Subscription.active.is_(True))).scalars().all()
    for sub in subs:
        if sub.types and ev.type not in sub.types:
            continue
        if not role_sees(sub.role, ev.confidentiality, ev.owner_role):
            continue
        session.add(Delivery(subscription_id=sub.id, seq=ev.seq, code=ev.code, state="pending",
                             attempts=0, next_attempt_at=now()))
