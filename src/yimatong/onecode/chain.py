"""The business chain (业务链) of one code: project, stages, events in time order, results and parcels the
caller may see. This is the one-code query (一码查询)."""

from __future__ import annotations

import io
import json
from typing import Any

import segno
from sqlalchemy.orm import Session

from yimatong.core.context import App
from yimatong.core.visibility import View
from yimatong.joint import limits, reviews
from yimatong.ledger.log import event_dict
from yimatong.parcels import store as parcels
from yimatong.projects import registry
from yimatong.results import service as results
from yimatong.stages import service as stages
from yimatong.storage.models import Event, Project, ProjectRef


def chain(session: Session, app: App, view: View, code: str) -> dict[str, Any]:
    project = registry.get(session, code, view)
    evs = session.execute(view.event_query().where(Event.code == code).order_by(Event.seq)).scalars()
    res = results.visible_results(session, view, [project.id])
    return {
        "project": registry.project_dict(session, project, view=view),
        "stages": limits.with_times(session, app, project, stages.stage_list(session, app, project)),
        "events": [event_dict(e) for e in evs],
        "joint_reviews": reviews.for_stage(session, app, view, code, None),  # [joint] opinion by opinion
        "results": results.as_dicts(session, view, res, {project.id: code}),
        "parcels": feature_collection(session, view, project),
        "refs": refs(session, view, project),
    }


def feature_collection(session: Session, view: View, project: Project) -> dict[str, Any]:
    rows = parcels.project_parcels(session, view, project)
    codes = view.codes_of_parcels(session, [p.id for p in rows])
    return {"type": "FeatureCollection", "features": [parcels.parcel_feature(p, codes.get(p.id, [])) for p in rows]}


def refs(session: Session, view: View, project: Project) -> list[dict[str, str]]:
    stmt = (view.ref_query(ProjectRef.kind, ProjectRef.value).where(ProjectRef.project_id == project.id)
            .order_by(ProjectRef.id))
    return [{"kind": k, "value": v} for k, v in session.execute(stmt)]


def public_view(session: Session, app: App, code: str) -> dict[str, Any]:
    """What anyone scanning the QR code may see: public fields, stages, public results only."""
    view = View.of(app, None)
    project = registry.get(session, code)
    res = results.visible_results(session, view, [project.id])
    p = registry.project_dict(session, project)
    public = {k: p[k] for k in ("code", "name", "status", "merged_into", "division", "zone", "year", "supply_type",
                                "land_use", "edition", "builder", "current_stage", "area_m2")}
    return {"project": public, "stages": stages.stage_list(session, app, project),
            "results": results.as_dicts(session, view, res, {project.id: code})}


def public_url(app: App, base_url: str, code: str) -> str:
    base = app.settings.public_base_url or app.profile.public_base_url or base_url
    return f"{base.rstrip('/')}/p/{code}"


def qr(url: str, kind: str) -> bytes:
    buf = io.BytesIO()
    code = segno.make(url, error="m")
    if kind == "svg":
        code.save(buf, kind="svg", scale=4, border=2, title="项目码二维码")
    else:
        code.save(buf, kind="png", scale=8, border=2)
    return buf.getvalue()


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
