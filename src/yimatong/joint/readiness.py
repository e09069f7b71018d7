"""Zero-material registration (零材料登记, 码上直办): the facts a 首次登记 application is filled from, read from the
typed results under the code (registration.json in the registration package), what is still missing, and the
`registration.ready` event when a project's readiness becomes true."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from yimatong.core.context import SYSTEM, App
from yimatong.core.visibility import View
from yimatong.domain import events as ev
from yimatong.domain.policy import Action
from yimatong.errors import Conflict
from yimatong.joint import limits, materials
from yimatong.results import service as results
from yimatong.stages import service as stages
from yimatong.storage.models import Project, ProjectRef, RegistrationState, Result
from yimatong.uow import UnitOfWork

PAID_GROUPS = ("102", "103", "104", "105")   # 权利性质 with a land price (出让, 作价出资, 租赁, 授权经营)
TERM_GROUPS = ("102", "103", "104", "105")   # 划拨 (101) has no term of use


def _newest(rows: list[Result], kinds: list[str]) -> Result | None:
    found = [r for r in rows if r.kind in kinds]
    return found[-1] if found else None


def _refs(session: Session, view: View, project: Project) -> dict[str, str]:
    stmt = view.ref_query(ProjectRef.kind, ProjectRef.value).where(ProjectRef.project_id == project.id)
    return {k: v for k, v in session.execute(stmt.order_by(ProjectRef.id))}


def _term(data: dict[str, Any]) -> dict[str, str] | None:
    """使用期限: term_start..term_end, or term_start + term_years (the same day N years on)."""
    start, end, years = data.get("term_start"), data.get("term_end"), data.get("term_years")
    if not start:
        return None
    if not end and isinstance(years, int) and not isinstance(years, bool):
        begin = dt.date.fromisoformat(start)
        try:
            end = begin.replace(year=begin.year + years).isoformat()
        except ValueError:  # 29 February
            end = begin.replace(year=begin.year + years, day=28).isoformat()
    return {"start": start, "end": end} if end else None


def facts(session: Session, app: App, view: View, project: Project) -> dict[str, Any]:
    """registration.json: the fields the registration platform fills a 首次登记 application from, and `missing`."""
    spec = app.profile.registration
    rows = results.visible_results(session, view, [project.id])
    contract = _newest(rows, spec.contract_kinds)
    cert = _newest(rows, spec.certificate_kinds)
    data: dict[str, Any] = dict(contract.data) if contract else {}
    cdata: dict[str, Any] = dict(cert.data) if cert else {}
    refs = _refs(session, view, project)
    unit_no = data.get("unit_no") or cdata.get("unit_no") or refs.get("unit_no")
    parcel_code = data.get("parcel_code") or (unit_no[:19] if unit_no else None) or refs.get("parcel_code")
    right_type = app.profile.column("supply_type", project.supply_type, "right_type_code")
    wanted = set(app.profile.packages.get("registration") or app.profile.stage_keys)
    docs = [r for r in rows if r.stage in wanted]
    files = results.files_of(session, view, [r.id for r in docs])
    out: dict[str, Any] = {
        "code": project.code,
        "holder": data.get("assignee") or data.get("holder") or project.builder,
        "unit_no": unit_no, "parcel_code": parcel_code, "location": data.get("location"),
        "area_m2": data.get("area_m2") if data.get("area_m2") is not None else project.area_m2,
        "land_use": data.get("land_use") or project.land_use,
        "land_use_label": app.profile.label("land_use", project.land_use, project.edition),
        "right_type_code": right_type, "term": _term(data),
        "documents": [{"kind": r.kind, "doc_no": r.doc_no, "issued_at": r.issued_at, "result_id": r.id,
                       "stage": r.stage, "sha256": files[r.id][0].sha256 if files.get(r.id) else None,
                       "files": [{"name": f.name, "sha256": f.sha256} for f in files.get(r.id, [])]} for r in docs],
        "payments": {"land_price_paid": bool(data.get("land_price_paid_at")),
                     "land_price_paid_at": data.get("land_price_paid_at"),
                     "deed_tax_paid": _newest(rows, spec.deed_tax_kinds) is not None},
    }
    out["missing"] = _missing(session, app, view, project, out, contract)
    return out


def _missing(session: Session, app: App, view: View, project: Project, doc: dict[str, Any],
             contract: Result | None) -> list[dict[str, Any]]:
    spec = app.profile.registration
    kind = contract.kind if contract else spec.contract_kinds[0]
    from_stage = contract.stage if contract else "supply"
    out: list[dict[str, Any]] = []

    def need(name: str, reason: str, k: str = kind, stage: str = from_stage) -> None:
        out.append({"name": name, "kind": k, "from_stage": stage, "reason": reason})

    for m in materials.catalogue(session, app, view, project, spec.stage):
        if m["required"] and m["result_id"] is None:
            need(m["name"], f"缺少成果“{m['kind']}”（{m['from_stage']} 阶段）", m["kind"], m["from_stage"])
    if contract is None and not any(m["kind"] in spec.contract_kinds for m in out):
        need("供地文件（出让合同或划拨决定书）", "项目码下没有供地文件")
    checks = [("unit_no", "不动产单元号", "供地文件与不动产权证书的数据中都没有 unit_no，项目也没有该编号"),
              ("location", "坐落", "供地文件数据中没有 location（宗地坐落）"),
              ("area_m2", "面积", "供地文件数据和项目都没有面积 area_m2")]
    for key, name, reason in checks:
        if doc.get(key) in (None, ""):
            need(name, reason)
    if doc["right_type_code"] is None:
        need("权利性质", f"供地类型 {project.supply_type} 没有对应的权利性质代码（不动产登记 101–105）")
    if doc["right_type_code"] in TERM_GROUPS and doc["term"] is None:
        need("使用期限", "出让合同数据中没有 term_start 与 term_end（或 term_years）")
    if doc["right_type_code"] in PAID_GROUPS and not doc["payments"]["land_price_paid"]:
        need("出让价款缴清", "出让合同数据中没有价款缴清日期 land_price_paid_at")
    if not doc["payments"]["deed_tax_paid"] and not any(m["kind"] in spec.deed_tax_kinds for m in out):
        need("契税完税", "没有契税完税凭证成果", spec.deed_tax_kinds[0], spec.stage)
    return out


def package_documents(app: App) -> Callable[[Session, View, Project], dict[str, Any]]:
    """The registration package's extra document: registration.json, as the package's reader may see it."""
    return lambda session, view, project: {"registration.json": facts(session, app, view, project)}


def readiness(session: Session, app: App, view: View, project: Project) -> dict[str, Any]:
    missing = facts(session, app, view, project)["missing"]
    return {"ready": not missing, "missing": missing}


def system_view(app: App) -> View:
    """Readiness as a fact of the project (not of one reader): the whole library."""
    return View.of(app, SYSTEM)


def track(uow: UnitOfWork, project: Project) -> None:
    """Emit `registration.ready` when the project's readiness becomes true (once per change to true)."""
    uow.session.flush()
    ready = readiness(uow.session, uow.app, system_view(uow.app), project)["ready"]
    state = uow.session.get(RegistrationState, project.id)
    if state is None:
        if not ready:
            return
        state = RegistrationState(project_id=project.id, ready=False, changed_at=uow.now)
        uow.session.add(state)
    if ready != state.ready:
        state.ready, state.changed_at = ready, uow.now
        if ready:
            uow.emit(ev.RegistrationReady(code=project.code), project.code)


def set_stage(uow: UnitOfWork, code: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """A stage change, with the registration rule: the registration stage set `done` without readiness needs a
    `reason` (409 naming what is missing otherwise); readiness is tracked afterwards."""
    spec = uow.profile.registration
    if spec.done_needs_reason and key == spec.stage and body.get("status") == "done" \
            and not (body.get("reason") or "").strip():
        project = uow.project(code, Action.STAGE_WRITE, stage=key)
        missing = readiness(uow.session, uow.app, system_view(uow.app), project)["missing"]
        if missing:
            names = "、".join(m["name"] for m in missing)
            raise Conflict(f"不具备登记条件（缺少：{names}）；确需办结请在 reason 中说明理由",
                           [("reason", f"不具备登记条件，缺少：{names}")], rule="registration_not_ready",
                           missing=missing)
    out = stages.set_stage(uow, code, key, body)
    project = uow.project(code, Action.STAGE_WRITE, stage=key, active=False)
    track(uow, project)
    return limits.with_times(uow.session, uow.app, project, [out])[0]   # the answer shows its time limit too


def after_result(uow: UnitOfWork, code: str) -> None:
    """After a result was added: its data may have completed the registration facts."""
    track(uow, uow.project(code, Action.RESULT_ADD, active=False))
