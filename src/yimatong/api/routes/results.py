"""Results: input (成果输入接口) and retrieval (成果调取接口), packages (码上直办, 一码归档)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from yimatong.api.deps import get_app, requires
from yimatong.api.input_guard import loads_strict
from yimatong.api.problems import problem
from yimatong.api.routes import audit as audit_routes
from yimatong.api.schemas import ResultOut, ResultPage, responses
from yimatong.core.context import Actor, App
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.errors import invalid
from yimatong.joint import readiness
from yimatong.results import packages
from yimatong.results import service as results
from yimatong.storage.blobs import SealError

router = APIRouter(prefix="/api/v1", tags=["成果 Results"])


@router.post("/projects/{code}/results", status_code=201, response_model=ResultOut,
             responses=responses(400, 401, 403, 404, 409, 413, 422), summary="成果输入（成果输入接口）",
             description="以 multipart 提交一个阶段成果：`meta`（JSON：stage、kind、doc_no、issued_at、issuer、"
                         "confidentiality、data、parcels）与任意个 `files`。文件按 SHA-256 内容寻址存储（服务端计算），"
                         "媒体类型由内容识别；文件哈希记入台账。支持 Idempotency-Key。")
def add_result(code: str, meta: str = Form(..., description="成果元数据 JSON"),
               files: list[UploadFile] = File([], description="成果文件，任意个"),
               app: App = Depends(get_app), actor: Actor = Depends(requires(Action.RESULT_ADD)),
               idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    raw = loads_strict(meta, "meta")
    uploads = [results.Upload(f.filename or "", f.file) for f in files]
    # [joint] registration.ready when this result completes the facts
    status, body = results.submit(app, actor, code, raw, uploads, idempotency_key, then=readiness.after_result)
    return JSONResponse(body, status_code=status)


@router.get("/projects/{code}/results", response_model=ResultPage, responses=responses(401, 404, 422),
            summary="成果列表（成果调取接口）",
            description="某项目调用方有权看到的成果元数据，可按阶段与类型筛选；受限（restricted）成果只对 admin、"
                        "registrar 与提交它的角色可见。")
def list_results(code: str, stage: str | None = Query(None, description="阶段 key"),
                 kind: str | None = Query(None, description="成果类型"), limit: int = Query(50, ge=1, le=1000, description="每页条数，1–1000"),
                 cursor: str | None = Query(None), app: App = Depends(get_app),
                 actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return results.list_for_project(session, View.of(app, actor), code, stage, kind, limit, cursor)


@router.get("/results/{result_id}", response_model=ResultOut, responses=responses(401, 404, 422),
            summary="成果详情", description="一个成果的元数据与文件清单（含 SHA-256）。")
def get_result(result_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
               actor: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    view = View.of(app, actor)
    with app.db.read() as session:
        result, code = results.get_visible(session, view, result_id)
        return results.as_dicts(session, view, [result], {result.project_id: code})[0]


def content_disposition(name: str) -> str:
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


@router.get("/results/{result_id}/files/{file_id}", responses=responses(401, 404, 422) | {
    200: {"description": "文件字节", "content": {"application/octet-stream": {}}},
    304: {"description": "If-None-Match 与 ETag 相同"}}, summary="下载成果文件",
    description="返回文件字节；ETag 为文件 SHA-256，Content-Disposition 给出原文件名。")
def download(request: Request, result_id: int = Path(ge=1, le=2**53), file_id: int = Path(ge=1, le=2**53), app: App = Depends(get_app),
             actor: Actor = Depends(requires(Action.READ))) -> Response:
    with app.db.read() as session:
        view = View.of(app, actor)
        f = results.get_file(session, view, result_id, file_id)
        level = results.get_visible(session, view, result_id)[0].confidentiality
    etag = f'"{f.sha256}"'
    if request.headers.get("if-none-match") in (etag, f.sha256):
        return Response(status_code=304, headers={"ETag": etag})
    if not app.blobs.exists(f.sha256):
        raise invalid("file_id", "文件内容缺失：请联系管理员运行 ymt ledger verify")
    try:
        app.blobs.check_readable(f.sha256)  # a sealed file without its key: say so before sending anything
    except SealError as exc:
        return problem(503, str(exc), [("file_id", "加密文件的密钥未配置")])
    if level in ("internal", "restricted"):  # read audit (15.4): who fetched which non-public file
        audit_routes.record(app, request, actor, "file.download", f"results/{result_id}/files/{file_id}")
    headers = {"ETag": etag, "Content-Disposition": content_disposition(f.name), "Content-Length": str(f.size),
               "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(app.blobs.iter_bytes(f.sha256), media_type=f.media_type, headers=headers)


@router.get("/projects/{code}/package", responses=responses(401, 403, 404, 422) | {
    200: {"description": "ZIP：manifest.json 与文件", "content": {"application/zip": {}}}},
    summary="成果包（码上直办 / 一码归档）",
    description="purpose=registration：不动产登记所需成果（零材料受理）；purpose=archive：全部成果（一码归档）。"
                "ZIP 含 manifest.json（项目、阶段、成果、逐文件 SHA-256），只含调用方有权看到的内容，流式输出。")
def package(request: Request, code: str, purpose: str = Query(..., description="registration 或 archive"),
            app: App = Depends(get_app), actor: Actor = Depends(requires(Action.PACKAGE_READ))) -> StreamingResponse:
    extra = readiness.package_documents(app) if purpose == "registration" else None  # [joint] registration.json
    name, stream = packages.build(app, actor, code, purpose, extra)
    audit_routes.record(app, request, actor, "package.download", f"projects/{code}/package?purpose={purpose}")
    return StreamingResponse(stream, media_type="application/zip",
                             headers={"Content-Disposition": content_disposition(name)})
