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

from yimatong.core.context import Actor, now
from yimatong.core.visibility import View
from yimatong.domain.policy import Policy
from yimatong.storage.dialect import dialect_of
from yimatong.storage.models import ApiToken, Delivery, DeliveryHead, Project, Subscription, table

# Live subscriptions: not deleted, and not made by a token since revoked (a revoked token sees nothing). Paused
# and parked ones still queue: they get everything once resumed.
_LIVE = (select(Subscription.id, Subscription.types, Subscription.created_by, Subscription.role,
                Subscription.sections, Subscription.divisions)
         .outerjoin(ApiToken, ApiToken.name == Subscription.created_by)
         .where(Subscription.active.is_(True), or_(ApiToken.id.is_(None), ApiToken.revoked_at.is_(None))))
_UNSET = object()


def view_of(created_by: str, role: str, sections: Sequence[str], divisions: Sequence[str]) -> View:
    """What a subscription sees: the view of the token that made it (role, sections, divisions). The fan-out
    has no profile at hand, so the default policy applies (a profile's own grants are about actions)."""
    return View(Policy(), Actor(created_by, role, frozenset(sections or ()), frozenset(divisions or ())))


def sees(view: View, divisions: Sequence[str], ev: Any, division: str | None) -> bool:
    """The subscription's scope applied to one event: the view's rules (confidentiality, district scope of a
    limited token), and the subscription's own divisions when it was narrowed to some (an admin's may be)."""
    if not view.sees(ev.confidentiality, ev.owner_role, division):
        return False
    return not divisions or division in divisions


def enqueue_many(session: Session, events: Sequence[Any]) -> None:
    """One delivery per event (anything with the Event's attributes) and live subscription that wants its
    type and may see it, and a head for every ordering key that has none."""
    subs = session.execute(_LIVE).all()
    if not subs or not events:
        return
    divisions = _divisions(session, events) if any(sub.divisions for sub in subs) else {}
    scopes = [(sid, types, view_of(by, role, sections, scope), scope or ())
              for sid, types, by, role, sections, scope in subs]
    t = now()
    rows: list[dict[str, Any]] = []
    heads: dict[tuple[int, str], dict[str, Any]] = {}
    for ev in events:
        key = ev.code or ""
        division = divisions.get(ev.seq)
        for sid, types, view, scope in scopes:
            if (types and ev.type not in types) or not sees(view, scope, ev, division):
                continue
            rows.append({"subscription_id": sid, "seq": ev.seq, "code": ev.code, "state": "pending", "attempts": 0,
                         "next_attempt_at": t, "created_at": t})
            # the first (oldest) delivery of a key in this batch; an existing head is older still and stays
            heads.setdefault((sid, key), {"subscription_id": sid, "key": key, "seq": ev.seq, "next_attempt_at": t})
    if rows:
        session.execute(insert(table(Delivery)), rows)
        dialect_of(session).insert_or_lock(session, table(DeliveryHead), list(heads.values()),
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
