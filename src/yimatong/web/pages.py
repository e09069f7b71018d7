"""Web pages for bureau staff (Chinese, server-rendered, every asset served by the service itself)."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

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
from yimatong.onecode import chain, search
from yimatong.ops import gc
from yimatong.parcels import store as parcel_service
from yimatong.projects import export as exports
from yimatong.projects import listing as project_list
from yimatong.projects import registry
from yimatong.storage.models import ControlLayerFeature
from yimatong.supervision import service as supervision
from yimatong.uow import run as uow_run
from yimatong.web import account_pages, api_docs, auth, errors, listing
from yimatong.web.errors import error_page
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
    app.include_router(api_docs.router)
    app.include_router(router)
    auth.install(app, ymt)
    errors.install(app)


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
        view = View.of(app, actor)
        by = {g: supervision.stats(session, app, view, g) for g in ("stage", "division", "year")}
        recent = feed.recent(session, view)
    # never wait for the warnings: right after a start they take seconds at 100 000 projects; the page then
    # shows 计算中 and asks /web/warning-counts until they are ready
    counts, _ = supervision.ready_counts(app, view)
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
    counts, fresh = supervision.ready_counts(app, View.of(app, auth.current_actor(request)))
    if counts is None:
        return JSONResponse({"ready": False, "fresh": False}, status_code=202)
    return JSONResponse({"ready": True, "fresh": fresh, "counts": counts})


@router.get("/projects", response_class=HTMLResponse)
@page
def projects(request: Request, q: str | None = None, division: str | None = None, year: str | None = None,
             stage: str | None = None, status: str | None = None, zone: str | None = None,
             sort: str | None = None, size: str | None = None, page_no: str | None = Query(None, alias="page")
             ) -> Response:
    actor = _actor(request)
    app = _ymt(request)
    f = project_list.ProjectFilter(q=q or None, division=division or None, stage=stage or None,
                                   status=status or None, year=_year(year), zone=zone or None)
    paging = listing.Paging.of(page_no, size, sort, list(project_list.SORTS), "id", default_desc=True)
    query = {k: v for k, v in {"q": q, "division": division, "zone": zone, "year": year, "stage": stage,
                               "status": status}.items() if v}
    error = None
    try:
        with app.db.read() as session:
            view = View.of(app, actor)
            stmt = project_list.filtered(session, view, f)
            total = listing.count(session, stmt)
            items = project_list.items_of(session, view,
                                          listing.fetch(session, stmt, project_list.SORTS[paging.sort], paging))
    except AppError as exc:
        items, total, error = [], listing.Total(0, True), exc.detail
    pager = listing.Pager("/projects", query, paging, total)
    return render(request, "projects.html", "projects", items=items, error=error, filters=query, pager=pager,
                  sizes=listing.SIZES)


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
        with app.db.read() as session:  # not a code: a name, a 电子监管号, 不动产单元号 or other reference
            view = View.of(app, actor)
            found = [p.code for p in registry.find_by_ref(session, view, q)]
            matches = [] if found else search.projects(session, view, q.strip()[:100], limit=MATCHES)
        if len(found) == 1 or len(matches) == 1:
            return RedirectResponse(f"/code/{(found or [m['code'] for m in matches])[0]}", status_code=303)
        if found:
            return RedirectResponse(f"/projects?q={quote(q.strip())}", status_code=303)
        if matches:
            return render(request, "code_search.html", "code", error=None, q=q, matches=matches,
                          more=len(matches) >= MATCHES)
        looks_like_code = text.isascii() and text.isalnum() and any(c.isdigit() for c in text)
        error = f"项目码格式有误：{exc.message}" if looks_like_code else f"没有找到与“{q.strip()}”相符的项目"
        return render(request, "code_search.html", "code", error=error, q=q)
    return RedirectResponse(f"/code/{text}", status_code=303)


MATCHES = 20


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
    with app.db.read() as session:  # the project's warnings, spatial ones (永久基本农田 …) first, as at hand now
        warns, _ = supervision.ready_warnings(session, app, View.of(app, actor), wait=1.0, code=code)
    mine = sorted(warns or [], key=lambda w: (w.kind != "spatial_conflict", -w.level))
    parcel_m2 = sum(float(f["properties"].get("area_m2") or 0) for f in data["parcels"]["features"])
    return render(request, "one_code.html", "code", data=data, segments=segments, results_by_stage=by_stage,
                  groups=GROUPS, ref_labels=refs.LABELS | {"supervision_no": "电子监管号"},
                  parcel_area=areas(parcel_m2) if data["parcels"]["features"] else None,
                  declared_area=areas(data["project"]["area_m2"]) if data["project"].get("area_m2") else None,
                  warnings=mine, warnings_pending=warns is None, kind_labels=rules.KIND_LABELS)


def areas(m2: float) -> dict[str, float]:
    """An area in the units the bureau reads: m², 亩 (1 亩 = 10 000/15 m²) and 公顷 (10 000 m²)."""
    return {"m2": m2, "mu": m2 * 15 / 10_000, "ha": m2 / 10_000}


def _resolve_one(uow: Any, review_id: int, decision: str, reason: str | None) -> Any:
    return reviews.resolve(uow, review_id, decision, reason)


@router.get("/map", response_class=HTMLResponse)
@page
def map_page(request: Request) -> Response:
    _actor(request)
    stages = [{"key": s.key, "name": s.name} for s in _ymt(request).profile.stages]
    return render(request, "map.html", "map", stages=stages, polygon_zoom=_ymt(request).settings.tile_polygon_zoom)


@router.get("/imports", response_class=HTMLResponse)
@page
def imports_page(request: Request) -> Response:
    actor = _actor(request)
    editions = _ymt(request).profile.intake.land_use_editions
    return render(request, "imports.html", "imports", can_import=_may(request, actor, Action.IMPORT),
                  land_use_editions=editions)


REVIEW_STATES = ReviewState.labels()


def _score(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value <= 100 else None


@router.get("/reviews", response_class=HTMLResponse)
@page
def reviews_page(request: Request, state: str = "open", q: str | None = None, min_score: str | None = None,
                 max_score: str | None = None, sort: str | None = None, size: str | None = None,
                 page_no: str | None = Query(None, alias="page")) -> Response:
    """The review queue: import rows that look like an existing project, decided by a person — one at a time or
    several at once after a preview of what each decision does."""
    actor = _actor(request)
    app = _ymt(request)
    state = state if state in REVIEW_STATES else "open"
    text = (q or "").strip()[:100]
    low, high = _score(min_score), _score(max_score)
    filters = {k: str(v) for k, v in (("state", state), ("q", text), ("min_score", min_score if low is not None else None),
                                      ("max_score", max_score if high is not None else None)) if v}
    paging = listing.Paging.of(page_no, size, sort, list(reviews.SORTS), "id")
    with app.db.read() as session:
        stmt = reviews.filtered(state, text or None, low, high)
        total = listing.count(session, stmt)
        items = [reviews.review_dict(r) for r in listing.fetch(session, stmt, reviews.SORTS[paging.sort], paging)]
        names = reviews.candidate_names(session, items)
    pager = listing.Pager("/reviews", filters, paging, total)
    return render(request, "reviews.html", "reviews", items=items, pager=pager, sizes=listing.SIZES, f=filters,
                  names=names, state=state, states=REVIEW_STATES, kind_labels=KIND_LABELS,
                  can_decide=_may(request, actor, Action.REVIEW_DECIDE), done=request.query_params.get("done"),
                  bulk=request.query_params.get("bulk"))


DECISION_TEXT = {"merge": "并入候选项目", "keep_separate": "另立为新项目"}
BULK_MAX = max(listing.SIZES)


def _effect(item: dict[str, Any], decision: str, names: dict[str, str]) -> str:
    """What a decision does to one review item, in words (the bulk preview)."""
    values = item.get("values") or {}
    if decision == "merge":
        return (f"把导入行“{values.get('name', '')}”并入 {item['candidate_code']}"
                f"（{names.get(item['candidate_code'], '')}）：补充来源与缺少的属性，项目码不变")
    return f"把导入行“{values.get('name', '')}”登记为新项目，签发新的项目码；候选项目 {item['candidate_code']} 不变"


def _back_to_reviews(referer: str | None) -> str:
    """The queue page (with its filters) the bulk form was sent from; never another site."""
    parts = urlsplit(referer or "")
    return f"{parts.path}?{parts.query}" if parts.path == "/reviews" else "/reviews"


async def _bulk_form(request: Request) -> tuple[list[int], str, str, bool]:
    form = await request.form()
    ids = sorted({int(v) for v in form.getlist("id") if isinstance(v, str) and v.isdigit() and len(v) < 16})
    return (ids[:BULK_MAX], str(form.get("decision") or ""), str(form.get("reason") or "").strip()[:500],
            auth.csrf_ok(request, str(form.get("csrf") or "")))


@router.post("/reviews/bulk", response_class=HTMLResponse)
@declares(Action.REVIEW_DECIDE)
@page
async def reviews_bulk_preview(request: Request) -> Response:
    """Step one of a bulk decision: what each selected item would become; nothing is written yet."""
    actor = _actor(request)
    ids, decision, reason, csrf_ok = await _bulk_form(request)
    if not csrf_ok:
        return error_page(request, 403, "页面已过期，请刷新后重试")
    if not _may(request, actor, Action.REVIEW_DECIDE):
        return error_page(request, 403, "您的角色不能处理复核项")
    back = _back_to_reviews(request.headers.get("referer"))
    if decision not in DECISION_TEXT or not ids:
        msg = "请先勾选复核项" if not ids else "请选择处理方式：并入候选项目或另立为新项目"
        return render(request, "reviews_bulk.html", "reviews", items=[], error=msg, back=back, decision=decision,
                      decision_text=DECISION_TEXT, reason=reason, effects={})
    app = _ymt(request)
    with app.db.read() as session:
        items = reviews.by_ids(session, ids)
        names = reviews.candidate_names(session, items)
    effects = {i["id"]: _effect(i, decision, names) if i["state"] == "open" else "已处理，将跳过" for i in items}
    return render(request, "reviews_bulk.html", "reviews", items=items, effects=effects, decision=decision,
                  decision_text=DECISION_TEXT, reason=reason, back=back, error=None, kind_labels=KIND_LABELS)


@router.post("/reviews/bulk/confirm", response_class=HTMLResponse)
@declares(Action.REVIEW_DECIDE)
@page
async def reviews_bulk_confirm(request: Request) -> Response:
    """Step two: each confirmed item through the same command as a single decision (its own unit of work, so
    one already decided by a colleague meanwhile is reported and the others go through)."""
    actor = _actor(request)
    ids, decision, reason, csrf_ok = await _bulk_form(request)
    if not csrf_ok:
        return error_page(request, 403, "页面已过期，请刷新后重试")
    if decision not in DECISION_TEXT:
        return error_page(request, 422, "请选择处理方式：并入候选项目或另立为新项目")
    app = _ymt(request)
    done, failed = 0, []
    for review_id in ids:
        try:
            uow_run(app, actor, functools.partial(_resolve_one, review_id=review_id, decision=decision,
                                                  reason=reason or None))
            done += 1
        except AppError as exc:
            failed.append(f"{review_id}（{exc.detail}）")
    note = f"{done}:{len(failed)}"
    if failed:
        return render(request, "reviews_bulk.html", "reviews", items=[], effects={}, decision=decision,
                      decision_text=DECISION_TEXT, reason=reason, back="/reviews", kind_labels=KIND_LABELS,
                      error=f"已{DECISION_TEXT[decision]} {done} 项；以下 {len(failed)} 项未处理：" + "、".join(failed))
    return RedirectResponse(f"/reviews?bulk={note}:{decision}", status_code=303)


@router.post("/reviews/{review_id}", response_class=HTMLResponse)
@declares(Action.REVIEW_DECIDE)
@page
def review_decide(request: Request, review_id: int = PathParam(ge=1, le=2**53), decision: str = Form(""), reason: str = Form(""),
                  csrf: str = Form("")) -> Response:
    actor = _actor(request)
    if not auth.csrf_ok(request, csrf):
        return error_page(request, 403, "页面已过期，请刷新后重试")
    app = _ymt(request)
    try:
        out = uow_run(app, actor, lambda uow: reviews.resolve(uow, review_id, decision, reason or None))
    except AppError as exc:
        return error_page(request, exc.status, f"无法处理复核项 {review_id}：{exc.detail}")
    return RedirectResponse(f"/reviews?done={out['id']}:{out['state']}:{out['project_code']}", status_code=303)


# How the warnings page may be sorted: a key per column (None sorts first ascending: an unknown date is oldest).
WARNING_SORTS: dict[str, Any] = {
    "default": None, "kind": lambda w: (rules.KINDS.index(w.kind), -w.level),
    "level": lambda w: (w.level, w.code), "code": lambda w: w.code, "name": lambda w: (w.name or "", w.code),
    "division": lambda w: (w.division or "", w.code),
    "since": lambda w: (w.since is not None, w.since or dt.date.min, w.code),
    "area": lambda w: (w.area_m2 is not None, w.area_m2 or 0.0, w.code)}


@dataclass(frozen=True)
class WarningQuery:
    """The filters of the warnings page, checked (an unknown value is no filter), as the page's URL keeps them."""

    kind: str | None
    division: str | None
    level: int | None
    q: str

    @classmethod
    def of(cls, kind: str | None, division: str | None, level: str | None, q: str | None) -> WarningQuery:
        return cls(kind if kind in rules.KINDS else None, division or None,
                   int(level) if level in ("1", "2", "3") else None, (q or "").strip()[:100])

    def keeps(self, w: rules.Warning) -> bool:
        return ((not self.kind or w.kind == self.kind) and (not self.division or w.division == self.division)
                and (self.level is None or w.level == self.level)
                and (not self.q or self.q in w.code or self.q in (w.name or "")))

    def params(self) -> dict[str, str]:
        return {k: str(v) for k, v in (("kind", self.kind), ("division", self.division), ("level", self.level),
                                       ("q", self.q)) if v}

    def shown(self, app: App) -> dict[str, str]:
        """The filter in words, for the export's title row."""
        return {"预警类型": rules.KIND_LABELS.get(self.kind or "", ""),
                "行政区划": app.profile.label("division", self.division or "") or (self.division or ""),
                "级别": f"{self.level} 级" if self.level else "", "关键字": self.q}


