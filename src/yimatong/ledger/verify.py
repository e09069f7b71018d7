"""`ymt ledger verify` / `GET /api/v1/ledger/verify`: everything the ledger can vouch for, recomputed.

1. The chain: seq gap-free from 1, each `prev_hash` the hash before, each `hash` recomputed with the ledger's
   recorded algorithm (format-2 events hash their confidentiality and owner role too; format-1 events must carry
   the confidentiality their data implies).
2. The counter `counters.ledger` equals the last seq (deleting the newest events is found).
   And no committed event has waited for the sequencer longer than `ledger_pending_alert_seconds`.
3. The Merkle tree: every stored node recomputes from the events' hashes.
4. The current state the ledger implies, replayed per project and compared (`COVERAGE` lists the columns).
5. Every file the ledger recorded: its blob row (size) and its bytes hash to its address.
6. The read audit's own chain and counter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shapely import wkb
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yimatong.core.context import App, aware, now, rfc3339
from yimatong.domain import merkle as tree
from yimatong.domain.ledger import GENESIS, event_hash
from yimatong.ledger import audit, merkle, sequencer
from yimatong.storage import ledger_meta
from yimatong.storage.models import (
    Blob,
    BlobCheck,
    Counter,
    Event,
    MerkleNode,
    Parcel,
    Project,
    ProjectParcel,
    Result,
    ResultFile,
    Stage,
    VerifyRun,
)

PROJECT_FIELDS = ("name", "status", "merged_into", "void_reason", "division", "year", "approval_type",
                  "project_type", "supply_type", "land_use", "builder", "investment_code", "area_m2", "parent_code")
COVERAGE = (
    "校验范围：events 全部列（序号自 1 连续、prev_hash、按库中记录的算法重算 hash；第 2 版事件的哈希含密级与所属角色，"
    "第 1 版事件的密级须与其数据一致）；counters 的 ledger 与 audit 计数（须等于末条序号）；merkle_nodes 全部节点；"
    "projects 的 " + "、".join(PROJECT_FIELDS) + "（按台账事件重放得到的应有状态逐项比对）；"
    "stages 每个阶段的 status 及行的有无；results 的所属项目、stage、kind、doc_no、confidentiality；"
    "result_files 的 name、sha256、size（逐成果完全一致）；blobs 的有无与 size，及文件内容哈希与地址一致；"
    "project_parcels 项目所挂地块的集合；parcels 的 area_m2 与几何外包框；audit_records 审计哈希链。"
    "不在范围：project_sources、project_refs、stages 的 case_no/department/日期/备注、stage_records、"
    "results 的 data/issued_at/issuer、地块几何的形状与属性、projects 的 current_stage/code_outdated/时间戳与操作人、"
    "reviews、import_runs、令牌、用户、订阅与投递。"
)
STALE_CLAIM = timedelta(hours=1)
_SLOT = 1


@dataclass
class Problem:
    check: str
    seq: int | None
    detail: str


@dataclass
class VerifyReport:
    ok: bool
    length: int
    head: str | None
    first_bad_seq: int | None
    reason: str | None = None
    problems: list[Problem] = field(default_factory=list)
    hash_alg: str = "sha256"
    root_hash: str | None = None
    files_checked: int = 0
    files_rehashed: int = 0
    audit_length: int = 0
    bad_files: list[str] = field(default_factory=list)
    blob_checks: list[tuple[str, str]] = field(default_factory=list)  # (address, fingerprint) that hashed right

    def add(self, check: str, seq: int | None, detail: str) -> None:
        self.problems.append(Problem(check, seq, detail))
        self.ok = False
        seqs = [p.seq for p in self.problems if p.seq is not None]
        self.first_bad_seq = min(seqs) if seqs else None
        if self.reason is None:
            self.reason = detail

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "length": self.length, "head": self.head, "first_bad_seq": self.first_bad_seq,
                "reason": self.reason, "hash_alg": self.hash_alg, "tree_size": self.length,
                "root_hash": self.root_hash, "files_checked": self.files_checked,
                "files_rehashed": self.files_rehashed, "audit_length": self.audit_length,
                "problems": [{"check": p.check, "seq": p.seq, "detail": p.detail} for p in self.problems[:100]],
                "bad_files": self.bad_files}


def verify(session: Session, blobs: Any = None, remembered: dict[str, str] | None = None,
           batch: int = 5000, pending_after: float | None = None) -> VerifyReport:
    """Every check above. `remembered` (address → fingerprint of its last good check) lets unchanged files skip
    re-hashing; None re-hashes every file. `pending_after`: events committed and still waiting for the
    sequencer longer than this many seconds are reported (the sequencer is not running)."""
    alg = ledger_meta.hash_alg(session)
    report = VerifyReport(True, 0, None, None, hash_alg=alg)
    chain_ok = _chain(session, alg, report, batch)
    _counter(session, report)
    if pending_after is not None:
        _pending(session, report, pending_after)
    if chain_ok:
        _tree(session, report)
    files = _state(session, report)
    if blobs is not None:
        _files(session, blobs, files, remembered, report)
    audit_length, bad_seq, reason = audit.verify(session)
    report.audit_length = audit_length
    if reason:
        report.add("audit", None, f"{reason}（审计记录第 {bad_seq} 条）")
    return report


# --- 1. the chain -------------------------------------------------------------------------------------------------


def _chain(session: Session, alg: str, report: VerifyReport, batch: int) -> bool:
    """The chain, and the tree alongside: the leaves go through the same append as the service's, and every
    node that becomes complete is compared with the stored one."""
    prev, expected, last = GENESIS, 1, 0
    format_2 = ledger_meta.format_2_from(session)
    known: dict[tuple[int, int], bytes] = {}
    result_of: dict[str, Any] = {}  # the last result.added: its parcels follow it in the same transaction
    while True:
        rows = session.execute(select(Event).where(Event.seq > last).order_by(Event.seq).limit(batch)).scalars().all()
        if not rows:
            return True
        good = []
        for ev in rows:
            bad = _check_event(ev, expected, prev, alg, ev.seq >= format_2, result_of)
            if bad:
                report.add("chain", ev.seq if ev.seq == expected else expected, bad)
                break
            good.append(ev.hash)
            prev, expected, last = ev.hash, expected + 1, ev.seq
        size = report.length
        new = tree.append(alg, known, size, [tree.leaf_bytes(h) for h in good])
        report.length, report.head = size + len(good), (good[-1] if good else report.head)
        keep = set(tree.frontier(report.length))
        known = {k: v for k, v in known.items() if k in keep}
        if len(good) < len(rows):
            return False
        wrong = _compare_nodes(session, [(lv, i, h) for lv, i, h in new if lv >= merkle.STORED_FROM])
        if wrong is not None:
            level, idx = wrong
            first = (idx << level) + 1
            report.add("merkle", first, f"Merkle 树第 {level} 层节点 {idx}（覆盖第 {first}–{(idx + 1) << level} 条事件）"
                                        "缺失或与事件不符（树被改动）")
            return False
        session.expunge_all()


def _compare_nodes(session: Session, nodes: list[tuple[int, int, bytes]]) -> tuple[int, int] | None:
    by_level: dict[int, dict[int, bytes]] = {}
    for lv, idx, h in nodes:
        by_level.setdefault(lv, {})[idx] = h
    for lv, want in sorted(by_level.items()):
        stmt = select(MerkleNode.idx, MerkleNode.hash).where(MerkleNode.level == lv, MerkleNode.idx >= min(want),
                                                             MerkleNode.idx <= max(want))
        have = {idx: bytes.fromhex(h) for idx, h in session.execute(stmt)}
        for idx in sorted(want):
            if have.get(idx) != want[idx]:
                return lv, idx
    return None


def _check_event(ev: Event, expected: int, prev: str, alg: str, format_2: bool, result_of: dict[str, Any]
                 ) -> str | None:
    if ev.seq != expected:
        return f"事件序号不连续：缺少第 {expected} 条"
    if ev.prev_hash != prev:
        return f"第 {ev.seq} 条事件的 prev_hash 与前一条不符"
    try:
        data = json.loads(ev.data)
    except ValueError:
        return f"第 {ev.seq} 条事件的数据不是合法 JSON"
    seen_by = (ev.confidentiality, ev.owner_role) if format_2 else None
    if event_hash(ev.seq, ev.type, ev.code, ev.actor, ev.at, data, ev.prev_hash, alg, seen_by) != ev.hash:
        what = "内容或密级" if format_2 else "内容"
        return f"第 {ev.seq} 条事件的{what}与其哈希不符（已被改动）"
    implied = data.get("confidentiality", "internal") if ev.type == "result.added" else None
    if ev.type == "result.added":
        result_of.update(code=ev.code, at=ev.at, actor=ev.actor, confidentiality=implied)
    elif ev.type == "parcel.attached" and (result_of.get("code"), result_of.get("at"), result_of.get("actor")) == \
            (ev.code, ev.at, ev.actor):
        # the parcels of a result were attached right after it, in its transaction: they take its confidentiality
        # (format-1 events logged them as internal; migration 0009 corrected that from the parcels' links)
        implied = result_of["confidentiality"]
    if not format_2 and ev.confidentiality != (implied or "internal"):
        return f"第 {ev.seq} 条事件的密级 {ev.confidentiality} 与台账记录的 {implied or 'internal'} 不符（已被改动）"
    if ev.type == "result.added" and ev.confidentiality != implied:
        return f"第 {ev.seq} 条事件的密级 {ev.confidentiality} 与其成果的密级 {implied} 不符（已被改动）"
    return None


# --- 2. the counter -----------------------------------------------------------------------------------------------


def _counter(session: Session, report: VerifyReport) -> None:
    counter = session.get(Counter, "ledger")
    value = counter.value if counter is not None else 0
    last = session.execute(select(Event.seq).order_by(Event.seq.desc()).limit(1)).scalar() or 0
    if value > last:
        report.add("counter", last + 1, f"台账末尾缺少第 {last + 1}–{value} 条事件（计数器为 {value}，末条为 {last}）：最新的事件被删除")
    elif value < last:
        report.add("counter", value + 1, f"台账计数器 {value} 小于末条事件序号 {last}（计数器被改动）")


def _pending(session: Session, report: VerifyReport, older_than: float) -> None:
    count, age = sequencer.pending(session, older_than)
    if count:
        report.add("pending", None, f"有 {count} 条已提交的事件排队超过 {older_than:g} 秒仍未记入台账（最久 {age} 秒）："
                                    "台账排序进程没有运行；请运行 ymt ledger sequence，或启动 ymt serve / ymt worker")


# --- 3. the Merkle tree -------------------------------------------------------------------------------------------


def _tree(session: Session, report: VerifyReport) -> None:
    """Every stored node was compared during the chain pass; here: no node beyond the tree of `length` leaves
    (a forged longer history), and the root."""
    n = report.length
    want = {lv: n >> lv for lv in range(merkle.STORED_FROM, n.bit_length()) if n >> lv}
    have = dict(session.execute(select(MerkleNode.level, func.count()).group_by(MerkleNode.level)).all())
    if have != want:
        report.add("merkle", None, f"Merkle 树的节点数与台账规模 {n} 不符（每层应有 {want}，实有 {have}）：树被改动")
        return
    report.root_hash = merkle.root(session, n)


# --- 4. the state the ledger implies ------------------------------------------------------------------------------


@dataclass
class _Implied:
    """One project as its events say it must be; `seqs` remembers which event set each value."""
    fields: dict[str, Any] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    stages: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)
    results: dict[int, tuple[dict[str, Any], int]] = field(default_factory=dict)
    parcels: dict[int, tuple[dict[str, Any], int]] = field(default_factory=dict)
    registered: int | None = None


def _replay(events: list[Event], merges_in: list[tuple[int, str]], losers: dict[str, str | None]) -> _Implied:
    s = _Implied()
    pending = sorted(merges_in)
    for ev in events:
        while pending and pending[0][0] < ev.seq:
            _absorb(s, *pending.pop(0), losers)
        data = json.loads(ev.data)
        _apply(s, ev.type, ev.seq, data)
    for m in pending:
        _absorb(s, *m, losers)
    return s


def _set(s: _Implied, key: str, value: Any, seq: int) -> None:
    s.fields[key], s.seqs[key] = value, seq


def _apply(s: _Implied, type_: str, seq: int, data: dict[str, Any]) -> None:
    if type_ == "project.registered":
        p = data.get("project") or {}
        s.registered = seq
        for key in PROJECT_FIELDS:
            _set(s, key, p.get(key), seq)
        _set(s, "void_reason", None, seq)
        if p.get("current_stage"):
            s.stages[p["current_stage"]] = ("done", seq)  # registering completes the first stage (入库)
    elif type_ == "project.updated":
        for key, change in (data.get("changes") or {}).items():
            if key in PROJECT_FIELDS and isinstance(change, dict):
                _set(s, key, change.get("to"), seq)
    elif type_ == "project.voided":
        _set(s, "status", "void", seq)
        _set(s, "void_reason", data.get("reason"), seq)
    elif type_ == "project.merged":
        _set(s, "status", "merged", seq)
        _set(s, "merged_into", data.get("into"), seq)
    elif type_ == "stage.changed" and data.get("stage"):
        s.stages[data["stage"]] = (data.get("status"), seq)
    elif type_ == "result.added" and isinstance(data.get("result_id"), int):
        s.results[data["result_id"]] = (data, seq)
    elif type_ == "parcel.attached" and isinstance(data.get("parcel_id"), int):
        s.parcels[data["parcel_id"]] = (data, seq)


def _absorb(s: _Implied, seq: int, loser: str, losers: dict[str, str | None]) -> None:
    """A merge into this project carries the loser's investment code over when this one had none."""
    inv = losers.get(loser)
    if inv and not s.fields.get("investment_code"):
        _set(s, "investment_code", inv, seq)


