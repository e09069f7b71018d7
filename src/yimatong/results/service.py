"""Results (成果): documents and data a stage produced. Input (成果输入接口) and retrieval (成果调取接口).

Files go to the content-addressed store; their SHA-256 is computed here, never taken from the client, and
enters the ledger so that `ymt ledger verify` detects a changed file. Media types are sniffed from the bytes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import filetype
from sqlalchemy.orm import Session

from yimatong.core import pagination
from yimatong.core.context import Actor, App, local_today, rfc3339
from yimatong.core.visibility import View
from yimatong.domain import events as ev
from yimatong.domain import refs, typed
from yimatong.domain.enums import Confidentiality
from yimatong.domain.policy import Action
from yimatong.errors import NotFound, TooLarge, invalid
from yimatong.formats import geometry_check
from yimatong.parcels import store as parcel_service
from yimatong.projects import registry
from yimatong.stages.service import check_date
from yimatong.storage.blobs import Staged, TooLargeError
from yimatong.storage.models import Blob, Project, Result, ResultFile
from yimatong.uow import Idempotency, UnitOfWork, run_idempotent

LEVELS = Confidentiality.values()


@dataclass
class Upload:
    name: str
    stream: BinaryIO


def safe_name(name: str | None) -> str:
    """Keep the original name people recognise (Chinese included), minus paths and control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().strip(".")
    return (base or "未命名文件")[:200]


def sniff(head: bytes, name: str) -> str:
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if not head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the sniff boundary still counts as text
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
    if name.lower().endswith((".json", ".geojson")):
        return "application/json"
    return "text/plain; charset=utf-8"


def check_meta(app: App, meta: Any) -> dict[str, Any]:
    """The shape of a result's `meta`, checked before anything is stored (who may add it is checked by `add`)."""
    if not isinstance(meta, dict):
        raise invalid("meta", "meta 应为 JSON 对象")
    allowed = {"stage", "kind", "doc_no", "issued_at", "issuer", "confidentiality", "data", "parcels"}
    extra = sorted(set(meta) - allowed)
    if extra:
        raise invalid(f"meta.{extra[0]}", f"不允许的字段 {extra[0]}")
    stage = meta.get("stage")
    if not isinstance(stage, str) or app.profile.stage(stage) is None:
        raise invalid("meta.stage", f"阶段 {stage!r} 不在阶段目录中")
    kind = meta.get("kind")
    if not isinstance(kind, str) or not kind.strip() or len(kind) > 64:
        raise invalid("meta.kind", "成果类型 kind 必填，且不超过 64 个字符")
    level = meta.get("confidentiality", "internal")
    if level not in LEVELS:
        raise invalid("meta.confidentiality", "密级应为 public、internal 或 restricted")
    for f, limit in (("doc_no", 100), ("issuer", 200)):
        if meta.get(f) is not None and (not isinstance(meta[f], str) or len(meta[f]) > limit):
            raise invalid(f"meta.{f}", f"{f} 应为不超过 {limit} 个字符的字符串")
    data = meta.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise invalid("meta.data", "data 应为 JSON 对象")
    parcels = meta.get("parcels") or []
    if not isinstance(parcels, list):
        raise invalid("meta.parcels", "parcels 应为 GeoJSON Feature 数组")
    typed_check(app, stage, kind.strip(), data)  # [joint] a typed kind's JSON Schema, 422 naming meta.data.<path>
    data_refs(app, stage, data)  # [standards] 电子监管号, 不动产单元号 … in the data checked before anything is written
    return {"stage": stage, "kind": kind.strip(), "doc_no": meta.get("doc_no"),
            "issued_at": check_date(meta.get("issued_at"), "meta.issued_at"),
            "issuer": meta.get("issuer"), "confidentiality": level, "data": data, "parcels": parcels}


def typed_check(app: App, stage: str, kind: str, data: dict[str, Any]) -> None:
    """[joint] A typed kind belongs to one stage (materials find it there) and its data must fit its schema."""
    spec = app.profile.result_kinds.get(kind)
    if spec is None:
        return
    if spec.stage != stage:
        name = app.profile.stage(spec.stage)
        raise invalid("meta.stage", f"“{kind}”是{name.name if name else spec.stage}（{spec.stage}）阶段的成果，"
                                    f"不能提交到 {stage} 阶段")
    try:
        typed.validate(spec.schema_, data)
    except typed.SchemaProblem as exc:
        raise invalid(exc.field, exc.message) from None


