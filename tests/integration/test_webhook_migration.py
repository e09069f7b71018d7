"""Migration 0006 on a database with a webhook backlog: existing undelivered deliveries get their heads (so they
are still delivered, in order), events get their project's division, subscriptions keep working; and back."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select, text

from conftest import project_body
from yimatong.core.context import SYSTEM, App, now
from yimatong.delivery import queue
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.storage.migrate import alembic_config, upgrade
from yimatong.storage.models import DeliveryHead, Event
from yimatong.uow import transaction

BEFORE = "0009"  # the revision 0006 follows on this branch


def migrate_to(app: App, revision: str) -> None:
    cfg = alembic_config(app.db.engine)
    with app.db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)
        conn.commit()


def test_existing_backlog_gets_heads_and_events_their_division(ymt: App) -> None:
    with transaction(ymt, SYSTEM) as uow:
        a = registry.register(uow, project_body(name="迁移甲") | {"sources": []}).code
        b = registry.register(uow, project_body(name="迁移乙", division="430703") | {"sources": []}).code
    for key in ("pre_review", "land_approval"):
        with transaction(ymt, SYSTEM) as uow:
            stages.set_stage(uow, a, key, {"status": "in_progress"})
    migrate_to(ymt, BEFORE)  # the schema before: no heads, no division on events
    t = now()
    with ymt.db.write() as session:
        session.execute(text("INSERT INTO subscriptions (url, types, secret, role, active, parked, created_by, "
                             "created_at) VALUES ('http://127.0.0.1:9/h', '[]', 'x', 'admin', :t, :t, 'old', :at)"),
                        {"t": True, "at": t})
        for seq, code, state in ((1, a, "done"), (2, b, "parked"), (3, a, "pending"), (4, a, "pending")):
            session.execute(text("INSERT INTO deliveries (subscription_id, seq, code, state, attempts, "
                                 "next_attempt_at, created_at) VALUES (1, :s, :c, :st, 0, :at, :at)"),
                            {"s": seq, "c": code, "st": state, "at": t})
    upgrade(ymt.db.engine)
    with ymt.db.read() as session:
        heads = {(h.key, h.seq) for h in session.execute(select(DeliveryHead)).scalars()}
        divisions = {e.code: e.division for e in session.execute(select(Event)).scalars()}
    assert heads == {(a, 3), (b, 2)}  # each key's oldest undelivered delivery
    assert divisions == {a: "430702", b: "430703"}
    with ymt.db.write() as session:
        assert queue.redeliver(session, 1) == 1
    assert sorted(j.seq for j in queue.claim(ymt, "after-migration")) == [2, 3]
    migrate_to(ymt, BEFORE)  # and back again without losing the deliveries
    with ymt.db.read() as session:
        assert session.execute(text("SELECT count(*) FROM deliveries")).scalar_one() == 4
    upgrade(ymt.db.engine)
