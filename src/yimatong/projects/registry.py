"""Commands of the project registry: register (issue a code), update, void, merge, split; and reading a project.

Every command takes the unit of work (`yimatong.uow`): it checks the policy once, through `uow.project(...)` or
`uow.allow(...)`, and emits its ledger event; the unit of work stamps who and when and appends the events."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

from yimatong.core.context import local_today
from yimatong.core.visibility import View
from yimatong.domain import codes, localtime, refs
from yimatong.domain import events as ev
from yimatong.domain.enums import ProjectStatus, SourceKind
from yimatong.domain.names import normalize_name
from yimatong.domain.policy import Action
from yimatong.errors import Conflict, Invalid, NotFound, invalid
from yimatong.projects.views import project_snapshot, project_view
from yimatong.storage.counters import next_counter
from yimatong.storage.db import insert_together
from yimatong.storage.models import Project, ProjectRef, ProjectSource, Stage, StageRecord, table
from yimatong.uow import UnitOfWork, require_active

CODED = ("division", "year", "approval_type", "project_type", "supply_type", "land_use")
SOURCE_KINDS = SourceKind.values()
REF_KINDS = ("investment_code", *refs.KINDS, "source_ref")


def coded_attrs(profile: Any, data: dict[str, Any]) -> dict[str, str]:
    """Check each coded attribute against the profile; the first bad one is named."""
    out: dict[str, str] = {}
    for name in CODED:
        try:
            out[name] = codes.check_attribute(profile, name, data[name])
        except codes.CodeError as exc:
            raise invalid(exc.field, exc.message) from None
    try:  # [standards] the functional zone belongs to the division
        codes.check_zone(profile, data.get("zone"), out["division"])
    except codes.CodeError as exc:
        raise invalid(exc.field, exc.message) from None
    return out


def checked_refs(profile: Any, data: dict[str, Any]) -> dict[str, Any]:
    """[standards] The investment code and `refs` of a body checked to their standards (domain/refs.py) and
    normalised; a malformed one is 422 naming `investment_code` or `refs.N.value` and the rule."""
    out: dict[str, Any] = {}
    today = local_today(profile)
    if data.get("investment_code"):
        try:
            out["investment_code"] = refs.check_investment_code(data["investment_code"], today)
        except refs.RefError as exc:
            raise invalid("investment_code", exc.message) from None
    if data.get("refs"):
        try:
            out["refs"] = refs.check_refs(list(data["refs"]), today, refs.city_of(profile))
        except refs.FieldError as exc:
            raise invalid(exc.field, exc.message) from None
    return out


def ref_warnings(profile: Any, project: Any) -> list[dict[str, str]]:
    """[standards] Warnings, not refusals, about a project's references (an investment code of another region)."""
    if not project.investment_code:
        return []
    return [{"field": "investment_code", "message": m}
            for m in refs.investment_code_warnings(project.investment_code, refs.city_of(profile))]


def register(uow: UnitOfWork, data: dict[str, Any]) -> Project:
    """Issue a code atomically with the project row and its ledger entry (one transaction)."""
    attrs = coded_attrs(uow.profile, data)
    data = data | checked_refs(uow.profile, data)
    inv = data.get("investment_code")
    if inv and not data.get("parent_code"):  # split children share their parent's investment code
        existing = find_by_investment_code(uow.session, inv)
        if existing is not None:
            raise Conflict(f"投资项目代码 {inv} 已登记为项目 {existing.code}",
                           [("investment_code", "投资项目代码已登记")], existing_code=existing.code)
    outcome = register_many(uow, [(data, attrs)])[0]
    if isinstance(outcome, Conflict):
        raise outcome
    # a persistent object (callers go on changing it) built from the row just written, not loaded back
    project = Project(**vars(outcome))
    make_transient_to_detached(project)
    uow.session.add(project)
    return project