@router.get("/warnings", response_class=HTMLResponse)
@page
def warnings_page(request: Request, kind: str | None = None, division: str | None = None, level: str | None = None,
                  q: str | None = None, sort: str | None = None, size: str | None = None,
                  page_no: str | None = Query(None, alias="page")) -> Response:
    actor = _actor(request)
    app = _ymt(request)
    wq = WarningQuery.of(kind, division, level, q)
    with app.db.read() as session:
        # waits a moment for current figures; a large library shows the previous ones meanwhile (and says so)
        warns, fresh = supervision.ready_warnings(session, app, View.of(app, actor), wait=1.5)
    items = [w for w in warns or [] if wq.keeps(w)]
    paging = listing.Paging.of(page_no, size, sort, list(WARNING_SORTS), "default")
    filters = wq.params()
    pager = listing.Pager("/warnings", filters, paging, listing.Total(len(items), True))
    return render(request, "warnings.html", "warnings",
                  items=listing.window(items, paging, WARNING_SORTS[paging.sort]), pager=pager, sizes=listing.SIZES,
                  kind_labels=rules.KIND_LABELS, f=filters, export_query=urlencode(filters),
                  pending=warns is None, stale=warns is not None and not fresh)


@router.get("/warnings.xlsx")
@page
def warnings_xlsx(request: Request, kind: str | None = None, division: str | None = None, level: str | None = None,
                  q: str | None = None) -> Response:
    """The warnings as the page filters them (every row, not one page), in xlsx."""
    actor = _actor(request)
    app = _ymt(request)
    wq = WarningQuery.of(kind, division, level, q)
    with app.db.read() as session:
        view = View.of(app, actor)
        items = [w for w in supervision.all_warnings(session, app, view) if wq.keeps(w)]
    folder = tempfile.mkdtemp(prefix=gc.EXPORT_PREFIX, dir=gc.export_root())
    try:  # issue 10.8: the folder goes now, whatever happens; the open file is streamed, then closed
        tmp = Path(folder) / "warnings.xlsx"
        supervision.export_warnings(app, view, tmp, items=items, shown_filters=wq.shown(app))
        data = tmp.open("rb")
    finally:
        gc.remove_dir(folder)
    audit.record(app, actor, "export.warnings", f"warnings.xlsx?{request.url.query}", "web",
                 request.client.host if request.client else None)
    return StreamingResponse(_chunks(data), headers={"Content-Disposition": content_disposition("预警清单.xlsx")},
                             media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


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


@router.get("/web/map-search")
@declares(Action.READ)
def map_search(request: Request, q: str = Query("", max_length=100)) -> Response:
    """The map's search box: projects by code, name or reference and parcels by number, each with its box."""
    actor = auth.current_actor(request)
    if actor is None:
        return Response(status_code=401)
    app = _ymt(request)
    with app.db.read() as session:
        hits = search.anything(session, View.of(app, actor), q)
    return JSONResponse({"items": hits})


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
