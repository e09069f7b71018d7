"""Supervision warnings stored in the database, computed once and updated from the changes that touch them.

`warning_state` records what the stored warnings are current for: the last ledger event applied (`seq`), the
local day (the rules count days), the control layers (their count and last id) and the rules' configuration.
`refresh` brings them up to date, in any process, under a row lock on that state (one updater at a time; the
others then find nothing to do):

- the events after `seq` name the projects they changed (`code`; a merge's `into`, a split's children): the
  rule warnings of those projects are evaluated again from their facts alone;
- an event that may move a parcel (anything but stage, result, review and import traffic) re-checks the spatial
  conflicts of those projects' parcels and of their neighbours (found with the spatial index): the stored
  conflicts *of* those parcels and the neighbours' conflicts *about* them are replaced;
- a new day re-evaluates every project's rules (dates move); new control layers or a changed configuration
  recompute the part they affect in full; a store never computed is computed in full once.

Every reader reads the table (`load`, with LIMIT/OFFSET for pages), so no process keeps its own copy."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, App, local_today
from yimatong.domain import supervision as rules
from yimatong.domain.events import codes_named
from yimatong.parcels import spatial as spatial_checks
from yimatong.storage.models import (
    ControlLayerFeature,
    Event,
    Project,
    ProjectParcel,
    StoredWarning,
    WarningState,
    table,
)
from yimatong.supervision.facts import _facts, spatial_warning
from yimatong.uow import UnitOfWork
from yimatong.uow import run as uow_run

SYSTEM = Actor("system:supervision", "admin")
# Events that cannot change a spatial conflict: the stage and result traffic of daily work. Listed this way
# round so that an event type added later re-checks the parcels it names until someone says it need not.
NOT_SPATIAL = frozenset(("stage.changed", "result.added", "review.opened", "review.resolved", "import.completed",
                         "joint_review.opened", "joint_review.opinion", "joint_review.closed", "registration.ready"))
FULL_SPATIAL_ABOVE = 5000  # parcels touched at once beyond which one full pass is cheaper than the neighbourhoods
EVENT_BATCH = 20_000       # events read per step of a long catch-up
_BULK = {"synchronize_session": False}  # the session holds no StoredWarning objects


def _wanted(session: Session, app: App) -> dict[str, str]:
    """The state the warnings should be current for now."""
    head = session.execute(select(func.max(Event.seq))).scalar()
    layers = session.execute(select(func.count(ControlLayerFeature.id), func.max(ControlLayerFeature.id))).one()
    config = _config_key(app.profile)
    return {"seq": str(head or 0), "day": local_today(app.profile).isoformat(), "layers": f"{layers[0]}:{layers[1]}",
            "config": config}


STATE_KEYS = ("seq", "day", "layers", "config")
COUNT = "n:"  # warning_state keys `n:<kind>`: the number of stored warnings of each kind, kept with every change


_CONFIG: dict[int, tuple[Any, str]] = {}


def _config_key(profile: Any) -> str:
    """The rules' configuration as a hash, once per profile object (dumping it cost more than the update)."""
    known = _CONFIG.get(id(profile))
    if known is None or known[0] is not profile:
        text = json.dumps([profile.supervision.model_dump(mode="json"), str(profile.tz), profile.division_boundaries],
                          sort_keys=True, default=str)
        known = _CONFIG[id(profile)] = (profile, hashlib.sha256(text.encode()).hexdigest())
    return known[1]


def _current(session: Session) -> dict[str, str]:
    return dict(session.execute(select(WarningState.key, WarningState.value)
                                .where(WarningState.key.in_(STATE_KEYS))).all())


def is_current(session: Session, app: App) -> bool:
    return _current(session) == _wanted(session, app)


def ever_computed(session: Session) -> bool:
    return bool(_current(session).get("seq"))


@dataclass
class _Full:
    """Full passes computed on a read session before the write transaction (on SQLite every write transaction
    holds the one write lock: the full computation of a large library inside it stopped every writer for a
    minute). `seq` was read before the data: the events after it are applied on top, so nothing is missed."""

    have: dict[str, str]
    seq: int
    rules: list[dict[str, Any]] | None
    spatial: list[dict[str, Any]] | None


def refresh(app: App) -> None:
    """Bring the stored warnings up to date (nothing to write when they are)."""
    with app.db.read() as session:
        have, want = _current(session), _wanted(session, app)
        if have == want:
            return
        full = _needs_full(have, want)
        pre = _precompute(session, app, have, want, full) if any(full) else None
    uow_run(app, SYSTEM, lambda uow: update(uow, pre), exclusive=False)


def _needs_full(have: dict[str, str], want: dict[str, str]) -> tuple[bool, bool]:
    """Whether every project's rules, and every parcel's conflicts, must be computed again."""
    fresh = not have.get("seq") or have.get("config") != want["config"]
    return fresh or have.get("day") != want["day"], fresh or have.get("layers") != want["layers"]