def register_many(uow: UnitOfWork, items: list[tuple[dict[str, Any], dict[str, str]]]
                  ) -> list[SimpleNamespace | Conflict]:
    """Register several projects, each given as (data, its checked coded attributes), in statements that
    carry the whole batch: one counter update per serial scope, multi-row inserts, one ledger append. The
    caller has checked the attributes (coded_attrs) and the investment codes. Returns, in order, the new
    project as a plain record with the Project's attributes (building thousands of mapped objects would cost
    more than the inserts) or the Conflict of an item whose serial scope is exhausted."""
    for division in sorted({attrs["division"] for _, attrs in items}):
        uow.allow(Action.PROJECT_REGISTER, division=division)
    session, app = uow.session, uow.app
    serials = _reserve_serials(session, app, [attrs for _, attrs in items])
    t = uow.now
    todo: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    out: list[Any] = []  # SimpleNamespace | Conflict, in item order
    for i, ((data, attrs), serial) in enumerate(zip(items, serials, strict=True)):
        try:
            code = codes.build_code(app.profile, {"region": app.profile.code.region, **attrs}, serial, checked=True)
        except codes.SerialExhausted:
            out.append(_exhausted(app, attrs))
            continue
        out.append(None)  # replaced below once the row has its id
        todo.append((i, data, _project_row(app, uow.actor.name, data, attrs, code, t)))
    if not todo:
        return out
    stmt = insert(table(Project)).returning(table(Project).c.id, sort_by_parameter_order=True)
    ids = session.execute(stmt, [row for _, _, row in todo]).scalars().all()
    sources = _insert_new_rows(session, app, uow.actor.name,
                               [(pid, data) for pid, (_, data, _) in zip(ids, todo, strict=True)], t)
    for pid, (i, _, row), srcs in zip(ids, todo, sources, strict=True):
        project = SimpleNamespace(id=pid, **row)
        out[i] = project
        uow.emit(ev.ProjectRegistered(project=project_snapshot(project, srcs)), project.code, division=project.division)
    return out


def _reserve_serials(session: Session, app: Any, attrs_list: list[dict[str, str]]) -> list[int]:
    """Serials for a batch in input order: one counter update per scope reserves that scope's whole run."""
    keys = [codes.serial_scope_key(app.profile, {"region": app.profile.code.region, **a}) for a in attrs_list]
    wanted: dict[str, int] = {}
    for key in keys:
        wanted[key] = wanted.get(key, 0) + 1
    # the counter rows locked in key order: two batches over the same scopes cannot deadlock (no writer-wide
    # lock orders them any more)
    nxt = {key: next_counter(session, "serial:" + key, wanted[key]) - wanted[key] + 1 for key in sorted(wanted)}
    serials = []
    for key in keys:
        serials.append(nxt[key])
        nxt[key] += 1
    return serials


def _exhausted(app: Any, attrs: dict[str, str]) -> Conflict:
    scope = codes.serial_scope_key(app.profile, {"region": app.profile.code.region, **attrs})
    return Conflict(f"{scope} 的流水号已用尽（最多 {codes.max_serial(app.profile)} 个），无法再赋码",
                    [("serial", "流水号已用尽")])


def _project_row(app: Any, actor_name: str, data: dict[str, Any], attrs: dict[str, str], code: str, t: Any
                 ) -> dict[str, Any]:
    return {"code": code, "name": data["name"], "name_norm": normalize_name(data["name"]), "status": "active",
            "merged_into": None, "void_reason": None,
            "division": attrs["division"], "year": int(attrs["year"]), "approval_type": attrs["approval_type"],
            "project_type": attrs["project_type"], "supply_type": attrs["supply_type"],
            "land_use": attrs["land_use"], "builder": data.get("builder"),
            "investment_code": data.get("investment_code"), "area_m2": data.get("area_m2"),
            "zone": data.get("zone") or None, "edition": app.profile.edition or "",
            "current_stage": app.profile.stages[0].key, "code_outdated": False, "extra": data.get("extra") or {},
            "parent_code": data.get("parent_code"), "created_at": t, "updated_at": t, "created_by": actor_name,
            "updated_by": actor_name}


