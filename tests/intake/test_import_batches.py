"""Imports register new projects in batches: a file longer than a batch must behave exactly as row by row —
duplicates inside the file found whether their first row is already written or still waiting, serials
consecutive, the ledger in row order and intact, an exhausted serial scope refusing only its rows."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from intake.messy import supply_plan_xlsx
from yimatong.core.context import Actor, App
from yimatong.intake import importer as importers
from yimatong.intake import jobs as import_jobs
from yimatong.ledger import verify as ledger  # ledger.verify moved out of log.py (verify without blind spots)
from yimatong.storage.models import Event, Project
from yimatong.uow import transaction

ACTOR = Actor("intake-test", "registrar")
PLACES = "丹阳灌溪柳叶德山善卷桃花澧阳嘉山皇山白鹤岗滨湖江北芷兰朗州沅水穿紫河护城东南西北金银铜铁石木水火土风云雷电春夏秋冬梅兰竹菊"
_RNG = random.Random(7)
NAMES = ["武陵区" + "".join(_RNG.choices(PLACES, k=10)) + "地块" for _ in range(1300)]


def _name(i: int) -> str:
    """Distinct names without numbers (names differing only in a number never count as one project)."""
    return NAMES[i]


def _row(i: int, name: str) -> list[object]:
    return [i, name, "武陵区", "挂牌出让", "城镇住宅用地", 1.5, None, "2026年6月"]


def _import(app: App, path: Path, partial: bool = False, progress: Any = None) -> importers.Report:
    return import_jobs.import_sheet(app, ACTOR, "supply_plan", path.read_bytes(), path.name, partial=partial,
                                  progress=progress)


def test_file_longer_than_a_batch_behaves_row_by_row(ymt: App, tmp_path: Path, monkeypatch: Any) -> None:
    rows = [_row(i, _name(i)) for i in range(1, 1201)]
    rows.append(_row(1201, _name(3)))  # the same row as one of the first, long written batch
    rows.append(_row(1202, _name(1190)))  # the same row as one still waiting in the current batch
    rows.append(_row(1203, _name(1195)[:-5] + "地块"))  # like a waiting row (ratio 89): review
    rows.append(_row(1204, _name(1180)[:-3] + "地块"))  # nearly a waiting row (ratio 97): merged
    monkeypatch.setattr(importers, "PROGRESS_EVERY", 500)  # the CLI's progress lines, at a size this test reaches
    seen: list[int] = []
    report = _import(ymt, supply_plan_xlsx(tmp_path / "plan.xlsx", rows, two_level=False), progress=seen.append)
    assert seen == [500, 1000]
    assert report.written and not report.refused
    assert report.counts["taken"] == 1200, report.counts
    assert report.counts["unchanged"] == 2 and report.counts["merged"] == 1 and report.counts["review"] == 1
    with ymt.db.read() as session:
        projects = session.execute(select(Project.code, Project.name).order_by(Project.id)).all()
        assert [n for _, n in projects] == [_name(i) for i in range(1, 1201)]
        assert [int(c[-6:]) for c, _ in projects] == list(range(1, 1201))  # consecutive serials in row order
        by_name = {n: c for c, n in projects}
        assert report.review[0]["candidate_code"] == by_name[_name(1195)]
        registered = session.execute(select(Event.data).where(Event.type == "project.registered")
                                     .order_by(Event.seq)).scalars().all()
        assert [json.loads(d)["project"]["name"] for d in registered] == [_name(i) for i in range(1, 1201)]
        merged = session.execute(select(Event.code).where(Event.type == "project.updated").order_by(Event.seq)
                                 ).scalars().all()
        assert merged == [by_name[_name(1180)]]
        assert ledger.verify(session).ok


def test_exhausted_serial_scope_refuses_only_its_rows(ymt: App, tmp_path: Path) -> None:
    with ymt.db.write() as session:  # leave two serials in 武陵区 2026
        session.execute(text("INSERT INTO counters (scope, value) VALUES ('serial:CD-430702-2026', 999997)"))
    path = supply_plan_xlsx(tmp_path / "plan.xlsx", [_row(i, _name(i)) for i in range(1, 6)], two_level=False)
    whole = _import(ymt, path)
    assert not whole.written and whole.counts["refused"] == 3
    assert {r["column"] for r in whole.refused} == {"serial"} and {r["row"] for r in whole.refused} == {6, 7, 8}
    with ymt.db.read() as session:
        assert session.execute(select(Project.id)).first() is None  # all or nothing
    part = _import(ymt, path, partial=True)
    assert part.written and part.counts["taken"] == 2 and part.counts["refused"] == 3
    with ymt.db.read() as session:
        codes = session.execute(select(Project.code).order_by(Project.id)).scalars().all()
        assert [c[-6:] for c in codes] == ["999998", "999999"]
        assert ledger.verify(session).ok


def test_control_characters_in_cells_are_dropped(ymt: App) -> None:
    """A NUL left in a cell by another system's export (PostgreSQL cannot store it) does not stop the import."""
    data = "项目名称,行政区划,年度,建设单位\n武陵区\x00丹阳路\x01项目,武陵区,2026,常德\x7f建投\n".encode()
    report = import_jobs.import_sheet(ymt, ACTOR, "reserve_plan", data, "储备.csv")
    assert report.written and report.counts["taken"] == 1
    with ymt.db.read() as session:
        name, builder = session.execute(select(Project.name, Project.builder)).one()
    assert (name, builder) == ("武陵区丹阳路项目", "常德建投")


def test_two_imports_of_the_same_rows_at_once_register_them_once(ymt: App) -> None:
    """A double click on 确认导入, or two sections sending the same plan: the imports run one after the other,
    so the second finds the first's projects (PostgreSQL would otherwise run both side by side)."""
    import threading

    rows = "".join(f"{_name(i)},武陵区,2026\n" for i in range(1, 201))
    files = [("项目名称,行政区划,年度\n" + rows).encode(), ("项目名称,行政区划,年度\n" + rows + "\n").encode()]
    reports: list[importers.Report] = []
    errors: list[BaseException] = []

    def run(data: bytes) -> None:
        try:
            reports.append(import_jobs.import_sheet(ymt, ACTOR, "reserve_plan", data, "储备.csv"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(data,)) for data in files]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert sorted(r.counts["taken"] for r in reports) == [0, 200]
    assert sorted(r.counts["unchanged"] for r in reports) == [0, 200]
    with ymt.db.read() as session:
        assert len(session.execute(select(Project.id)).all()) == 200
        assert ledger.verify(session).ok


def test_a_review_decided_twice_at_once_is_decided_once(ymt: App) -> None:
    import threading

    from yimatong.errors import Conflict
    from yimatong.intake import reviews

    first = "项目名称,行政区划,年度\n武陵区丹阳路以北地块住宅项目,武陵区,2026\n".encode()
    near = "项目名称,行政区划,年度\n武陵区丹阳路以北地块二期住宅项目,武陵区,2026\n".encode()
    import_jobs.import_sheet(ymt, ACTOR, "reserve_plan", first, "a.csv")
    review_id = import_jobs.import_sheet(ymt, ACTOR, "reserve_plan", near, "b.csv").review[0]["review_id"]
    outcomes: list[str] = []

    def decide() -> None:
        try:
            with transaction(ymt, ACTOR) as uow:
                reviews.resolve(uow, review_id, "keep_separate", None)
            outcomes.append("done")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["conflict", "done"]
    with ymt.db.read() as session:
        assert len(session.execute(select(Project.id)).all()) == 2  # one kept-separate project, not two