def _state(session: Session, report: VerifyReport, batch: int = 500) -> list[tuple[str, int, int]]:
    """Compare every project (and its stages, results, files, parcels) with its replayed events. Returns the
    files the ledger recorded: (address, size, seq of the result.added event)."""
    merges: dict[str, list[tuple[int, str]]] = {}
    for seq, code, data in session.execute(select(Event.seq, Event.code, Event.data)
                                           .where(Event.type == "project.merged")):
        into = json.loads(data).get("into")
        if into and code:
            merges.setdefault(into, []).append((seq, code))
    loser_codes = sorted({c for ms in merges.values() for _, c in ms})
    losers = dict(session.execute(select(Project.code, Project.investment_code)
                                  .where(Project.code.in_(loser_codes))).all()) if loser_codes else {}
    files: list[tuple[str, int, int]] = []
    after = ""
    while True:
        projects = list(session.execute(select(Project).where(Project.code > after).order_by(Project.code)
                                        .limit(batch)).scalars())
        if not projects:
            break
        _compare_batch(session, projects, merges, losers, report, files)
        after = projects[-1].code
        session.expunge_all()
    orphans = session.execute(select(Event.seq, Event.code).where(
        Event.type == "project.registered", Event.code.not_in(select(Project.code))).order_by(Event.seq).limit(5))
    for seq, code in orphans:
        report.add("state", seq, f"项目 {code} 已在台账登记（第 {seq} 条），但 projects 表中没有它（被删除）")
    return files


