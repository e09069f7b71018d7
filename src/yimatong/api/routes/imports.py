"""Imports of the four source lists (and parcel files), and the duplicate review queue."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from yimatong.api.deps import get_app, requires
from yimatong.api.problems import problem
from yimatong.api.schemas import responses
from yimatong.core import pagination
from yimatong.core.context import Actor, App, rfc3339
from yimatong.domain.policy import Action
from yimatong.errors import NotFound
from yimatong.intake import jobs as import_jobs
from yimatong.intake import report_files, reviews
from yimatong.intake.columns import KINDS
from yimatong.parcels import files as parcel_import
from yimatong.storage.models import ImportRun
from yimatong.uow import run

router = APIRouter(prefix="/api/v1", tags=["数据导入 Imports"])


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["merge", "keep_separate"] = Field(description="merge：并入候选项目；keep_separate：另立新项目")
    reason: str | None = Field(None, max_length=2000)


@router.post("/imports/{kind}", responses=responses(400, 401, 403, 404, 413, 422), summary="导入来源清单",
             description="上传供应计划、储备计划、重点项目、投资平台项目清单（xlsx、xls、CSV：UTF-8 或 GBK），或地块文件"
                         "（kind=parcels）。默认整文件要么全部导入要么不导入：有被拒的行时返回 422，problem 中的 report 给出"
                         "行号、列与原因；partial=true 只导入合格的行；dry_run=true 只校验不写入；strict=true（地块文件）"
                         "时，坐标 TXT 地块行的面积或点数与坐标不符（超过 0.1%）即拒收，否则只在 warnings 中提示。"
                         "同一文件重复导入不产生变化。报告每类最多列出 YMT_REPORT_ROWS 条（counts 总是完整的，"
                         "truncated 说明省略了多少），完整报告请用命令行 `ymt import … --report`。")
async def import_file(kind: str = Path(description="supply_plan、reserve_plan、key_projects、investment_platform、parcels"),
                      file: UploadFile = File(..., description="来源文件"),
                      dry_run: bool = Query(False), partial: bool = Query(False),
                      strict: bool = Query(False, description="地块文件：与自身不符的地块（TXT 面积、点数）拒收"),
                      crs: int | None = Query(None, ge=1, le=99999, description="地块文件的坐标系 EPSG（可选）"),
                      land_use_edition: str | None = Query(
                          None, max_length=20, description="用途列的分类版本：2023（用地用海分类，默认）或 gbt21010"
                          "（GB/T 21010-2017，经对照表换算，非一一对应的行被拒）；不给时按表头（如“土地用途(GB/T 21010)”"
                          "“地类(三调)”），表头与此参数不一致时整个文件被拒"),
                      app: App = Depends(get_app), actor: Actor = Depends(requires(Action.IMPORT))) -> JSONResponse:
    if kind not in (*KINDS, "parcels"):
        raise NotFound(f"导入类型 {kind} 不存在", [("kind", f"可选：{', '.join((*KINDS, 'parcels'))}")])
    data = await file.read()
    name = file.filename or "upload"
    # The import itself (parsing, geometry checks, the write) runs in a worker thread: on the event loop it kept
    # every other request waiting (/healthz took 26 s during a 20 000-row import).
    if kind == "parcels":
        report = await run_in_threadpool(parcel_import.import_parcels, app, actor, data, name, crs=crs,
                                         dry_run=dry_run, partial=partial, strict=strict)
    else:
        run = await run_in_threadpool(import_jobs.import_sheet, app, actor, kind, data, name, dry_run=dry_run,
                                      partial=partial, land_use_edition=land_use_edition)
        report = run.as_dict()
    shown = report_files.cap(report, app.settings.report_rows)
    if report["refused"] and not partial:
        return problem(422, f"有 {report['counts']['refused']} 行被拒，整个文件未导入", [
            (f"rows.{r['row']}.{r['column']}", r["reason"]) for r in report["refused"][:50]], report=shown)
    return JSONResponse(shown)


@router.post("/imports/{kind}/jobs", status_code=202, responses=responses(400, 401, 403, 404, 413, 422),
             summary="创建导入任务",
             description="与 POST /imports/{kind} 相同的文件与参数（dry_run=true 为校验任务），立即返回 202 与任务；"
                         "任务逐批校验暂存、再分批发布入库（发布时才赋码），期间其他写入照常进行。用 GET "
                         "/import-jobs/{id} 查看进度（已读行数/总行数、阶段、预计剩余秒数），POST "
                         "/import-jobs/{id}/cancel 取消（发布开始前），GET /import-jobs/{id}/report 按结果筛选报告。"
                         "同一文件、同一参数的未完成任务存在时，返回该任务并继续运行它（resumed=true）。")
async def create_import_job(
        kind: str = Path(description="supply_plan、reserve_plan、key_projects、investment_platform"),
        file: UploadFile = File(..., description="来源文件"), dry_run: bool = Query(False),
        partial: bool = Query(False), land_use_edition: str | None = Query(None, max_length=20),
        app: App = Depends(get_app), actor: Actor = Depends(requires(Action.IMPORT))) -> JSONResponse:
    if kind not in KINDS:
        raise NotFound(f"导入任务不支持类型 {kind}", [("kind", f"可选：{', '.join(KINDS)}")])
    data = await file.read()
    job_id, resumed = await run_in_threadpool(import_jobs.create, app, actor, kind, data, file.filename or "upload",
                                              dry_run=dry_run, partial=partial, land_use_edition=land_use_edition)
    import_jobs.start(app, job_id)
    body = await run_in_threadpool(_job_view, app, actor, job_id)
    return JSONResponse(body | {"resumed": resumed}, status_code=202,
                        headers={"Location": f"/api/v1/import-jobs/{job_id}"})


def _job_view(app: App, actor: Actor, job_id: int) -> dict[str, Any]:
    with app.db.read() as session:
        return import_jobs.describe(session, import_jobs.get(session, actor, job_id))


@router.get("/import-jobs", responses=responses(401, 403, 422), summary="导入任务列表")
def list_import_jobs(limit: int = Query(50, ge=1, le=1000), cursor: str | None = Query(None),
                     app: App = Depends(get_app), actor: Actor = Depends(requires(Action.IMPORT))) -> dict[str, Any]:
    with app.db.read() as session:
        return import_jobs.page(session, actor, limit, cursor)


@router.get("/import-jobs/{job_id}", responses=responses(401, 403, 404, 422), summary="导入任务与进度")
def get_import_job(job_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
                   actor: Actor = Depends(requires(Action.IMPORT))) -> dict[str, Any]:
    return _job_view(app, actor, job_id)


@router.post("/import-jobs/{job_id}/cancel", responses=responses(401, 403, 404, 409, 422), summary="取消导入任务",
             description="发布入库开始前可取消：暂存的行全部删除，库中没有任何变化，也不占用流水号。已结束或已开始发布"
                         "的任务为 409。")
def cancel_import_job(job_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
                      actor: Actor = Depends(requires(Action.IMPORT_CANCEL))) -> dict[str, Any]:
    with app.db.read() as session:
        import_jobs.get(session, actor, job_id)
    run(app, actor, lambda uow: import_jobs.cancel(uow, job_id), exclusive=False)
    return _job_view(app, actor, job_id)


@router.get("/import-jobs/{job_id}/report", responses=responses(401, 403, 404, 422), summary="导入任务报告",
            description="逐行结果，按行号分页；outcome 按结果筛选：taken（新增）、merged（合并）、review（待复核）、"
                        "refused（拒绝）、unchanged（无变化），也可直接写中文。counts 各项之和等于 rows_read。")
def import_job_report(job_id: int = Path(ge=1, le=2**53), outcome: str | None = Query(None, max_length=20),
                      limit: int = Query(100, ge=1, le=1000), cursor: str | None = Query(None),
                      app: App = Depends(get_app), actor: Actor = Depends(requires(Action.IMPORT))) -> dict[str, Any]:
    chosen = import_jobs.parse_outcome(outcome)
    with app.db.read() as session:
        return import_jobs.report_page(session, import_jobs.get(session, actor, job_id), chosen, limit, cursor)


@router.get("/imports", responses=responses(401, 403, 422), summary="导入记录")
def import_runs(limit: int = Query(50, ge=1, le=1000), cursor: str | None = Query(None),
                app: App = Depends(get_app), _: Actor = Depends(requires(Action.IMPORT))) -> dict[str, Any]:
    after = pagination.decode_id(cursor)
    with app.db.read() as session:
        stmt = select(ImportRun).order_by(ImportRun.id.desc())
        if after is not None:
            stmt = stmt.where(ImportRun.id < after)
        rows = list(session.execute(stmt.limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": [{"id": r.id, "kind": r.kind, "filename": r.filename, "sha256": r.sha256, "actor": r.actor,
                       "counts": r.report.get("counts"), "created_at": rfc3339(r.created_at)} for r in rows],
            "next_cursor": pagination.encode(rows[-1].id) if more else None}


@router.get("/reviews", responses=responses(401, 403, 422), summary="疑似重复复核队列",
            description="导入时与已有项目名称相近但不能确定为同一项目的行，等待人工决定合并或另立。")
def list_reviews(state: str | None = Query(None, description="open、merged 或 kept"),
                 limit: int = Query(50, ge=1, le=1000), cursor: str | None = Query(None),
                 app: App = Depends(get_app), _: Actor = Depends(requires(Action.REVIEW_DECIDE))) -> dict[str, Any]:
    with app.db.read() as session:
        return reviews.page(session, state, limit, cursor)


@router.post("/reviews/{review_id}/resolve", responses=responses(400, 401, 403, 404, 409, 422),
             summary="处理复核项", description="merge：来源并入候选项目；keep_separate：按该行登记新项目并赋码。决定记入台账。")
def resolve_review(body: ResolveIn, review_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
                   actor: Actor = Depends(requires(Action.REVIEW_DECIDE))) -> dict[str, Any]:
    return run(app, actor, lambda uow: reviews.resolve(uow, review_id, body.decision, body.reason))
