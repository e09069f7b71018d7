"""Web pages for bureau staff (Chinese, server-rendered, every asset served by the service itself)."""

from __future__ import annotations

import functools
import inspect
import json
import tempfile
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from shapely import wkb
from shapely.geometry import mapping
from sqlalchemy import select

from yimatong.api.deps import declares
from yimatong.api.routes.results import content_disposition
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain import refs
from yimatong.domain import supervision as rules
from yimatong.domain.codes import CodeError, parse_code
from yimatong.domain.enums import ProjectStatus, ReviewState, StageStatus
from yimatong.domain.policy import Action
from yimatong.domain.profile import digits_only
from yimatong.errors import AppError, NotFound, invalid
from yimatong.formats import qr_images
from yimatong.intake import reviews
from yimatong.intake.columns import KIND_LABELS
from yimatong.ledger import audit, feed
from yimatong.onecode import chain
from yimatong.ops import gc
from yimatong.parcels import store as parcel_service
from yimatong.projects import export as exports
from yimatong.projects import listing as project_list
from yimatong.projects import registry
from yimatong.storage.models import ControlLayerFeature
from yimatong.supervision import service as supervision
from yimatong.uow import run as uow_run
from yimatong.web import account_pages, auth
from yimatong.web.templating import TEMPLATES

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
STATUS_TEXT = StageStatus.labels()
PROJECT_STATUS = ProjectStatus.labels()
GROUPS = [("批", "批"), ("供", "供"), ("用", "用"), ("补", "补"), ("查", "查"), ("登", "登")]


def install(app: FastAPI) -> None:
    ymt: App = app.state.ymt
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(account_pages.router)
    app.include_router(router)
    auth.install(app, ymt)


def _ymt(request: Request) -> App:
    return request.app.state.ymt


class LoginRequired(Exception):
    pass


def _may(request: Request, actor: Actor, action: Action) -> bool:
    return _ymt(request).profile.policy.may(actor, action)


def _actor(request: Request) -> Actor:
    actor = auth.current_actor(request)
    if actor is None:
        raise LoginRequired
    return actor


def render(request: Request, template: str, active: str, **ctx: Any) -> HTMLResponse:
    app = _ymt(request)
    return TEMPLATES.TemplateResponse(request, template, {
        "active": active, "user": auth.current_user(request), "csrf": auth.csrf_token(request), "profile": app.profile,
        "tile_url": app.settings.tile_url, "tile_attribution": app.settings.tile_attribution or "",
        "status_text": STATUS_TEXT, "project_status": PROJECT_STATUS, **ctx})