def stage_files(app: App, uploads: list[Upload], seal: bool = False) -> tuple[list[dict[str, Any]], list[Staged]]:
    """Files are hashed into temp files before the transaction and put under their address only by `add`, once
    the request has passed its checks (issue 10.8: a refused request used to leave its files in the store).
    The caller `discard_files` in any case. `seal`: a restricted result's files, encrypted at rest when the
    store has a cipher configured."""
    entries: list[dict[str, Any]] = []
    staged: list[Staged] = []
    try:
        for i, up in enumerate(uploads):
            try:
                one = app.blobs.stage(up.stream, app.settings.max_upload_bytes, seal=seal)
            except TooLargeError as exc:
                raise TooLarge(f"文件 {safe_name(up.name)} 超过上限 {exc.limit} 字节",
                               [(f"files.{i}", "文件过大")]) from None
            staged.append(one)
            name = safe_name(up.name)
            entries.append({"name": name, "sha256": one.sha256, "size": one.size,
                            "media_type": sniff(one.head, name)})
    except BaseException:
        discard_files(app, staged)
        raise
    return entries, staged


def discard_files(app: App, staged: list[Staged]) -> None:
    for one in staged:
        app.blobs.discard(one)


def add(uow: UnitOfWork, code: str, meta: dict[str, Any], files: list[dict[str, Any]],
        geoms: list[Any] | None = None, staged: list[Staged] | None = None) -> Result:
    """Record a result with its stored files and, if `meta.parcels` was given, its parcels (`geoms`: the
    features already validated outside the transaction by `parcels.store.parse_features`; `staged`: the
    files of `stage_files`, put under their address here, once the project, policy and state checks have
    passed; a transaction that fails after that leaves an unreferenced file for `ops.gc`). Derived rows — the
    parcels, their events, the references copied from `data` — take the result's confidentiality."""
    project = uow.project(code, Action.RESULT_ADD, stage=meta["stage"])
    if geoms is None:
        geoms = parcel_service.parse_features(meta["parcels"], "meta.parcels")
    for one in staged or []:
        uow.app.blobs.commit(one)
    session = uow.session
    result = Result(project_id=project.id, stage=meta["stage"], kind=meta["kind"], doc_no=meta["doc_no"],
                    issued_at=meta["issued_at"], issuer=meta["issuer"], confidentiality=meta["confidentiality"],
                    data=meta["data"], created_by=uow.actor.name, created_role=uow.actor.role, created_at=uow.now)
    session.add(result)
    session.flush()
    for f in files:
        if session.get(Blob, f["sha256"]) is None:
            session.add(Blob(sha256=f["sha256"], size=f["size"], media_type=f["media_type"], created_at=uow.now))
            session.flush()
        session.add(ResultFile(result_id=result.id, **f))
    _keep_refs(session, project, result, data_refs(uow.app, meta["stage"], meta["data"]))
    session.flush()
    uow.emit(ev.ResultAdded(result_id=result.id, stage=result.stage, kind=result.kind, doc_no=result.doc_no,
                            confidentiality=result.confidentiality,
                            files=[ev.FileEntry(name=f["name"], sha256=f["sha256"], size=f["size"]) for f in files]),
             code, confidentiality=result.confidentiality, owner_role=uow.actor.role)
    for geom, feat in zip(geoms, meta["parcels"], strict=True):
        parcel_service.attach(uow, project, geom, feat.get("properties") or {}, result=result)
    return result


def data_refs(app: App, stage: str, data: dict[str, Any]) -> list[dict[str, str]]:
    """[standards] The cross-references in a result's data (domain/refs.RESULT_DATA_KEYS), checked to their
    standards: a malformed one is 422 naming `meta.data.<key>` and the rule."""
    spec = app.profile.stage(stage)
    try:
        return refs.result_refs(data, bool(spec and spec.group == "批"), local_today(app.profile),
                                refs.city_of(app.profile))
    except refs.FieldError as exc:
        raise invalid(exc.field, exc.message) from None


def _keep_refs(session: Session, project: Project, result: Result, found: list[dict[str, str]]) -> None:
    """电子监管号, 不动产单元号 (and its 宗地代码) and certificate numbers in a result's data become searchable
    cross-references, as visible as the result they came from (a restricted permit's number is not shown to a
    viewer)."""
    for ref in found:
        registry.add_ref(session, project, ref["kind"], ref["value"], result.id)