def _precompute(session: Session, app: App, have: dict[str, str], want: dict[str, str], full: tuple[bool, bool]
                ) -> _Full:
    seq = int(session.execute(select(func.max(Event.seq))).scalar() or 0)
    today = dt.date.fromisoformat(want["day"])
    return _Full(have, seq, _rule_rows(session, app, None, today) if full[0] else None,
                 _spatial_rows(spatial_checks.all_issues(session, app)) if full[1] else None)


def update(uow: UnitOfWork, pre: _Full | None = None) -> None:
    """The update itself, in one transaction holding the state's row lock."""
    session, app = uow.session, uow.app
    session.execute(select(WarningState.value).where(WarningState.key == "seq").with_for_update())
    have = _current(session)
    want = _wanted(session, app)
    if have == want:
        return  # another process did it while we waited for the lock
    today = dt.date.fromisoformat(want["day"])
    full_rules, full_spatial = _needs_full(have, want)
    if pre is not None and pre.have != have:
        pre = None  # another process updated meanwhile: what was computed for the old state is not used
    delta: Counter[str] = Counter()
    if full_rules:
        _replace(session, "rules", pre.rules if pre and pre.rules is not None else
                 _rule_rows(session, app, None, today), delta)
    if full_spatial:
        _replace(session, "spatial", pre.spatial if pre and pre.spatial is not None else
                 _spatial_rows(spatial_checks.all_issues(session, app)), delta)
    fresh = not have.get("seq") or have.get("config") != want["config"]
    if fresh and pre is None:
        after = int(want["seq"])  # computed in full inside this transaction: current as it is
    elif fresh:
        after = pre.seq  # type: ignore[union-attr]
    else:
        after = int(have["seq"])
    # The events since: projects they name are evaluated again (a part computed in full before the lock from an
    # older snapshot is brought forward this way too; evaluating a project twice gives the same rows).
    _apply_events(session, app, after, int(want["seq"]), today, delta,
                  rules_done=full_rules and pre is None, spatial_done=full_spatial and pre is None)
    for key, value in want.items():
        session.merge(WarningState(key=key, value=value))
    _add_counts(session, delta)


def _replace(session: Session, source: str, rows: list[dict[str, Any]], delta: Counter[str]) -> None:
    _delete(session, delete(StoredWarning).where(StoredWarning.source == source), delta)
    _insert(session, rows, delta)


def _add_counts(session: Session, delta: Counter[str]) -> None:
    have = {k.removeprefix(COUNT): int(v) for k, v in session.execute(select(WarningState.key, WarningState.value)
                                                                      .where(WarningState.key.like(COUNT + "%")))}
    for kind, n in delta.items():
        if n:
            session.merge(WarningState(key=COUNT + kind, value=str(have.get(kind, 0) + n)))


def _apply_events(session: Session, app: App, after: int, head: int, today: dt.date, delta: Counter[str], *,
                  rules_done: bool, spatial_done: bool) -> None:
    codes: set[str] = set()
    spatial: set[str] = set()
    while after < head:
        rows = session.execute(select(Event.seq, Event.type, Event.code, Event.data).where(
            Event.seq > after, Event.seq <= head).order_by(Event.seq).limit(EVENT_BATCH)).all()
        if not rows:
            break
        for _, etype, code, data in rows:
            named = codes_named(etype, code, data)
            codes |= named
            if etype not in NOT_SPATIAL:
                spatial |= named
        after = rows[-1][0]
    if not codes:
        return
    ids = _project_ids(session, codes)
    if not rules_done:
        _replace_rules(session, app, ids, today, delta)
    if spatial and not spatial_done:
        _replace_spatial_near(session, app, spatial, _project_ids(session, spatial), delta)


def _project_ids(session: Session, codes: Iterable[str]) -> list[int]:
    wanted = sorted(codes)
    return [pid for i in range(0, len(wanted), 500)
            for pid in session.execute(select(Project.id).where(Project.code.in_(wanted[i:i + 500]))).scalars()]


# --- rules ------------------------------------------------------------------------------------------------------

def _rule_rows(session: Session, app: App, ids: list[int] | None, today: dt.date) -> list[dict[str, Any]]:
    """The rule warnings of these projects (None: all) as rows."""
    if ids is None:
        facts = _facts(session, app, None)
    else:
        facts = {}
        for i in range(0, len(ids), 500):
            facts |= _facts(session, app, None, ids[i:i + 500])
    spec = app.profile.supervision
    return [_row("rules", w, pid, None, None, n) for pid, f in facts.items()
            for n, w in enumerate(rules.evaluate(f, today, spec))]


def _replace_rules(session: Session, app: App, ids: list[int], today: dt.date, delta: Counter[str]) -> None:
    """The rule warnings of these projects, evaluated again."""
    stmt = delete(StoredWarning).where(StoredWarning.source == "rules")
    for i in range(0, len(ids), 500):
        _delete(session, stmt.where(StoredWarning.project_id.in_(ids[i:i + 500])), delta)
    _insert(session, _rule_rows(session, app, ids, today), delta)


# --- spatial ----------------------------------------------------------------------------------------------------