def _compare_batch(session: Session, projects: list[Project], merges: dict[str, list[tuple[int, str]]],
                   losers: dict[str, str | None], report: VerifyReport, files: list[tuple[str, int, int]]) -> None:
    codes = [p.code for p in projects]
    ids = [p.id for p in projects]
    by_code: dict[str, list[Event]] = {}
    for ev in session.execute(select(Event).where(Event.code.in_(codes)).order_by(Event.code, Event.seq)).scalars():
        by_code.setdefault(ev.code or "", []).append(ev)
    stage_rows: dict[int, dict[str, str]] = {}
    for pid, key, status in session.execute(select(Stage.project_id, Stage.key, Stage.status)
                                            .where(Stage.project_id.in_(ids))):
        stage_rows.setdefault(pid, {})[key] = status
    result_rows: dict[int, list[Result]] = {}
    for r in session.execute(select(Result).where(Result.project_id.in_(ids))).scalars():
        result_rows.setdefault(r.project_id, []).append(r)
    rids = [r.id for rs in result_rows.values() for r in rs]
    file_rows: dict[int, list[tuple[str, str, int]]] = {}
    if rids:
        for rid, name, sha, size in session.execute(select(ResultFile.result_id, ResultFile.name, ResultFile.sha256,
                                                           ResultFile.size).where(ResultFile.result_id.in_(rids))):
            file_rows.setdefault(rid, []).append((name, sha, size))
    parcel_rows: dict[int, dict[int, Parcel | None]] = {}
    for pid, parcel_id, parcel in session.execute(select(ProjectParcel.project_id, ProjectParcel.parcel_id, Parcel)
                                                  .outerjoin(Parcel, Parcel.id == ProjectParcel.parcel_id)
                                                  .where(ProjectParcel.project_id.in_(ids))):
        parcel_rows.setdefault(pid, {})[parcel_id] = parcel
    for p in projects:
        implied = _replay(by_code.get(p.code, []), merges.get(p.code, []), losers)
        _compare_project(p, implied, report)
        _compare_stages(p, implied, stage_rows.get(p.id, {}), report)
        _compare_results(p, implied, result_rows.get(p.id, []), file_rows, report, files)
        _compare_parcels(p, implied, parcel_rows.get(p.id, {}), report)


