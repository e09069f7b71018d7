"""Changes to one project from two clients at once (the approval system writing a stage while a registrar voids
the project): whatever the timing, nothing is written to a project after it was voided."""

from __future__ import annotations

import threading

from sqlalchemy import select

from conftest import project_body
from yimatong.core.context import Actor, App
from yimatong.errors import AppError
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.storage.models import Event
from yimatong.uow import transaction

ACTOR = Actor("race-test", "admin")


def test_no_stage_change_lands_after_a_void(ymt: App) -> None:
    body = {k: v for k, v in project_body().items() if k != "parcels"}
    codes = []
    with transaction(ymt, ACTOR) as uow:
        for i in range(12):
            codes.append(registry.register(uow, body | {"name": f"并发项目{i}"}).code)

    def void(code: str) -> None:
        try:
            with transaction(ymt, ACTOR) as uow:
                registry.void(uow, code, "重复立项")
        except AppError:
            pass

    def stage(code: str) -> None:
        try:
            with transaction(ymt, ACTOR) as uow:
                stages.set_stage(uow, code, "pre_review", {"status": "done"})
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


def test_writers_during_a_long_import_neither_deadlock_nor_fail(ymt: App) -> None:
    """An import holds the ledger for its whole file; registrations in other districts and stage changes made
    meanwhile must wait for it, not deadlock against it (PostgreSQL would abort one of them)."""
    from yimatong.intake import jobs as import_jobs

    divisions = ["430702", "430703", "430721", "430722", "430723"]
    body = {k: v for k, v in project_body().items() if k != "parcels"}
    with transaction(ymt, ACTOR) as uow:
        existing = [registry.register(uow, body | {"name": f"在办项目{i}", "division": d}).code
                    for i, d in enumerate(divisions)]
    names = {"430702": "武陵区", "430703": "鼎城区", "430721": "安乡县", "430722": "汉寿县", "430723": "澧县"}
    # the file starts in 武陵区 and reaches the other districts (and the projects being worked on) only later,
    # after it has taken the ledger: the order that deadlocked against writers holding those districts' counters
    def district(i: int) -> str:
        return "430702" if i < 2000 else divisions[i % 5]

    rows = "".join(f"{names[district(i)]}第{i}号储备地块工程,{names[district(i)]},2026\n" for i in range(2500))
    rows += "".join(f"在办项目{i},{names[d]},2026\n" for i, d in enumerate(divisions))
    data = ("项目名称,行政区划,年度\n" + rows).encode()
    errors: list[BaseException] = []

    def guarded(fn) -> None:  # type: ignore[no-untyped-def]
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def do_import() -> None:
        import_jobs.import_sheet(ymt, ACTOR, "reserve_plan", data, "储备.csv")

    def do_writes() -> None:
        for i in range(20):
            d = divisions[(i * 3) % 5]
            with transaction(ymt, ACTOR) as uow:
                registry.register(uow, body | {"name": f"并行登记{i}", "division": d})
            with transaction(ymt, ACTOR) as uow:
                stages.set_stage(uow, existing[i % 5], "pre_review",
                                 {"status": "done" if i % 2 else "in_progress"})

    threads = [threading.Thread(target=guarded, args=(fn,)) for fn in (do_import, do_writes, do_writes)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
