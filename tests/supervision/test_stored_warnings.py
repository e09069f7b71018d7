"""Stored warnings (issue 16 item 4): computed once, kept in the database, updated from the changes that touch
them — after any sequence of changes they equal a full recomputation, and every process reads the same."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box
from sqlalchemy import func, select

from conftest import project_body
from yimatong.config import Settings
from yimatong.core.context import Actor, App, local_today
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.errors import AppError
from yimatong.parcels import store as parcels
from yimatong.profiles.loader import load_profile
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.storage.models import Project, StoredWarning
from yimatong.supervision import service as supervision
from yimatong.supervision import stored
from yimatong.uow import run as uow_run

ACTOR = Actor("warnings-test", "admin")
DIVISIONS = ("430702", "430703")
X0, Y0 = 111.69, 29.04  # 武陵区: parcels on a small grid, so that some overlap and some cross into 鼎城区


def _key(items: list[Any]) -> list[str]:
    return sorted(json.dumps(w.as_dict(), sort_keys=True, ensure_ascii=False) for w in items)


def _full(app: App) -> list[str]:
    with app.db.read() as session:
        return _key(supervision.compute(session, app, None, None, local_today(app.profile)))


def _stored(app: App) -> list[str]:
    with app.db.read() as session:
        items = supervision.all_warnings(session, app, View.of(app, ACTOR))
    with app.db.read() as session:  # the counts kept with every update are those of the stored list
        assert stored.counts(session) == supervision.count_by_kind(items)
    return _key(items)


def _codes(app: App) -> list[str]:
    with app.db.read() as session:
        return list(session.execute(select(Project.code).where(Project.status == "active").order_by(Project.id))
                    .scalars())


def _ago(days: int) -> str:
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()


op = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(DIVISIONS), st.integers(0, 30)),
    st.tuples(st.just("parcel"), st.integers(0, 50), st.integers(0, 4), st.integers(0, 4), st.integers(1, 3)),
    st.tuples(st.just("stage"), st.integers(0, 50), st.sampled_from(("land_approval", "supply", "construction")),
              st.integers(0, 1500)),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("merge"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("division"), st.integers(0, 50), st.sampled_from(DIVISIONS)),
)


def _apply(app: App, step: tuple[Any, ...]) -> None:
    codes = _codes(app)
    kind = step[0]
    if kind == "register" or not codes:
        division = step[1] if kind == "register" else "430702"
        name = f"监管测试项目{len(codes)}号{'甲乙丙丁戊己庚辛壬癸'[len(codes) % 10]}"
        uow_run(app, ACTOR, lambda uow: registry.register(uow, project_body(name=name, division=division)))
        return
    code = codes[step[1] % len(codes)]
    if kind == "parcel":
        x, y, size = X0 + step[2] * 0.0015, Y0 + step[3] * 0.0015, step[4] * 0.001
        geom = box(x, y, x + size, y + size)

        def attach(uow: Any) -> None:
            parcels.attach(uow, uow.project(code, Action.PARCEL_ATTACH), geom)
        uow_run(app, ACTOR, attach)
    elif kind == "stage":
        uow_run(app, ACTOR, lambda uow: stages.set_stage(uow, code, step[2], {"status": "done",
                                                                             "finished_at": _ago(step[3])}))
    elif kind == "void":
        uow_run(app, ACTOR, lambda uow: registry.void(uow, code, "测试作废"))
    elif kind == "merge":
        into = codes[step[2] % len(codes)]
        if into != code:
            uow_run(app, ACTOR, lambda uow: registry.merge(uow, code, into, "测试合并"))
    elif kind == "division":
        uow_run(app, ACTOR, lambda uow: registry.update(uow, code, {"division": step[2]}))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(op, min_size=1, max_size=8))
def test_stored_warnings_equal_a_full_recomputation_after_random_changes(ymt: App, steps: list[Any]) -> None:
    _stored(ymt)  # computed once (in full) before the changes of this example
    for step in steps:
        with contextlib.suppress(AppError):  # a refused change (a lifecycle rule, a voided target) changes nothing
            _apply(ymt, step)
        assert _stored(ymt) == _full(ymt), step


def test_a_parcel_change_rechecks_only_its_neighbourhood(ymt: App) -> None:
    a = uow_run(ymt, ACTOR, lambda uow: registry.register(uow, project_body(name="重叠检查甲项目"))).code
    b = uow_run(ymt, ACTOR, lambda uow: registry.register(uow, project_body(name="重叠检查乙项目"))).code
    far = uow_run(ymt, ACTOR, lambda uow: registry.register(uow, project_body(name="远处丙项目"))).code

    def attach(code: str, geom: Any) -> None:
        uow_run(ymt, ACTOR, lambda uow: parcels.attach(uow, uow.project(code, Action.PARCEL_ATTACH), geom))

    attach(a, box(X0, Y0, X0 + 0.002, Y0 + 0.002))
    attach(far, box(X0 + 0.02, Y0 + 0.02, X0 + 0.021, Y0 + 0.021))
    assert not [w for w in _stored(ymt) if "重叠" in w]
    with ymt.db.read() as session:
        far_row = session.execute(select(StoredWarning.id).where(StoredWarning.code == far)).scalars().all()
    attach(b, box(X0 + 0.001, Y0 + 0.001, X0 + 0.003, Y0 + 0.003))  # overlaps a's parcel
    got = _stored(ymt)
    assert got == _full(ymt)
    overlaps = [json.loads(w) for w in got if "重叠" in w]
    assert {w["code"] for w in overlaps} == {a, b}  # reported from both sides
    with ymt.db.read() as session:  # the far project's stored rows were not rewritten
        assert session.execute(select(StoredWarning.id).where(StoredWarning.code == far)).scalars().all() == far_row


def test_every_process_reads_the_same_stored_warnings(ymt: App, settings: Settings) -> None:
    code = uow_run(ymt, ACTOR, lambda uow: registry.register(uow, project_body(name="批而未供检查项目"))).code
    uow_run(ymt, ACTOR, lambda uow: stages.set_stage(uow, code, "land_approval", {"status": "done",
                                                                                 "finished_at": _ago(900)}))
    first = _stored(ymt)
    other = App(settings, load_profile("changde"))  # another process: its own engine, no shared memory
    try:
        assert _stored(other) == first
        with other.db.read() as session:
            assert session.execute(select(func.count()).select_from(StoredWarning)).scalar() == len(first)
        uow_run(other, ACTOR, lambda uow: registry.void(uow, code, "测试作废"))
        assert _stored(ymt) == _stored(other) == _full(ymt)
        assert not [w for w in _stored(ymt) if code in w]
    finally:
        other.close()
