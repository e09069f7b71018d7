"""Time limits in working days over real HTTP: a stage's `due` and `working_days_left` across 国庆 2026 and its
调休 Saturday, a suspension (公示) stopping the clock, and a period beyond the calendar's data answered null with a
`due_note` saying why (API.md, "Time limits")."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from conftest import LiveServer, project_body
from joint.helpers import client
from yimatong.client.sdk import YmtError
from yimatong.domain import workdays

FIRST, LAST = workdays.covered_years()


def left_oracle(due: dt.date) -> int | None:
    """Working days after today up to and including due (negative when overdue), or None beyond the data."""
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    if not FIRST <= today.year <= LAST:
        return None
    lo, hi, sign = (today, due, 1) if today <= due else (due, today, -1)
    return sign * sum(chinese_calendar.is_workday(lo + dt.timedelta(days=i)) for i in range(1, (hi - lo).days + 1))


def stage(reg, code: str, key: str) -> dict:
    return next(s for s in reg.stages(code) if s["key"] == key)


@pytest.mark.skipif(LAST < 2026, reason="the installed calendar has no 2026 data")
def test_deadlines_across_national_day_the_working_saturday_and_a_suspension(live_server: LiveServer) -> None:
    reg = client(live_server, live_server.token("registrar"))
    code = reg.register_project(project_body())["code"]
    reg.set_stage(code, "land_approval", "done")
    reg.set_stage(code, "supply", "done")
    # 登记: 5 working days from Monday 2026-09-28: 9-29, 9-30, 10-8, 10-9 and the 调休 Saturday 10-10
    answer = reg.set_stage(code, "registration", "in_progress", started_at="2026-09-28")
    assert answer["due"] == "2026-10-10"   # the PUT's answer carries the time limit too
    s = stage(reg, code, "registration")
    assert s["due"] == "2026-10-10" and s["time_limit_working_days"] == 5
    assert s["working_days_left"] == left_oracle(dt.date(2026, 10, 10))
    # 建设用地规划许可: 20 working days from the same Monday
    reg.set_stage(code, "land_use_permit", "in_progress", started_at="2026-09-28T09:30:00+08:00")
    assert stage(reg, code, "land_use_permit")["due"] == "2026-10-30"

    # 公示 on 9-29 and 9-30 stops the clock: 10-8, 10-9, 10-10, 10-12, 10-13
    stop = reg.suspend_stage(code, "registration", "publicity", "2026-09-29", "2026-09-30", note="公示两日")
    s = stage(reg, code, "registration")
    assert s["due"] == "2026-10-13" and s["suspensions"][0]["id"] == stop["id"]
    # an open suspension: no date while the clock stands, the working days that remain are said
    reg.suspend_stage(code, "land_use_permit", "correction", "2026-10-09")
    s = stage(reg, code, "land_use_permit")
    assert s["due"] is None and s["working_days_left"] == 17 and "计时中止" in s["due_note"]
    open_stop = s["suspensions"][0]["id"]
    reg.resume_stage(code, "land_use_permit", open_stop, "2026-10-12")   # 10-9, 10-10, 10-12 did not count
    assert stage(reg, code, "land_use_permit")["due"] == "2026-11-04"

    for body, field in (({"kind": "nap", "start": "2026-10-01"}, "kind"), ({"kind": "hearing", "start": "10/1"}, "start"),
                        ({"kind": "hearing", "start": "2026-10-05", "end": "2026-10-01"}, "end")):
        r = reg.http.post(f"/api/v1/projects/{code}/stages/registration/suspensions", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    with pytest.raises(YmtError) as exc:   # overlapping the one recorded
        reg.suspend_stage(code, "registration", "hearing", "2026-09-30")
    assert exc.value.status == 409
    with pytest.raises(YmtError) as exc:   # a stage not in progress has no clock
        reg.suspend_stage(code, "works_permit", "hearing", "2026-09-30")
    assert exc.value.status == 409

    # done: the due date stays, nothing is left to count
    reg.set_stage(code, "registration", "done", finished_at="2026-10-12")
    s = stage(reg, code, "registration")
    assert s["due"] == "2026-10-13" and s["working_days_left"] is None
    assert [e["type"] for e in reg.events() if e["code"] == code].count("stage.suspended") == 3
    chain = reg.chain(code)
    assert next(x for x in chain["stages"] if x["key"] == "land_use_permit")["due"] == "2026-11-04"


def test_a_period_beyond_the_calendar_is_null_with_a_reason(live_server: LiveServer) -> None:
    reg = client(live_server, live_server.token("registrar"))
    code = reg.register_project(project_body())["code"]
    year = LAST + 1
    reg.set_stage(code, "pre_review", "in_progress", started_at=f"{year}-03-02")
    s = stage(reg, code, "pre_review")
    assert s["due"] is None and s["working_days_left"] is None
    assert str(year) in s["due_note"] and "节假日日历" in s["due_note"]
    # a stage without a limit or without a start says nothing
    assert stage(reg, code, "supply")["due"] is None and stage(reg, code, "supply").get("due_note") is None