def _insert_new_rows(session: Session, app: Any, actor_name: str, projects: list[tuple[int, dict[str, Any]]],
                     t: Any) -> list[list[SimpleNamespace]]:
    """Sources, refs and the intake stage of new projects, as multi-row Core inserts: registration is the
    hot path of imports and code issuance, and the ORM's per-object flush would dominate it."""
    source_rows: list[dict[str, Any]] = []
    ref_rows: list[dict[str, Any]] = []
    per_project: list[list[SimpleNamespace]] = []
    for pid, data in projects:
        extra = {(s["kind"], s.get("ref")): s.get("data") or {} for s in data.get("sources") or []}
        mine = [SimpleNamespace(kind=k, ref=r) for k, r in extra]  # dict keys: unique, in order
        per_project.append(mine)
        source_rows += [{"project_id": pid, "kind": k, "ref": r, "data": d, "added_at": t} for (k, r), d in extra.items()]
        refs = [("investment_code", data["investment_code"])] if data.get("investment_code") else []
        refs = list(dict.fromkeys(refs + [(r["kind"], r["value"]) for r in data.get("refs") or []]))
        ref_rows += [{"project_id": pid, "kind": k, "value": v} for k, v in refs]
    key, day = app.profile.stages[0].key, localtime.local_date(t, app.profile.tz).isoformat()  # the intake date people read
    stage_rows = [{"project_id": pid, "key": key, "status": "done", "finished_at": day, "updated_by": actor_name,
                   "updated_at": t} for pid, _ in projects]
    record_rows = [{"project_id": pid, "key": key, "status": "done", "previous_status": "pending",
                    "finished_at": day, "actor": actor_name, "at": t, "data": {}} for pid, _ in projects]
    insert_together(session, [(table(ProjectSource), source_rows), (table(ProjectRef), ref_rows),
                              (table(Stage), stage_rows), (table(StageRecord), record_rows)])
    return per_project


def _add_sources(session: Session, project: Project, sources: list[dict[str, Any]], t: Any) -> None:
    seen = {(s.kind, s.ref) for s in project_sources(session, project)}
    for src in sources:
        key = (src["kind"], src.get("ref"))
        if key in seen:
            continue
        seen.add(key)
        session.add(ProjectSource(project_id=project.id, kind=src["kind"], ref=src.get("ref"),
                                  data=src.get("data") or {}, added_at=t))


def _add_refs(session: Session, project: Project, data: dict[str, Any], result_id: int | None = None) -> None:
    """Keep cross-references; one taken from a result's data remembers the result (it is as visible as it)."""
    refs = [("investment_code", data["investment_code"])] if data.get("investment_code") else []
    refs += [(r["kind"], r["value"]) for r in data.get("refs") or []]
    existing = {(r.kind, r.value) for r in session.execute(
        select(ProjectRef).where(ProjectRef.project_id == project.id)).scalars()}
    for kind, value in refs:
        if (kind, value) not in existing:
            session.add(ProjectRef(project_id=project.id, kind=kind, value=value, result_id=result_id))
            existing.add((kind, value))


def add_ref(session: Session, project: Project, kind: str, value: str, result_id: int | None = None) -> None:
    _add_refs(session, project, {"refs": [{"kind": kind, "value": value}]}, result_id)


def find_by_investment_code(session: Session, inv: str) -> Project | None:
    stmt = select(Project).where(Project.investment_code == inv, Project.status == "active",
                                 Project.parent_code.is_(None))
    return session.execute(stmt).scalars().first()


def ids_by_ref(view: View, value: str) -> Any:
    """Projects holding a cross-reference (投资项目代码, 电子监管号, 不动产单元号, case or certificate number) equal to
    `value` that the viewer may see, as a subquery; IN over the kinds lets the (kind, value) index answer it."""
    return view.ref_query(ProjectRef.project_id).where(ProjectRef.kind.in_(REF_KINDS), ProjectRef.value == value.strip())


