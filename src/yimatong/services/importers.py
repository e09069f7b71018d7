"""Intake (入库): the four source lists into one library without duplicates.

One file is one transaction: any refused row leaves nothing behind unless `partial`; `dry_run` runs the
whole import and rolls it back, so its report is exact. A row matches an existing project by investment
code, else by division and near-identical name; an uncertain match waits in the review queue instead of
creating a project. Importing the same rows again adds nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.domain.names import classify_match, name_similarity, normalize_name
from yimatong.errors import Invalid, invalid
from yimatong.intake.columns import KIND_LABELS, KINDS
from yimatong.intake.rows import CodeTables, ParsedRow, parse_rows
from yimatong.intake.sheets import IntakeFileError, read_table
from yimatong.services import ledger, registry
from yimatong.services.context import Actor, App, now
from yimatong.storage.models import ImportRun, Project, ProjectSource, Review

SOURCE_KIND = {"supply_plan": "supply_plan", "reserve_plan": "reserve_plan", "key_projects": "city_key",
               "investment_platform": "investment_platform"}
DETAIL_LIMIT = 10_000  # per-row detail kept in a report; counts are always complete
CODED = ("approval_type", "project_type", "supply_type", "land_use")


class _Rollback(Exception):
    pass


@dataclass
class Report:
    kind: str
    filename: str
    sha256: str
    dry_run: bool
    partial: bool
    header_row: int | None = None
    columns: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("rows", "taken", "merged", "refused", "review", "skipped", "unchanged"), 0))
    taken: list[dict[str, Any]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    already_imported: bool = False
    written: bool = False

    def add(self, bucket: str, item: dict[str, Any]) -> None:
        self.counts[bucket] += 1
        items = getattr(self, bucket, None)
        if items is not None and (bucket == "refused" or len(items) < DETAIL_LIMIT):
            items.append(item)

    def refuse(self, row_no: int, errors: list[tuple[str, str]]) -> None:
        """One refused row, every reason listed (row number as Excel shows it)."""
        self.counts["refused"] += 1
        self.refused += [{"row": row_no, "column": column, "reason": reason} for column, reason in errors]

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("kind", "filename", "sha256", "dry_run", "partial", "header_row",
                                              "columns", "counts", "taken", "merged", "refused", "review",
                                              "skipped", "already_imported", "written")}


def code_tables(app: App) -> CodeTables:
    return CodeTables({name: [(e.value, e.label) for e in entries] for name, entries in app.profile.tables.items()})


def import_sheet(app: App, actor: Actor, kind: str, data: bytes, filename: str, dry_run: bool = False,
                 partial: bool = False) -> Report:
    registry.require_writer(actor)
    if kind not in KINDS:
        raise invalid("kind", f"导入类型应为 {', '.join(KINDS)}")
    report = Report(kind, filename, hashlib.sha256(data).hexdigest(), dry_run, partial)
    try:
        sheet = read_table(data, filename, app.settings.max_upload_bytes)
        parsed = parse_rows(sheet, kind, code_tables(app))
    except IntakeFileError as exc:
        raise Invalid(exc.message, [(exc.field, exc.message)]) from None
    report.header_row, report.columns = parsed.header_row, parsed.columns
    try:
        with app.db.write() as session:
            if _seen_before(session, kind, report.sha256):
                report.already_imported = True
                for _row in parsed.rows:
                    report.counts["rows"] += 1
                    report.counts["unchanged"] += 1
                raise _Rollback
            _run(session, app, actor, kind, parsed.rows, report)
            _skipped(report, parsed.skipped)
            if (report.refused and not partial) or dry_run:
                raise _Rollback
            _finish(session, actor, report)
    except _Rollback:
        _skipped(report, parsed.skipped)
    return report


def _skipped(report: Report, skipped: list[tuple[int, str]]) -> None:
    if not report.skipped:
        for row_no, reason in skipped:
            report.add("skipped", {"row": row_no, "reason": reason})


def _seen_before(session: Session, kind: str, sha: str) -> bool:
    return session.execute(select(ImportRun.id).where(ImportRun.kind == kind, ImportRun.sha256 == sha)
                           ).first() is not None


def _finish(session: Session, actor: Actor, report: Report) -> None:
    report.written = True
    summary = {k: v for k, v in report.as_dict().items() if k in ("kind", "filename", "sha256", "counts")}
    session.add(ImportRun(kind=report.kind, filename=report.filename[:255], sha256=report.sha256,
                          report=summary, actor=actor.name, created_at=now()))
    ledger.append(session, "import.completed", None, actor, summary)


class _Index:
    """Active projects of the divisions seen so far, loaded once per division (not one query per row), kept
    as parallel lists for rapidfuzz and a dict for exact names."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_division: dict[str, list[tuple[str, int]]] = {}
        self.name_lists: dict[str, list[str]] = {}
        self.exact_names: dict[str, dict[str, int]] = {}
        self.by_investment: dict[str, int] = {}

    def candidates(self, division: str) -> list[tuple[str, int]]:
        if division not in self.by_division:
            self.by_division[division], self.name_lists[division], self.exact_names[division] = [], [], {}
            rows = self.session.execute(select(Project.name_norm, Project.id, Project.investment_code).where(
                Project.division == division, Project.status == "active").order_by(Project.id))
            for norm, pid, inv in rows:
                self._remember(division, norm, pid)
                if inv:
                    self.by_investment[inv] = pid
        return self.by_division[division]

    def _remember(self, division: str, norm: str, pid: int) -> None:
        self.by_division[division].append((norm, pid))
        self.name_lists[division].append(norm)
        self.exact_names[division].setdefault(norm, pid)

    def names(self, division: str) -> list[str]:
        self.candidates(division)
        return self.name_lists[division]

    def exact(self, division: str, norm: str) -> int | None:
        self.candidates(division)
        return self.exact_names[division].get(norm)

    def investment(self, code: str) -> int | None:
        if code not in self.by_investment:
            found = registry.find_by_investment_code(self.session, code)
            if found is not None:
                self.by_investment[code] = found.id
        return self.by_investment.get(code)

    def add(self, division: str, project: Project) -> None:
        self.candidates(division)
        self._remember(division, project.name_norm, project.id)
        if project.investment_code:
            self.by_investment[project.investment_code] = project.id


