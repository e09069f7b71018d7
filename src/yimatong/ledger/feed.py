"""Reading the ledger as a change feed: ascending seq, only what the caller may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.visibility import View
from yimatong.errors import invalid
from yimatong.ledger.log import event_dict
from yimatong.storage.models import Event


def page(session: Session, view: View, after: int, limit: int, cursor: str | None = None,
         type_: str | None = None, code: str | None = None) -> dict[str, Any]:
    pagination.check_limit(limit)
    if cursor:  # the feed's cursor is the plain seq, so that a follower can store and resume from it
        try:
            after = int(cursor)
        except ValueError:
            after = -1
        if not 0 <= after < 2**63:
            raise invalid("cursor", "cursor 应为上一页返回的 next_cursor")
    stmt = view.event_query().where(Event.seq > after)
    if type_:
        stmt = stmt.where(Event.type == type_)
    if code:
        stmt = stmt.where(Event.code == code)
    rows = list(session.execute(stmt.order_by(Event.seq).limit(limit)).scalars())
    # A full page means there may be more; an empty or short page ends the walk for now (followers poll).
    next_cursor = str(rows[-1].seq) if len(rows) == limit else None
    return {"items": [event_dict(e) for e in rows], "next_cursor": next_cursor}


def recent(session: Session, view: View, n: int = 12, window: int = 200) -> list[dict[str, Any]]:
    """The newest `n` events the viewer may see among the last `window` of the ledger (the dashboard's
    最近动态), newest first."""
    last = session.execute(select(func.max(Event.seq))).scalar() or 0
    return page(session, view, max(0, last - window), 1000)["items"][-n:][::-1]