def find_by_ref(session: Session, view: View, value: str) -> list[Project]:
    stmt = view.project_query().where(Project.id.in_(ids_by_ref(view, value))).order_by(Project.id).limit(20)
    return list(session.execute(stmt).scalars())


def get(session: Session, code: str, view: View | None = None, field: str = "code") -> Project:
    """The project of a code for reading: 404 (naming `field`) when it does not exist or lies outside the
    viewer's district scope. Writers get their projects from `uow.project`, which locks and checks them."""
    stmt = select(Project).where(Project.code == code)
    if view is not None:
        stmt = stmt.where(view.projects())
    project = session.execute(stmt).scalars().first()
    if project is None:
        raise NotFound(f"项目码 {code} 不存在", [(field, "未登记的项目码")])
    return project


def project_sources(session: Session, project: Project) -> list[ProjectSource]:
    stmt = select(ProjectSource).where(ProjectSource.project_id == project.id).order_by(ProjectSource.id)
    return list(session.execute(stmt).scalars())


def project_dict(session: Session, project: Any, sources: Sequence[Any] | None = None,
                 view: View | None = None, project_refs: Sequence[Any] | None = None) -> dict[str, Any]:
    """The view of a project (projects.views.ProjectView) with its sources and the cross-references `view` may
    see (or those given; none without either)."""
    found = project_refs if project_refs is not None else (refs_of(session, view, [project.id]).get(project.id, [])
                                                            if view is not None else [])
    return project_view(project, sources if sources is not None else project_sources(session, project), found)


def refs_of(session: Session, view: View, ids: list[int]) -> dict[int, list[Any]]:
    """[standards] The cross-references of projects the viewer may see (a ref from a result's data is as visible
    as the result), in one query; the investment code is a field of its own."""
    out: dict[int, list[Any]] = {}
    if ids:
        stmt = (view.ref_query(ProjectRef.project_id, ProjectRef.kind, ProjectRef.value)
                .where(ProjectRef.project_id.in_(ids), ProjectRef.kind != "investment_code").order_by(ProjectRef.id))
        for pid, kind, value in session.execute(stmt):
            out.setdefault(pid, []).append(SimpleNamespace(kind=kind, value=value))
    return out


UPDATABLE = ("name", "builder", "area_m2", "zone", *CODED)


def update(uow: UnitOfWork, code: str, changes: dict[str, Any], project: Project | None = None) -> Project:
    """Change attributes; the code never changes, `code_outdated` tells when it no longer matches."""
    project = project or uow.project(code, Action.PROJECT_UPDATE)
    new = {k: v for k, v in changes.items() if k in UPDATABLE or k in ("investment_code", "sources", "refs")}
    new |= checked_refs(uow.profile, new)
    if "zone" in new:
        new["zone"] = new["zone"] or None
    coded = {k: v for k, v in new.items() if k in CODED}
    if coded or "zone" in new:
        merged = {k: getattr(project, k) for k in CODED} | coded | {"zone": new.get("zone", project.zone)}
        merged["year"] = str(merged["year"])
        coded_attrs(uow.profile, merged)
        if "division" in coded:  # moving a project into another division: the actor must hold that one too
            uow.allow(Action.PROJECT_UPDATE, division=coded["division"])
    before = project_dict(uow.session, project)
    _apply_changes(uow, project, new)
    current = {k: str(getattr(project, k)) for k in CODED}
    project.code_outdated = bool(codes.outdated_segments(uow.profile, project.code, current))
    project.updated_at, project.updated_by = uow.now, uow.actor.name
    uow.session.flush()
    after = project_dict(uow.session, project)
    diff = {k: {"from": before[k], "to": after[k]} for k in after if before.get(k) != after[k]
            and k not in ("updated_at",)}
    uow.emit(ev.ProjectUpdated(changes=diff), code)
    return project