def _compare_project(p: Project, s: _Implied, report: VerifyReport) -> None:
    if s.registered is None:
        report.add("state", None, f"项目 {p.code} 在台账中没有登记事件（project.registered）：该行不是经台账写入的")
        return
    for key in PROJECT_FIELDS:
        have, want = getattr(p, key), s.fields.get(key)
        if have != want and not (key == "year" and str(have) == str(want)):
            report.add("state", s.seqs.get(key),
                       f"项目 {p.code} 的 {key} 为 {have!r}，台账（第 {s.seqs.get(key)} 条）记录为 {want!r}（projects 表被改动）")


def _compare_stages(p: Project, s: _Implied, rows: dict[str, str], report: VerifyReport) -> None:
    if s.registered is None:
        return
    for key in sorted(set(rows) | set(s.stages)):
        want, seq = s.stages.get(key, (None, None))
        have = rows.get(key)
        if have != want:
            report.add("state", seq, f"项目 {p.code} 阶段 {key} 的状态为 {have or '（无）'}，"
                                     f"台账{f'（第 {seq} 条）' if seq else ''}记录为 {want or '（无）'}（stages 表被改动）")


def _compare_results(p: Project, s: _Implied, rows: list[Result], file_rows: dict[int, list[tuple[str, str, int]]],
                     report: VerifyReport, files: list[tuple[str, int, int]]) -> None:
    have = {r.id: r for r in rows}
    for rid, (data, seq) in sorted(s.results.items()):
        for f in data.get("files") or []:
            files.append((str(f.get("sha256")), int(f.get("size") or 0), seq))
        r = have.pop(rid, None)
        if r is None:
            report.add("state", seq, f"成果 {rid}（项目 {p.code}，台账第 {seq} 条）在 results 表中不存在或已移到别的项目")
            continue
        for key in ("stage", "kind", "doc_no", "confidentiality"):
            if getattr(r, key) != data.get(key):
                report.add("state", seq, f"成果 {rid} 的 {key} 为 {getattr(r, key)!r}，台账（第 {seq} 条）记录为 "
                                         f"{data.get(key)!r}（results 表被改动）")
        want = sorted((f.get("name"), f.get("sha256"), f.get("size")) for f in data.get("files") or [])
        if sorted(file_rows.get(rid, [])) != want:
            report.add("state", seq, f"成果 {rid} 的文件清单（名称、地址、大小）与台账第 {seq} 条记录的不符（result_files 表被改动）")
    for rid in sorted(have):
        report.add("state", None, f"成果 {rid}（项目 {p.code}）在台账中没有记录（result.added）")