def page(fn: Any) -> Any:
    """Pages need a login: send people to the login page and back."""

    def to_login(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(auth.login_redirect(request, target), status_code=303)

    if inspect.iscoroutinefunction(fn):  # pages that read an upload are async
        @functools.wraps(fn)
        async def async_wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return await fn(request, *args, **kwargs)
            except LoginRequired:
                return to_login(request)

        return declares(Action.READ)(async_wrapper)

    @functools.wraps(fn)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return fn(request, *args, **kwargs)
        except LoginRequired:
            return to_login(request)

    return declares(Action.READ)(wrapper)


@router.get("/", response_class=HTMLResponse)
@page
def dashboard(request: Request) -> Response:
    actor = _actor(request)
    app = _ymt(request)
    with app.db.read() as session:
        by = {g: supervision.stats(session, app, g) for g in ("stage", "division", "year")}
        # never wait for the warnings: right after a start they take seconds at 100 000 projects; the page
        # then shows 计算中 and asks /web/warning-counts until they are ready
        warns, _ = supervision.ready_warnings(session, app)
        recent = feed.recent(session, View.of(app, actor))
    counts = supervision.count_by_kind(warns) if warns is not None else None
    return render(request, "dashboard.html", "dashboard", stats=by, warning_counts=counts,
                  kind_labels=rules.KIND_LABELS, recent=recent)


@router.get("/web/warning-counts")
@declares(Action.READ)
def warning_counts(request: Request) -> Response:
    """Warnings by kind for the dashboard: 202 while none are computed yet, else 200 with the counts and whether
    they are current (stale ones are being refreshed)."""
    if auth.current_actor(request) is None:
        return Response(status_code=401)
    app = _ymt(request)
    with app.db.read() as session:
        warns, fresh = supervision.ready_warnings(session, app)
    if warns is None:
        return JSONResponse({"ready": False, "fresh": False}, status_code=202)
    return JSONResponse({"ready": True, "fresh": fresh, "counts": supervision.count_by_kind(warns)})


@router.get("/projects", response_class=HTMLResponse)
@page
def projects(request: Request, q: str | None = None, division: str | None = None, year: str | None = None,
             stage: str | None = None, status: str | None = None, cursor: str | None = None,
             zone: str | None = None) -> Response:
    actor = _actor(request)
    app = _ymt(request)
    f = project_list.ProjectFilter(q=q or None, division=division or None, stage=stage or None,
                                   status=status or None, year=_year(year), zone=zone or None)
    try:
        with app.db.read() as session:
            result = project_list.page(session, View.of(app, actor), f, 50, cursor or None)
    except AppError as exc:
        result = {"items": [], "next_cursor": None, "error": exc.detail}
    query = {k: v for k, v in {"q": q, "division": division, "zone": zone, "year": year, "stage": stage,
                               "status": status}.items() if v}
    return render(request, "projects.html", "projects", result=result, filters=query)


@router.get("/projects.xlsx")
@page
def projects_xlsx(request: Request, q: str | None = None, division: str | None = None, year: str | None = None,
                  stage: str | None = None, status: str | None = None, zone: str | None = None) -> Response:
    actor = _actor(request)
    f = project_list.ProjectFilter(q=q or None, division=division or None, stage=stage or None,
                                   status=status or None, year=_year(year), zone=zone or None)
    folder = tempfile.mkdtemp(prefix=gc.EXPORT_PREFIX, dir=gc.export_root())
    try:  # issue 10.8: the folder goes now, whatever happens; the open file is streamed, then closed
        tmp = Path(folder) / "projects.xlsx"
        exports.export_projects(_ymt(request), View.of(_ymt(request), actor), tmp, f)
        data = tmp.open("rb")
    finally:
        gc.remove_dir(folder)
    audit.record(_ymt(request), actor, "export.projects", f"projects.xlsx?{request.url.query}", "web",
                 request.client.host if request.client else None)
    return StreamingResponse(_chunks(data), headers={"Content-Disposition": content_disposition("项目库.xlsx")},
                             media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _chunks(data: BinaryIO) -> Iterator[bytes]:
    with data:
        while chunk := data.read(1024 * 1024):
            yield chunk


@router.get("/code", response_class=HTMLResponse)
@page
def code_search(request: Request, q: str = "") -> Response:
    actor = _actor(request)
    text = _code_in(q)
    if not text:
        return render(request, "code_search.html", "code", error=None, q=q)
    app = _ymt(request)
    try:
        parse_code(app.profile, text)
    except CodeError as exc:
        with app.db.read() as session:  # not a code: perhaps a 电子监管号, 不动产单元号 or other reference
            found = [p.code for p in registry.find_by_ref(session, View.of(app, actor), q)]
        if len(found) == 1:
            return RedirectResponse(f"/code/{found[0]}", status_code=303)
        if found:
            return RedirectResponse(f"/projects?q={quote(q.strip())}", status_code=303)
        return render(request, "code_search.html", "code", error=f"项目码格式有误：{exc.message}", q=q)
    return RedirectResponse(f"/code/{text}", status_code=303)


def _year(text: str | None) -> int | None:
    """The year filter of the list pages: a four-digit year, or no filter (a page never fails on it)."""
    return int(text) if text and digits_only(text) and len(text) <= 4 else None


def _code_in(text: str) -> str:
    """The code in what was typed, pasted or scanned: the code itself or the URL of its /p/ page."""
    return text.strip().rstrip("/").split("/p/")[-1].split("/")[-1].strip().upper()


@router.post("/code/scan", response_class=HTMLResponse)
@page
async def code_scan(request: Request) -> Response:
    """A photo of a project's QR code (taken with the phone's camera through a file input) opens its page."""
    _actor(request)
    app = _ymt(request)
    form = await request.form(max_part_size=app.settings.max_upload_bytes)
    photo = form.get("photo")
    if not auth.csrf_ok(request, str(form.get("csrf") or "")):
        return render(request, "code_search.html", "code", error="页面已过期，请刷新后重试", q="")
    if photo is None or isinstance(photo, str):
        return render(request, "code_search.html", "code", error="请先拍摄或选择二维码照片", q="")
    try:
        texts = qr_images.read_qr_texts(await photo.read())
    except qr_images.QrImageError as exc:
        return render(request, "code_search.html", "code", error=str(exc), q="")
    for text in texts:
        code = _code_in(text)
        try:
            parse_code(app.profile, code)
        except CodeError:
            continue
        return RedirectResponse(f"/code/{code}", status_code=303)
    found = "、".join(t[:60] for t in texts)
    return render(request, "code_search.html", "code", q="",
                  error=f"照片中的二维码不是项目码：{found}" if texts else "照片中未识别到二维码，请对准二维码重新拍摄")


@router.get("/code/{code}", response_class=HTMLResponse)
@page
def one_code(request: Request, code: str) -> Response:
    actor = _actor(request)
    app = _ymt(request)
    try:
        with app.db.read() as session:
            data = chain.chain(session, app, View.of(app, actor), code)
    except NotFound:
        return render(request, "code_search.html", "code", error=f"项目码 {code} 未登记", q=code)
    segments = parse_code(app.profile, code, data["project"].get("edition")).segments  # read in its own edition
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for r in data["results"]:
        by_stage.setdefault(r["stage"], []).append(r)
    return render(request, "one_code.html", "code", data=data, segments=segments, results_by_stage=by_stage,
                  groups=GROUPS, ref_labels=refs.LABELS | {"supervision_no": "电子监管号"})


@router.get("/map", response_class=HTMLResponse)
@page
def map_page(request: Request) -> Response:
    _actor(request)
    stages = [{"key": s.key, "name": s.name} for s in _ymt(request).profile.stages]
    return render(request, "map.html", "map", stages=stages)


@router.get("/imports", response_class=HTMLResponse)
@page
def imports_page(request: Request) -> Response:
    actor = _actor(request)
    editions = _ymt(request).profile.intake.land_use_editions
    return render(request, "imports.html", "imports", can_import=_may(request, actor, Action.IMPORT),
                  land_use_editions=editions)


REVIEW_STATES = ReviewState.labels()


@router.get("/reviews", response_class=HTMLResponse)
@page
def reviews_page(request: Request, state: str = "open", cursor: str | None = None) -> Response:
    """The review queue: import rows that look like an existing project, decided by a person."""
    actor = _actor(request)
    app = _ymt(request)
    state = state if state in REVIEW_STATES else "open"
    with app.db.read() as session:
        try:
            data = reviews.page(session, state, 50, cursor)
        except AppError:  # a stale or hand-edited cursor: start from the top
            data = reviews.page(session, state, 50, None)
        names = reviews.candidate_names(session, data["items"])
    return render(request, "reviews.html", "reviews", items=data["items"], next_cursor=data["next_cursor"],
                  names=names, state=state, states=REVIEW_STATES, kind_labels=KIND_LABELS,
                  can_decide=_may(request, actor, Action.REVIEW_DECIDE), done=request.query_params.get("done"))


@router.post("/reviews/{review_id}", response_class=HTMLResponse)
@declares(Action.REVIEW_DECIDE)
@page
def review_decide(request: Request, review_id: int = PathParam(ge=1, le=2**53), decision: str = Form(""), reason: str = Form(""),
                  csrf: str = Form("")) -> Response:
    actor = _actor(request)
    if not auth.csrf_ok(request, csrf):
        return HTMLResponse("页面已过期，请刷新后重试", status_code=403)
    app = _ymt(request)
    try:
        out = uow_run(app, actor, lambda uow: reviews.resolve(uow, review_id, decision, reason or None))
    except AppError as exc:
        return HTMLResponse(f"无法处理复核项 {review_id}：{escape(exc.detail)}", status_code=exc.status)
    return RedirectResponse(f"/reviews?done={out['id']}:{out['state']}:{out['project_code']}", status_code=303)


@router.get("/warnings", response_class=HTMLResponse)
@page
def warnings_page(request: Request, kind: str | None = None, division: str | None = None) -> Response:
    _actor(request)
    app = _ymt(request)
    kind = kind if kind in rules.KINDS else None
    with app.db.read() as session:
        # waits a moment for current figures; a large library shows the previous ones meanwhile (and says so)
        warns, fresh = supervision.ready_warnings(session, app, wait=1.5)
    items = [w for w in warns or [] if (not kind or w.kind == kind) and (not division or w.division == division)]
    query = "&".join(f"{k}={quote(v)}" for k, v in (("kind", kind), ("division", division)) if v)
    return render(request, "warnings.html", "warnings", items=items[:500], total=len(items),
                  kind_labels=rules.KIND_LABELS, kind=kind or "", division=division or "", query=query,
                  pending=warns is None, stale=warns is not None and not fresh)


@router.get("/web/divisions.geojson")
@declares(Action.READ)
def divisions(request: Request) -> Response:
    app = _ymt(request)
    if auth.current_actor(request) is None:
        return Response(status_code=401)
    p = app.profile
    if not p.division_boundaries or p.directory is None:
        return Response('{"type":"FeatureCollection","features":[]}', media_type="application/geo+json")
    return FileResponse(p.directory / p.division_boundaries, media_type="application/geo+json",
                        headers={"Cache-Control": "private, max-age=3600"})


def _view_bbox(bbox: str) -> tuple[float, float, float, float]:
    box = project_list.parse_bbox(bbox)
    if box is None:
        raise invalid("bbox", "缺少地图范围 bbox（minlon,minlat,maxlon,maxlat）")
    return box


@router.get("/web/parcels")
@declares(Action.READ)
def map_parcels(request: Request, bbox: str = Query(...), limit: int = Query(2000, ge=1, le=5000)) -> Response:
    """Parcels in view with the current stage of their latest project, simplified to the zoom's pixel size."""
    if auth.current_actor(request) is None:
        return Response(status_code=401)
    app = _ymt(request)
    box = _view_bbox(bbox)
    tolerance = max(box[2] - box[0], box[3] - box[1]) / 2000
    with app.db.read() as session:
        feats, truncated = parcel_service.map_features(session, View.of(app, auth.current_actor(request)), box,
                                                       limit, tolerance)
    body = {"type": "FeatureCollection", "features": feats, "truncated": truncated}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")


@router.get("/web/control-layers")
@declares(Action.READ)
def control_layers(request: Request, kind: str, bbox: str) -> Response:
    if auth.current_actor(request) is None:
        return Response(status_code=401)
    box = _view_bbox(bbox)
    with _ymt(request).db.read() as session:
        rows = session.execute(select(ControlLayerFeature).where(
            ControlLayerFeature.kind == kind, ControlLayerFeature.maxx >= box[0], ControlLayerFeature.minx <= box[2],
            ControlLayerFeature.maxy >= box[1], ControlLayerFeature.miny <= box[3]).limit(2000)).scalars().all()
        feats = [{"type": "Feature", "id": f.id, "geometry": mapping(wkb.loads(f.geom_wkb)),
                  "properties": {"name": f.name, "kind": f.kind}} for f in rows]
    return Response(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
                    media_type="application/geo+json")