def _apply_changes(uow: UnitOfWork, project: Project, new: dict[str, Any]) -> None:
    session = uow.session
    inv = new.get("investment_code")
    if inv and inv != project.investment_code:
        other = find_by_investment_code(session, inv)
        if other is not None and other.id != project.id:
            raise Conflict(f"投资项目代码 {inv} 已登记为项目 {other.code}",
                           [("investment_code", "投资项目代码已登记")], existing_code=other.code)
    for key, value in new.items():
        if key in ("sources", "refs"):
            continue
        if key == "year":
            value = int(value)
        setattr(project, key, value)
        if key == "name":
            project.name_norm = normalize_name(value)
    _add_sources(session, project, new.get("sources") or [], uow.now)
    _add_refs(session, project, {"investment_code": inv, "refs": new.get("refs")})


def void(uow: UnitOfWork, code: str, reason: str) -> Project:
    project = uow.project(code, Action.PROJECT_VOID)
    project.status, project.void_reason = ProjectStatus.VOID, reason
    uow.emit(ev.ProjectVoided(reason=reason), code)
    return project


def merge(uow: UnitOfWork, code: str, into: str, reason: str) -> Project:
    """The loser points to the survivor; its sources and refs are carried over to the survivor."""
    if code == into:
        raise invalid("into", "不能将项目合并到自身")
    get(uow.session, code)
    get(uow.session, into, field="into")
    locked = {}
    for c in sorted((code, into)):  # both rows locked, always in code order: two merges of a pair cannot deadlock
        locked[c] = uow.project(c, Action.PROJECT_MERGE, active=False, field="code" if c == code else "into")
    loser, survivor = locked[code], locked[into]
    require_active(loser)
    if survivor.status != ProjectStatus.ACTIVE:
        raise Conflict(f"目标项目 {into} 状态为 {survivor.status}，不能作为合并目标",
                       [("into", "目标项目不是有效状态")])
    loser.status, loser.merged_into = ProjectStatus.MERGED, into
    uow.session.flush()
    _add_sources(uow.session, survivor, [{"kind": s.kind, "ref": s.ref} for s in project_sources(uow.session, loser)],
                 uow.now)
    refs = uow.session.execute(select(ProjectRef).where(ProjectRef.project_id == loser.id)).scalars().all()
    if loser.investment_code and not survivor.investment_code:
        survivor.investment_code = loser.investment_code
    for r in refs:
        add_ref(uow.session, survivor, r.kind, r.value, r.result_id)
    uow.emit(ev.ProjectMerged(into=into, reason=reason), code)
    return loser


def split(uow: UnitOfWork, code: str, parts: list[dict[str, Any]], reason: str) -> list[Project]:
    """A project split into several: new codes linked to the parent, which stays as the record of the past."""
    parent = uow.project(code, Action.PROJECT_SPLIT)
    if len(parts) < 2:
        raise invalid("parts", "拆分至少需要两个子项目")
    children = []
    for i, part in enumerate(parts):
        base = {k: getattr(parent, k) for k in (*CODED, "builder")} | {"name": f"{parent.name}（{i + 1}）"}
        if part.get("division", parent.division) == parent.division:  # [standards] the zone goes with its division
            base["zone"] = parent.zone
        data = base | part | {"parent_code": code, "investment_code": parent.investment_code,
                              "sources": [{"kind": "manual", "ref": f"split:{code}"}]}
        try:
            for k in CODED:  # [standards] an inherited value read in the parent's edition must mean the same now
                if k not in part:
                    data[k] = codes.carry_over(uow.profile, k, str(data[k]), parent.edition)
        except codes.CodeError as exc:
            raise invalid(f"parts.{i}.{exc.field}", exc.message) from None
        try:
            child = register(uow, data)
        except Invalid as exc:
            exc.errors = [(f"parts.{i}.{f}", m) for f, m in exc.errors]
            raise
        children.append(child)
    uow.emit(ev.ProjectSplit(children=[c.code for c in children], reason=reason), code)
    return children