def _compare_parcels(p: Project, s: _Implied, rows: dict[int, Parcel | None], report: VerifyReport) -> None:
    for pid, (data, seq) in sorted(s.parcels.items()):
        parcel = rows.pop(pid, None)
        if parcel is None:
            report.add("state", seq, f"地块 {pid}（项目 {p.code}，台账第 {seq} 条）不再挂接于该项目或已被删除")
            continue
        bounds = list(wkb.loads(parcel.geom_wkb).bounds)
        box = [parcel.minx, parcel.miny, parcel.maxx, parcel.maxy]
        if parcel.area_m2 != data.get("area_m2") or box != data.get("bbox") or bounds != data.get("bbox"):
            report.add("state", seq, f"地块 {pid} 的面积或范围与台账第 {seq} 条记录的不符（parcels 表被改动）")
    for pid in sorted(rows):
        report.add("state", None, f"项目 {p.code} 挂接的地块 {pid} 在台账中没有记录（parcel.attached）")


# --- 5. files -----------------------------------------------------------------------------------------------------


def _files(session: Session, blobs: Any, files: list[tuple[str, int, int]], remembered: dict[str, str] | None,
           report: VerifyReport) -> None:
    by_address: dict[str, tuple[int, int]] = {}
    for address, size, seq in files:
        by_address.setdefault(address, (size, seq))
    rows = {}
    addresses = sorted(by_address)
    for i in range(0, len(addresses), 500):
        chunk = addresses[i:i + 500]
        rows.update(dict(session.execute(select(Blob.sha256, Blob.size).where(Blob.sha256.in_(chunk))).all()))
    for address in addresses:
        size, seq = by_address[address]
        report.files_checked += 1
        if address not in rows:
            report.add("files", seq, f"台账第 {seq} 条记录的文件 {address} 在 blobs 表中不存在（被删除）")
            report.bad_files.append(address)
            continue
        if rows[address] != size:
            report.add("files", seq, f"文件 {address} 的大小 {rows[address]} 与台账记录的 {size} 不符")
            report.bad_files.append(address)
            continue
        fingerprint = blobs.fingerprint(address)
        if fingerprint is not None and remembered is not None and remembered.get(address) == fingerprint:
            continue  # hashed right before and unchanged since
        report.files_rehashed += 1
        if not blobs.verify(address):
            missing = "缺失" if fingerprint is None and not blobs.exists(address) else "内容与其哈希不符"
            report.add("files", seq, f"文件{missing}：{address}（台账第 {seq} 条）")
            report.bad_files.append(address)
        elif fingerprint is not None:
            report.blob_checks.append((address, fingerprint))


