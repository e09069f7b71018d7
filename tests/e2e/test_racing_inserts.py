"""Without a writer-wide lock two writers can insert the same unique key at once (PostgreSQL): the one that loses
the race is re-run and answers as if it had come second — a 409 for a registered investment code, never a 500."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from conftest import is_pg, project_body
from yimatong.core.context import Actor, App
from yimatong.errors import Conflict
from yimatong.projects import registry
from yimatong.uow import UnitOfWork, run

ADMIN = Actor("race-test", "admin")
INVESTMENT = "2611-430702-70-01-123456"


@pytest.mark.skipif(not is_pg(), reason="SQLite has one writer: the second registration simply comes second")
def test_the_loser_of_a_racing_registration_gets_the_conflict(ymt: App) -> None:
    body = {k: v for k, v in project_body(investment_code=INVESTMENT).items() if k != "parcels"}
    inside, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first(uow: UnitOfWork) -> str:
        code = registry.register(uow, body | {"name": "先到的项目"}).code
        inside.set()
        assert release.wait(60)  # held open until the second one waits for this row
        return code

    def second() -> None:
        try:
            outcomes["second"] = run(ymt, ADMIN, lambda uow: registry.register(uow, body | {"name": "后到的项目"}).code)
        except Conflict as exc:
            outcomes["second"] = exc
        except BaseException as exc:  # noqa: BLE001 - reported below (a 500 before the re-run)
            outcomes["second"] = exc

    holder = threading.Thread(target=lambda: outcomes.setdefault("first", run(ymt, ADMIN, first)))
    holder.start()
    assert inside.wait(60)
    racer = threading.Thread(target=second)
    racer.start()
    try:
        _wait_until_someone_waits_for_a_lock(ymt)  # the second passed the check and waits on the first's row
    finally:
        release.set()
    holder.join()
    racer.join()
    assert isinstance(outcomes["second"], Conflict), outcomes["second"]
    assert outcomes["second"].errors[0][0] == "investment_code"  # type: ignore[attr-defined]
    assert isinstance(outcomes["first"], str)


def _wait_until_someone_waits_for_a_lock(app: App) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with app.db.read() as session:
            if session.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("the second registration never waited for the first")