def _run(session: Session, app: App, actor: Actor, kind: str, rows: Any, report: Report) -> None:
    index = _Index(session)
    for row in rows:
        report.counts["rows"] += 1
        if report.counts["rows"] % 1000 == 0:
            session.flush()
            session.expunge_all()  # one transaction per file, but not every row's objects in memory
        if row.errors:
            report.refuse(row.row_no, row.errors)
            continue
        try:
            if report.partial:  # a savepoint per row only when good rows must survive a bad one
                with session.begin_nested():
                    _take(session, app, actor, kind, row, index, report)
            else:
                _take(session, app, actor, kind, row, index, report)
        except Invalid as exc:
            report.refuse(row.row_no, exc.errors or [("", exc.detail)])


def source_ref(kind: str, values: dict[str, Any]) -> str:
    """A content-derived reference: the same row re-imported from a re-saved file is the same source."""
    return f"{values.get('year')}:{normalize_name(values['name'])}"[:200]


def _take(session: Session, app: App, actor: Actor, kind: str, row: ParsedRow, index: _Index,
          report: Report) -> None:
    v = row.values
    src_kind = v.get("source_kind") or SOURCE_KIND[kind]
    source = {"kind": src_kind, "ref": source_ref(kind, v), "data": _jsonable(v) | {"row": row.row_no}}
    pid, score = _match(index, v)
    if pid is not None and score >= 95:
        project = session.get(Project, pid)
        assert project is not None
        if merge_into(session, app, actor, project, v, source):
            report.add("merged", {"row": row.row_no, "code": project.code, "name": project.name, "score": score})
        else:
            report.counts["unchanged"] += 1
        return
    if pid is not None:
        _open_review(session, actor, kind, row, pid, score, source, report)
        return
    project = registry.register(session, app, actor, attributes(app, v) | {"sources": [source]})
    index.add(project.division, project)
    report.add("taken", {"row": row.row_no, "code": project.code, "name": project.name})