def _replace_spatial_near(session: Session, app: App, codes: set[str], ids: list[int], delta: Counter[str]
                          ) -> None:
    """Re-check the parcels of these projects — those linked now and those their stored conflicts name — and
    their neighbours' conflicts about them."""
    parcels = set(session.execute(select(ProjectParcel.parcel_id).where(ProjectParcel.project_id.in_(ids))).scalars()
                  ) if ids else set()
    wanted = sorted(codes)
    for i in range(0, len(wanted), 500):
        parcels.update(p for p in session.execute(select(StoredWarning.parcel_id).where(
            StoredWarning.source == "spatial", StoredWarning.code.in_(wanted[i:i + 500]))).scalars() if p is not None)
    if not parcels:
        return
    if len(parcels) > FULL_SPATIAL_ABOVE:
        _replace(session, "spatial", _spatial_rows(spatial_checks.all_issues(session, app)), delta)
        return
    chosen = sorted(parcels)
    for i in range(0, len(chosen), 500):
        part = chosen[i:i + 500]
        # two statements, each on its own index (an OR of the two made SQLite scan the table)
        _delete(session, delete(StoredWarning).where(StoredWarning.source == "spatial",
                                                     StoredWarning.parcel_id.in_(part)), delta)
        _delete(session, delete(StoredWarning).where(StoredWarning.other_parcel_id.in_(part)), delta)
    own, theirs = spatial_checks.issues_near(session, app, parcels)
    _insert(session, _spatial_rows(own) + _spatial_rows(theirs), delta)


def _spatial_rows(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for issue in issues:
        n = seen[issue["parcel_id"]] = seen.get(issue["parcel_id"], -1) + 1
        out.append(_row("spatial", spatial_warning(issue), issue["project_id"], issue["parcel_id"],
                        issue.get("other_parcel_id"), n))
    return out


# --- rows -------------------------------------------------------------------------------------------------------

def _row(source: str, w: rules.Warning, project_id: int, parcel_id: int | None, other: int | None, n: int
         ) -> dict[str, Any]:
    return {"source": source, "project_id": project_id, "parcel_id": parcel_id, "other_parcel_id": other,
            "rank": rules.KINDS.index(w.kind) * 10 + (9 - w.level), "kind": w.kind, "level": w.level,
            "code": w.code, "name": w.name or "", "division": w.division or "", "since": w.since,
            "since_order": w.since or dt.date.max,
            "detail": w.detail, "area_m2": w.area_m2, "ord": n}


def _insert(session: Session, rows: list[dict[str, Any]], delta: Counter[str]) -> None:
    for i in range(0, len(rows), 5000):
        session.execute(insert(table(StoredWarning)), rows[i:i + 5000])
    delta.update(r["kind"] for r in rows)


def _delete(session: Session, stmt: Any, delta: Counter[str]) -> None:
    """Delete, counting what went by kind (DELETE … RETURNING: SQLite 3.35+, PostgreSQL)."""
    delta.subtract(session.execute(stmt.returning(StoredWarning.kind), execution_options=_BULK).scalars())


def load(session: Session, kind: str | None = None, division: str | None = None, *, offset: int = 0,
         limit: int | None = None, divisions: Sequence[str] | None = None, code: str | None = None
         ) -> list[rules.Warning]:
    """The stored warnings in the list's order: by kind, the higher level first, the oldest first, by code.
    `divisions`: only those of a reader limited to them (`View.divisions`); `code`: one project's."""
    stmt = select(StoredWarning.kind, StoredWarning.level, StoredWarning.code, StoredWarning.since,
                  StoredWarning.detail, StoredWarning.name, StoredWarning.division, StoredWarning.area_m2)
    if kind:
        stmt = stmt.where(StoredWarning.kind == kind)
    if division:
        stmt = stmt.where(StoredWarning.division == division)
    if divisions is not None:
        stmt = stmt.where(StoredWarning.division.in_(divisions))
    if code is not None:  # both sources named: the (source, code) index answers
        stmt = stmt.where(StoredWarning.source.in_(("rules", "spatial")), StoredWarning.code == code)
    stmt = stmt.order_by(StoredWarning.rank, StoredWarning.since_order, StoredWarning.code, StoredWarning.parcel_id,
                         StoredWarning.ord, StoredWarning.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [rules.Warning(k, lv, c, s, d, n, dv, a) for k, lv, c, s, d, n, dv, a in session.execute(stmt)]


def counts(session: Session, divisions: Sequence[str] | None = None) -> dict[str, int]:
    """Warnings by kind, as kept with every update (not counted again: 160 000 rows took 35 ms); for a reader
    limited to some divisions, counted in theirs."""
    out = dict.fromkeys(rules.KINDS, 0)
    if divisions is not None:
        for kind, number in session.execute(select(StoredWarning.kind, func.count()).where(
                StoredWarning.division.in_(divisions)).group_by(StoredWarning.kind)):
            out[kind] = int(number)
        return out
    for key, n in session.execute(select(WarningState.key, WarningState.value).where(
            WarningState.key.like(COUNT + "%"))):
        out[key.removeprefix(COUNT)] = int(n)
    return out
