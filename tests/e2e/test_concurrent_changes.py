"""Changes to one project from two clients at once (the approval system writing a stage while a registrar voids
the project): whatever the timing, nothing is written to a project after it was voided."""

from __future__ import annotations

import threading

from sqlalchemy import select

from conftest import project_body
from yimatong.errors import AppError
from yimatong.services import registry, stages
from yimatong.services.context import Actor, App
from yimatong.storage.models import Event

ACTOR = Actor("race-test", "admin")


def test_no_stage_change_lands_after_a_void(ymt: App) -> None:
    body = {k: v for k, v in project_body().items() if k != "parcels"}
    codes = []
    with ymt.db.write() as session:
        for i in range(12):
            codes.append(registry.register(session, ymt, ACTOR, body | {"name": f"并发项目{i}"}).code)

    def void(code: str) -> None:
        try:
            with ymt.db.write() as session:
                registry.void(session, ymt, ACTOR, code, "重复立项")
        except AppError:
            pass

    def stage(code: str) -> None:
        try:
            with ymt.db.write() as session:
                stages.set_stage(session, ymt, ACTOR, code, "pre_review", {"status": "done"})
        except AppError:
            pass  # refused because the project was voided first: as it should be

    threads = [threading.Thread(target=fn, args=(c,)) for c in codes for fn in (stage, void)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with ymt.db.read() as session:
        events = session.execute(select(Event.code, Event.type).where(Event.code.in_(codes))
                                 .order_by(Event.seq)).all()
    for code in codes:
        seen = [t for c, t in events if c == code]
        assert "project.voided" in seen, code
        after = seen[seen.index("project.voided") + 1:]
        assert after == [], (code, after)  # nothing after the void