def _match(index: _Index, v: dict[str, Any]) -> tuple[int | None, float]:
    if v.get("investment_code"):
        pid = index.investment(v["investment_code"])
        if pid is not None:
            return pid, 100.0
    norm = normalize_name(v["name"])
    exact = index.exact(v["division"], norm)
    if exact is not None:
        return exact, 100.0
    # rapidfuzz screens the division's names in C with a cut-off; the few near ones get the full rule
    best: tuple[int | None, float] = (None, 0.0)
    names = index.names(v["division"])
    for _, _, pos in process.extract(norm, names, scorer=fuzz.ratio, score_cutoff=80, limit=5):
        cand_norm, cid = index.candidates(v["division"])[pos]
        score = name_similarity(cand_norm, norm)
        if score > best[1]:
            best = (cid, score)
    return best if classify_match(best[1]) != "different" else (None, best[1])


def attributes(app: App, v: dict[str, Any]) -> dict[str, Any]:
    tbd = app.profile.code.to_be_determined
    attrs = {k: v.get(k) or tbd.get(k) for k in CODED}
    return {"name": v["name"], "division": v["division"], "year": v["year"], **attrs,
            "builder": v.get("builder"), "investment_code": v.get("investment_code"), "area_m2": v.get("area_m2")}


def merge_into(session: Session, app: App, actor: Actor, project: Project, v: dict[str, Any],
                source: dict[str, Any]) -> bool:
    """Add the source and fill what the project does not know yet; never change the code."""
    tbd = app.profile.code.to_be_determined
    changes: dict[str, Any] = {}
    for key in CODED:
        if v.get(key) and getattr(project, key) == tbd.get(key) and v[key] != tbd.get(key):
            changes[key] = v[key]
    for key in ("builder", "area_m2", "investment_code"):
        if v.get(key) and not getattr(project, key):
            changes[key] = v[key]
    has_source = session.execute(select(ProjectSource.id).where(
        ProjectSource.project_id == project.id, ProjectSource.kind == source["kind"],
        ProjectSource.ref == source["ref"])).first() is not None
    if not changes and has_source:
        return False
    registry.update(session, app, actor, project.code, changes | {"sources": [source]})
    return True


def _open_review(session: Session, actor: Actor, kind: str, row: ParsedRow, pid: int, score: float,
                 source: dict[str, Any], report: Report) -> None:
    candidate = session.get(Project, pid)
    assert candidate is not None
    payload = {"kind": kind, "row": row.row_no, "values": _jsonable(row.values), "source": source}
    existing = session.execute(select(Review).where(Review.candidate_code == candidate.code,
                                                    Review.state == "open")).scalars().all()
    for r in existing:
        if r.source.get("source", {}).get("ref") == source["ref"]:
            report.add("review", {"row": row.row_no, "review_id": r.id, "candidate_code": candidate.code,
                                  "score": round(score, 1)})
            return
    review = Review(project_code="", candidate_code=candidate.code, score=round(score, 1),
                    reason=f"名称相似度 {score:.0f}：“{row.values['name']}” 与 “{candidate.name}”",
                    source=payload, state="open", created_at=now())
    session.add(review)
    session.flush()
    ledger.append(session, "review.opened", candidate.code, actor,
                  {"review_id": review.id, "score": review.score, "name": row.values["name"], "kind": kind})
    report.add("review", {"row": row.row_no, "review_id": review.id, "candidate_code": candidate.code,
                          "score": round(score, 1)})


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)