def files_of(session: Session, view: View, ids: list[int]) -> dict[int, list[ResultFile]]:
    out: dict[int, list[ResultFile]] = {}
    if ids:
        for f in session.execute(view.result_files(ids)).scalars():
            out.setdefault(f.result_id, []).append(f)
    return out


def result_dict(r: Result, code: str, files: list[ResultFile]) -> dict[str, Any]:
    return {"id": r.id, "code": code, "stage": r.stage, "kind": r.kind, "doc_no": r.doc_no,
            "issued_at": r.issued_at, "issuer": r.issuer, "confidentiality": r.confidentiality, "data": r.data,
            "files": [{"id": f.id, "name": f.name, "size": f.size, "sha256": f.sha256,
                       "media_type": f.media_type} for f in files],
            "created_by": r.created_by, "created_at": rfc3339(r.created_at)}


def visible_results(session: Session, view: View, project_ids: list[int], stage: str | None = None,
                    kind: str | None = None) -> list[Result]:
    """The results of some projects the viewer may see, in time order."""
    if not project_ids:
        return []
    stmt = view.result_query(project_ids, stage, kind)
    return list(session.execute(stmt.order_by(Result.created_at, Result.id)).scalars())


def as_dicts(session: Session, view: View, results: list[Result], codes: dict[int, str]) -> list[dict[str, Any]]:
    files = files_of(session, view, [r.id for r in results])
    return [result_dict(r, codes[r.project_id], files.get(r.id, [])) for r in results]


def list_for_project(session: Session, view: View, code: str, stage: str | None, kind: str | None,
                     limit: int, cursor: str | None) -> dict[str, Any]:
    pagination.check_limit(limit)
    project = registry.get(session, code, view)
    after = pagination.decode_id(cursor)
    stmt = view.result_query([project.id], stage, kind)
    if after is not None:
        stmt = stmt.where(Result.id > after)
    rows = list(session.execute(stmt.order_by(Result.id).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": as_dicts(session, view, rows, {project.id: project.code}),
            "next_cursor": pagination.encode(rows[-1].id) if more else None}


def get_visible(session: Session, view: View, result_id: int) -> tuple[Result, str]:
    row = session.execute(view.result_by_id(result_id)).first()
    if row is None:
        raise NotFound(f"成果 {result_id} 不存在", [("id", "成果不存在")])
    return row[0], row[1]


def get_file(session: Session, view: View, result_id: int, file_id: int) -> ResultFile:
    get_visible(session, view, result_id)
    f = session.execute(view.result_files([result_id]).where(ResultFile.id == file_id)).scalars().first()
    if f is None:
        raise NotFound(f"文件 {file_id} 不存在", [("file_id", "文件不存在")])
    return f


def submit(app: App, actor: Actor, code: str, raw: Any, uploads: list[Upload], idempotency_key: str | None,
           then: Callable[[UnitOfWork, str], None] | None = None) -> tuple[int, dict[str, Any]]:
    """A result as a client submits it — the API's multipart POST and the web's 上传成果 alike: the metadata checked
    and the stage writer refused before any file is read into the store, `meta.parcels` validated outside the
    transaction, files staged, then one idempotent unit of work records the result (`then`, e.g. registration
    readiness, runs in it); whatever the answer, no staged file stays behind (issue 10.8). Returns the status and
    the result as the API shows it (the first answer again for a repeated Idempotency-Key)."""
    checked = check_meta(app, raw)
    app.profile.policy.check(actor, Action.RESULT_ADD, stage=checked["stage"])  # before any file is stored
    geoms = parcel_service.parse_features(checked["parcels"], "meta.parcels",
                                          budget=geometry_check.budget_of(app.settings))
    stored, staged = stage_files(app, uploads, seal=checked["confidentiality"] == "restricted")

    def work(uow: UnitOfWork) -> tuple[int, dict[str, Any]]:
        result = add(uow, code, checked, stored, geoms, staged)
        if then is not None:
            then(uow, code)
        return 201, as_dicts(uow.session, uow.view, [result], {result.project_id: code})[0]

    idem = Idempotency(idempotency_key, f"results.add:{code}", {"meta": raw, "files": stored})
    try:
        return run_idempotent(app, actor, idem, work)
    finally:
        discard_files(app, staged)
