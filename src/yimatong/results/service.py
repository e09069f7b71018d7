"""Results (成果): documents and data a stage produced. Input (成果输入接口) and retrieval (成果调取接口).

Files go to the content-addressed store; their SHA-256 is computed here, never taken from the client, and
enters the ledger so that `ymt ledger verify` detects a changed file. Media types are sniffed from the bytes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, BinaryIO

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core import pagination, visibility
from yimatong.core.context import Actor, App, local_today, now, rfc3339
from yimatong.domain import refs
from yimatong.errors import NotFound, TooLarge, invalid
from yimatong.ledger import log as ledger
from yimatong.projects import registry
from yimatong.stages import service as stages
from yimatong.storage.blobs import TooLargeError
from yimatong.storage.models import Blob, Project, Result, ResultFile

LEVELS = ("public", "internal", "restricted")


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


def check_meta(app: App, actor: Actor, meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise invalid("meta", "meta 应为 JSON 对象")
    allowed = {"stage", "kind", "doc_no", "issued_at", "issuer", "confidentiality", "data", "parcels"}
    extra = sorted(set(meta) - allowed)
    if extra:
        raise invalid(f"meta.{extra[0]}", f"不允许的字段 {extra[0]}")
    stage = meta.get("stage")
    if not isinstance(stage, str) or app.profile.stage(stage) is None:
        raise invalid("meta.stage", f"阶段 {stage!r} 不在阶段目录中")
    stages.require_stage_writer(app, actor, stage)
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
    data_refs(app, stage, data)  # [standards] 电子监管号, 不动产单元号 … in the data checked before anything is written
    return {"stage": stage, "kind": kind.strip(), "doc_no": meta.get("doc_no"),
            "issued_at": stages.check_date(meta.get("issued_at"), "meta.issued_at"),
            "issuer": meta.get("issuer"), "confidentiality": level, "data": data, "parcels": parcels}


def store_files(app: App, uploads: list[Upload]) -> list[dict[str, Any]]:
    """Files are written to the store before the transaction (content-addressed, so an aborted request only
    leaves an unreferenced blob, never a wrong one)."""
    stored = []
    for i, up in enumerate(uploads):
        try:
            sha, size, head = app.blobs.put(up.stream, app.settings.max_upload_bytes)
        except TooLargeError as exc:
            raise TooLarge(f"文件 {safe_name(up.name)} 超过上限 {exc.limit} 字节",
                           [(f"files.{i}", "文件过大")]) from None
        name = safe_name(up.name)
        stored.append({"name": name, "sha256": sha, "size": size, "media_type": sniff(head, name)})
    return stored


def add(session: Session, app: App, actor: Actor, code: str, meta: dict[str, Any],
        files: list[dict[str, Any]]) -> Result:
    from yimatong.parcels import store as parcel_service

    project = registry.get(session, code, lock=True)
    stages.require_active(project)
    geoms = parcel_service.parse_features(meta["parcels"], "meta.parcels")
    result = Result(project_id=project.id, stage=meta["stage"], kind=meta["kind"], doc_no=meta["doc_no"],
                    issued_at=meta["issued_at"], issuer=meta["issuer"], confidentiality=meta["confidentiality"],
                    data=meta["data"], created_by=actor.name, created_role=actor.role, created_at=now())
    session.add(result)
    session.flush()
    for f in files:
        if session.get(Blob, f["sha256"]) is None:
            session.add(Blob(sha256=f["sha256"], size=f["size"], media_type=f["media_type"], created_at=now()))
            session.flush()
        session.add(ResultFile(result_id=result.id, **f))
    _keep_refs(session, project, data_refs(app, meta["stage"], meta["data"]))
    project.updated_at, project.updated_by = now(), actor.name
    session.flush()
    ledger.append(session, "result.added", code, actor,
                  {"result_id": result.id, "stage": result.stage, "kind": result.kind, "doc_no": result.doc_no,
                   "confidentiality": result.confidentiality,
                   "files": [{"name": f["name"], "sha256": f["sha256"], "size": f["size"]} for f in files]},
                  confidentiality=result.confidentiality, owner_role=actor.role)
    for geom, feat in zip(geoms, meta["parcels"], strict=True):
        parcel_service.attach(session, project, geom, actor, feat.get("properties") or {}, result_id=result.id)
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


def _keep_refs(session: Session, project: Project, found: list[dict[str, str]]) -> None:
    """电子监管号, 不动产单元号 (and its 宗地代码) and certificate numbers in a result's data become searchable
    cross-references."""
    for ref in found:
        registry.add_ref(session, project, ref["kind"], ref["value"])


def files_of(session: Session, ids: list[int]) -> dict[int, list[ResultFile]]:
    out: dict[int, list[ResultFile]] = {}
    if ids:
        stmt = select(ResultFile).where(ResultFile.result_id.in_(ids)).order_by(ResultFile.id)
        for f in session.execute(stmt).scalars():
            out.setdefault(f.result_id, []).append(f)
    return out


def result_dict(r: Result, code: str, files: list[ResultFile]) -> dict[str, Any]:
    return {"id": r.id, "code": code, "stage": r.stage, "kind": r.kind, "doc_no": r.doc_no,
            "issued_at": r.issued_at, "issuer": r.issuer, "confidentiality": r.confidentiality, "data": r.data,
            "files": [{"id": f.id, "name": f.name, "size": f.size, "sha256": f.sha256,
                       "media_type": f.media_type} for f in files],
            "created_by": r.created_by, "created_at": rfc3339(r.created_at)}


def visible_results(session: Session, actor: Actor | None, project_ids: list[int], stage: str | None = None,
                    kind: str | None = None) -> list[Result]:
    """Every read of results goes through here (or visibility.result_visible directly)."""
    if not project_ids:
        return []
    stmt = select(Result).where(Result.project_id.in_(project_ids), visibility.result_visible(actor))
    if stage:
        stmt = stmt.where(Result.stage == stage)
    if kind:
        stmt = stmt.where(Result.kind == kind)
    return list(session.execute(stmt.order_by(Result.created_at, Result.id)).scalars())


def as_dicts(session: Session, results: list[Result], codes: dict[int, str]) -> list[dict[str, Any]]:
    files = files_of(session, [r.id for r in results])
    return [result_dict(r, codes[r.project_id], files.get(r.id, [])) for r in results]


def list_for_project(session: Session, actor: Actor, code: str, stage: str | None, kind: str | None,
                     limit: int, cursor: str | None) -> dict[str, Any]:
    pagination.check_limit(limit)
    project = registry.get(session, code)
    after = pagination.decode_id(cursor)
    stmt = select(Result).where(Result.project_id == project.id, visibility.result_visible(actor))
    if stage:
        stmt = stmt.where(Result.stage == stage)
    if kind:
        stmt = stmt.where(Result.kind == kind)
    if after is not None:
        stmt = stmt.where(Result.id > after)
    rows = list(session.execute(stmt.order_by(Result.id).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": as_dicts(session, rows, {project.id: project.code}),
            "next_cursor": pagination.encode(rows[-1].id) if more else None}


def get_visible(session: Session, actor: Actor | None, result_id: int) -> tuple[Result, str]:
    stmt = select(Result, Project.code).join(Project, Project.id == Result.project_id).where(
        Result.id == result_id, visibility.result_visible(actor))
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound(f"成果 {result_id} 不存在", [("id", "成果不存在")])
    return row[0], row[1]


def get_file(session: Session, actor: Actor | None, result_id: int, file_id: int) -> ResultFile:
    get_visible(session, actor, result_id)
    f = session.get(ResultFile, file_id)
    if f is None or f.result_id != result_id:
        raise NotFound(f"文件 {file_id} 不存在", [("file_id", "文件不存在")])
    return f