# --- the API's verify: admin only, one at a time, cached per head ------------------------------------------------


class Busy(Exception):
    """Another verification is running."""


def head_of(session: Session) -> tuple[int, str | None, int]:
    last = session.execute(select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)).first()
    counter = session.get(Counter, "ledger")
    return (last[0], last[1], counter.value if counter else 0) if last else (0, None, counter.value if counter else 0)


def cached_or_run(app: App) -> dict[str, Any]:
    """The report for the current head: from the cache when this head was verified already, else computed now
    (files re-hashed only when changed since their last good check). One verification at a time across every
    process: a second caller gets Busy (the API answers 503 with Retry-After)."""
    with app.db.read() as session:
        head = head_of(session)
        slot = session.get(VerifyRun, _SLOT)
        if slot is not None and slot.report is not None and (slot.head_seq, slot.head_hash) == head[:2] \
                and slot.report.get("_counter") == head[2]:
            return _public(slot.report) | {"cached": True}
    _claim(app)
    try:
        with app.db.read() as session:
            remembered = dict(session.execute(select(BlobCheck.sha256, BlobCheck.fingerprint)).all())
            report = verify(session, app.blobs, remembered, pending_after=app.settings.ledger_pending_alert_seconds)
        body = report.as_dict() | {"checked_at": rfc3339(now()), "_counter": head[2]}
        _finish(app, head, body, report.blob_checks)
    except BaseException:
        _release(app)
        raise
    return _public(body) | {"cached": False}


def _public(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if not k.startswith("_")}


def _claim(app: App) -> None:
    t = now()
    with app.db.write(exclusive=False) as session:
        if session.get(VerifyRun, _SLOT) is None:
            try:
                with session.begin_nested():
                    session.add(VerifyRun(id=_SLOT))
            except IntegrityError:
                pass
        claimed = session.execute(update(VerifyRun).where(  # type: ignore[attr-defined]
            VerifyRun.id == _SLOT, (VerifyRun.running_since.is_(None)) | (VerifyRun.running_since < t - STALE_CLAIM))
            .values(running_since=t)).rowcount
    if not claimed:
        raise Busy


def _release(app: App) -> None:
    with app.db.write(exclusive=False) as session:
        session.execute(update(VerifyRun).where(VerifyRun.id == _SLOT).values(running_since=None))


def _finish(app: App, head: tuple[int, str | None, int], body: dict[str, Any], checks: list[tuple[str, str]]) -> None:
    remember_checks(app, checks)
    with app.db.write(exclusive=False) as session:
        session.execute(update(VerifyRun).where(VerifyRun.id == _SLOT).values(
            running_since=None, head_seq=head[0], head_hash=head[1], report=body, finished_at=now()))


def remember_checks(app: App, checks: list[tuple[str, str]]) -> None:
    """Note the files that hashed right (and their identity then): later checks skip them while unchanged."""
    t = now()
    for i in range(0, len(checks), 500):
        with app.db.write(exclusive=False) as session:
            for address, fingerprint in checks[i:i + 500]:
                row = session.get(BlobCheck, address)
                if row is None:
                    session.add(BlobCheck(sha256=address, fingerprint=fingerprint, verified_at=t))
                else:
                    row.fingerprint, row.verified_at = fingerprint, t


def last_run(session: Session) -> dict[str, Any] | None:
    slot = session.get(VerifyRun, _SLOT)
    if slot is None or slot.report is None:
        return None
    return _public(slot.report) | {"finished_at": rfc3339(aware(slot.finished_at)) if slot.finished_at else None}
