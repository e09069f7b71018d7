"""Intake (入库): the four source lists into one library without duplicates.

One file is one transaction: any refused row leaves nothing behind unless `partial`; `dry_run` runs the
whole import and rolls it back, so its report is exact. A row matches an existing project by investment
code, else by division and near-identical name; an uncertain match waits in the review queue instead of
creating a project. Importing the same rows again adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from yimatong.core.context import App, local_today, now
from yimatong.domain import events as ev
from yimatong.domain.names import classify_match, name_similarity, normalize_name
from yimatong.errors import Conflict, Invalid, invalid
from yimatong.intake.columns import KIND_LABELS
from yimatong.intake.rows import CodeTables, ParsedRow
from yimatong.projects import registry
from yimatong.storage.models import ImportRun, Project, ProjectSource, Review, table
from yimatong.uow import UnitOfWork

SOURCE_KIND = {"supply_plan": "supply_plan", "reserve_plan": "reserve_plan", "key_projects": "city_key",
               "investment_platform": "investment_platform"}
DETAIL_LIMIT = 10_000  # per-row detail kept in a report; counts are always complete
CODED = ("approval_type", "project_type", "supply_type", "land_use")
PROGRESS_EVERY = 10_000  # rows between progress reports (a year's plan of 100 000 rows takes about a minute)
SCREEN_CUTOFF = 80  # rapidfuzz ratio below which two names are not looked at further


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
    return CodeTables(app.profile, local_today(app.profile))


def check_land_use_edition(app: App, edition: str | None) -> str | None:
    """[standards] The edition a land-use column is read in, as chosen for an import (None: by its header)."""
    editions = app.profile.intake.land_use_editions
    if edition in (None, "") or edition in editions:
        return edition or None
    raise invalid("land_use_edition", f"用途列的分类版本应为 {'、'.join(editions)} 之一，收到 {edition!r}")


def _skipped(report: Report, skipped: list[tuple[int, str]]) -> None:
    if not report.skipped:
        for row_no, reason in skipped:
            report.add("skipped", {"row": row_no, "reason": reason})


def _seen_before(session: Session, kind: str, sha: str) -> bool:
    return session.execute(select(ImportRun.id).where(ImportRun.kind == kind, ImportRun.sha256 == sha)
                           ).first() is not None


def _finish(uow: UnitOfWork, report: Report) -> None:
    report.written = True
    summary = {k: v for k, v in report.as_dict().items() if k in ("kind", "filename", "sha256", "counts")}
    uow.session.add(ImportRun(kind=report.kind, filename=report.filename[:255], sha256=report.sha256,
                              report=summary, actor=uow.actor.name, created_at=uow.now))
    uow.emit(ev.ImportCompleted(**summary), None)


@dataclass(slots=True)
class _New:
    """A row that becomes a new project, waiting in the batch for its code and id. Once written only the id
    is kept (the index holds one of these per new project: 100 000 rows' data would be hundreds of MB)."""
    row_no: int
    data: dict[str, Any] | None
    attrs: dict[str, str] | None
    project_id: int | None = None


Key = int | _New  # an existing project's id, or a new project of this file


class _Index:
    """Active projects of the divisions seen so far, loaded once per division (not one query per row), kept
    as parallel lists for rapidfuzz and a dict for exact names; new projects of the file join it at once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_division: dict[str, list[tuple[str, Key]]] = {}
        self.name_lists: dict[str, list[str]] = {}
        self.exact_names: dict[str, dict[str, Key]] = {}
        self.by_investment: dict[str, Key] = {}
        self.screened: dict[int, tuple[int, list[int]]] = {}

    def candidates(self, division: str) -> list[tuple[str, Key]]:
        if division not in self.by_division:
            self.by_division[division], self.name_lists[division], self.exact_names[division] = [], [], {}
            rows = self.session.execute(select(Project.name_norm, Project.id, Project.investment_code).where(
                Project.division == division, Project.status == "active").order_by(Project.id))
            for norm, pid, inv in rows:
                self._remember(division, norm, pid)
                if inv:
                    self.by_investment.setdefault(inv, pid)
        return self.by_division[division]

    def _remember(self, division: str, norm: str, key: Key) -> None:
        self.by_division[division].append((norm, key))
        self.name_lists[division].append(norm)
        self.exact_names[division].setdefault(norm, key)

    def names(self, division: str) -> list[str]:
        self.candidates(division)
        return self.name_lists[division]

    def exact(self, division: str, norm: str) -> Key | None:
        self.candidates(division)
        return self.exact_names[division].get(norm)

    def investment(self, code: str) -> Key | None:
        if code not in self.by_investment:
            found = registry.find_by_investment_code(self.session, code)
            if found is not None:
                self.by_investment[code] = found.id
        return self.by_investment.get(code)

    def prescreen(self, rows: list[ParsedRow]) -> None:
        """Screen a chunk of rows against the names known now in one rapidfuzz cdist call per division,
        on every core: the per-row screen is the import's largest cost once a division holds thousands of
        projects. Names added later (rows of this chunk) are screened per row in `near`."""
        self.screened = {}
        by_division: dict[str, list[ParsedRow]] = {}
        for row in rows:
            if not row.errors and row.values.get("division") and row.values.get("name"):
                by_division.setdefault(row.values["division"], []).append(row)
        for division, mine in by_division.items():
            names = self.names(division)
            if not names:
                continue
            scores = process.cdist([normalize_name(r.values["name"]) for r in mine], names, scorer=fuzz.ratio,
                                   score_cutoff=SCREEN_CUTOFF, workers=-1, dtype=np.uint8)
            for row, line in zip(mine, scores, strict=True):
                self.screened[id(row)] = (len(names), np.flatnonzero(line).tolist())

    def near(self, row: ParsedRow, division: str, norm: str) -> list[tuple[str, Key]]:
        """The (at most 5) names of the division most like `norm` with a ratio of at least SCREEN_CUTOFF."""
        names, entries = self.names(division), self.by_division[division]
        start, found = self.screened.get(id(row), (0, []))
        hits = [(fuzz.ratio(norm, names[i]), i) for i in found]
        hits += [(score, start + i) for _, score, i in process.extract(
            norm, names[start:], scorer=fuzz.ratio, score_cutoff=SCREEN_CUTOFF, limit=5)]
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [entries[i] for _, i in hits[:5]]

    def add(self, new: _New) -> None:
        assert new.data is not None and new.attrs is not None
        division = new.attrs["division"]
        self.candidates(division)
        self._remember(division, normalize_name(new.data["name"]), new)
        if new.data.get("investment_code"):
            self.by_investment[new.data["investment_code"]] = new


@dataclass(slots=True)
class _NewReview:
    """An uncertain match waiting in the batch: its Review columns, its ledger data, the rows that raised it."""
    columns: dict[str, Any]
    event: dict[str, Any]
    rows: list[dict[str, Any]]


class _Batch:
    """New projects and review items written a few hundred at a time (registry.register_many, one multi-row
    insert per table) instead of ten statements per row: the difference between minutes and seconds for a
    year's plan. Everything waiting is written before a row that needs it is handled (see `_take`)."""

    SIZE = 500

    def __init__(self, uow: UnitOfWork, report: Report) -> None:
        self.uow, self.session, self.report = uow, uow.session, report
        self.items: list[_New] = []
        self.reviews: dict[tuple[str, str], _NewReview] = {}  # by (candidate code, source ref)

    def add(self, item: _New) -> None:
        self.items.append(item)
        if len(self.items) >= self.SIZE:
            self.flush()

    def flush(self) -> None:
        items, self.items = self.items, []
        if items:
            self._register(items)
        reviews, self.reviews = list(self.reviews.values()), {}
        if reviews:
            self._open_reviews(reviews)
        self.uow.flush_events()  # a year's plan is one transaction, but not all its events in memory

    def _register(self, items: list[_New]) -> None:
        outcomes = registry.register_many(self.uow, [(i.data, i.attrs) for i in items])  # type: ignore[misc]
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, Conflict):
                self.report.refuse(item.row_no, outcome.errors)
                continue
            item.project_id, item.data, item.attrs = outcome.id, None, None
            self.report.add("taken", {"row": item.row_no, "code": outcome.code, "name": outcome.name})

    def _open_reviews(self, reviews: list[_NewReview]) -> None:
        stmt = insert(table(Review)).returning(table(Review).c.id, sort_by_parameter_order=True)
        ids = self.session.execute(stmt, [r.columns for r in reviews]).scalars().all()
        for review_id, r in zip(ids, reviews, strict=True):
            code, score = r.columns["candidate_code"], r.columns["score"]
            self.uow.emit(ev.ReviewOpened(review_id=review_id, score=score, **r.event), code)
            for seen in r.rows:
                self.report.add("review", seen | {"review_id": review_id})


def _run(uow: UnitOfWork, kind: str, rows: Any, report: Report, progress: Callable[[int], None] | None = None
         ) -> None:
    index, batch = _Index(uow.session), _Batch(uow, report)
    for chunk in _chunks(rows, 250):
        index.prescreen(chunk)
        for row in chunk:
            _one_row(uow, kind, row, index, batch, report)
        if progress and report.counts["rows"] % PROGRESS_EVERY < len(chunk):
            progress(report.counts["rows"])
    batch.flush()


def _chunks(rows: Any, size: int) -> Any:
    chunk: list[ParsedRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _one_row(uow: UnitOfWork, kind: str, row: ParsedRow, index: _Index, batch: _Batch, report: Report) -> None:
    session = uow.session
    report.counts["rows"] += 1
    if report.counts["rows"] % 1000 == 0:
        batch.flush()
        session.flush()
        session.expunge_all()  # one transaction per file, but not every row's objects in memory
    if row.errors:
        report.refuse(row.row_no, row.errors)
        return
    try:
        _take(uow, kind, row, index, batch, report)
    except Invalid as exc:
        report.refuse(row.row_no, exc.errors or [("", exc.detail)])


def source_ref(values: dict[str, Any]) -> str:
    """A content-derived reference: the same row re-imported from a re-saved file is the same source."""
    return f"{values.get('year')}:{normalize_name(values['name'])}"[:200]


def _take(uow: UnitOfWork, kind: str, row: ParsedRow, index: _Index, batch: _Batch, report: Report) -> None:
    app = uow.app
    v = row.values
    src_kind = v.get("source_kind") or SOURCE_KIND[kind]
    source = {"kind": src_kind, "ref": source_ref(v), "data": _jsonable(v) | {"row": row.row_no}}
    key, score = _match(index, row)
    if key is None:
        data = attributes(app, v) | {"sources": [source]}
        new = _New(row.row_no, data, registry.coded_attrs(app.profile, data))
        index.add(new)
        batch.add(new)
        return
    if isinstance(key, _New) and key.project_id is None:
        batch.flush()  # the row matches a new project of this file that still waits in the batch
    pid = key if isinstance(key, int) else key.project_id
    if pid is None:  # the row it matches was refused when its batch was written
        report.refuse(row.row_no, [("name", "与本文件中被拒绝的行重复")])
        return
    if report.partial:  # a savepoint only when good rows must survive a bad one
        with uow.savepoint():
            _merge_or_review(uow, batch, kind, row, pid, score, source, report)
    else:
        _merge_or_review(uow, batch, kind, row, pid, score, source, report)


def _merge_or_review(uow: UnitOfWork, batch: _Batch, kind: str, row: ParsedRow, pid: int, score: float,
                     source: dict[str, Any], report: Report) -> None:
    session = uow.session
    if score >= 95:
        project = session.get(Project, pid)
        assert project is not None
        if merge_into(uow, project, row.values, source):
            report.add("merged", {"row": row.row_no, "code": project.code, "name": project.name, "score": score})
        else:
            report.counts["unchanged"] += 1
        return
    _open_review(session, batch, kind, row, pid, score, source, report)


def _match(index: _Index, row: ParsedRow) -> tuple[Key | None, float]:
    v = row.values
    if v.get("investment_code"):
        pid = index.investment(v["investment_code"])
        if pid is not None:
            return pid, 100.0
    norm = normalize_name(v["name"])
    exact = index.exact(v["division"], norm)
    if exact is not None:
        return exact, 100.0
    # rapidfuzz screens the division's names in C with a cut-off; the few near ones get the full rule
    best: tuple[Key | None, float] = (None, 0.0)
    for cand_norm, key in index.near(row, v["division"], norm):
        score = name_similarity(cand_norm, norm)
        if score > best[1]:
            best = (key, score)
    return best if classify_match(best[1]) != "different" else (None, best[1])


def attributes(app: App, v: dict[str, Any]) -> dict[str, Any]:
    tbd = app.profile.code.to_be_determined
    attrs = {k: v.get(k) or tbd.get(k) for k in CODED}
    detail = {"land_use_detail": v["land_use_detail"]} if v.get("land_use_detail") else {}  # beside the code
    return {"name": v["name"], "division": v["division"], "year": v["year"], **attrs,
            "builder": v.get("builder"), "investment_code": v.get("investment_code"), "area_m2": v.get("area_m2"),
            "zone": v.get("zone"), "extra": detail}


def merge_into(uow: UnitOfWork, project: Project, v: dict[str, Any], source: dict[str, Any]) -> bool:
    """Add the source and fill what the project does not know yet; never change the code."""
    session = uow.session
    tbd = uow.profile.code.to_be_determined
    changes: dict[str, Any] = {}
    for key in CODED:
        if v.get(key) and getattr(project, key) == tbd.get(key) and v[key] != tbd.get(key):
            changes[key] = v[key]
    for key in ("builder", "area_m2", "investment_code", "zone"):
        if v.get(key) and not getattr(project, key) and (key != "zone" or v.get("division") == project.division):
            changes[key] = v[key]
    has_source = session.execute(select(ProjectSource.id).where(
        ProjectSource.project_id == project.id, ProjectSource.kind == source["kind"],
        ProjectSource.ref == source["ref"])).first() is not None
    if not changes and has_source:
        return False
    registry.update(uow, project.code, changes | {"sources": [source]})
    return True


def _open_review(session: Session, batch: _Batch, kind: str, row: ParsedRow, pid: int, score: float,
                 source: dict[str, Any], report: Report) -> None:
    candidate = session.get(Project, pid)
    assert candidate is not None
    seen = {"row": row.row_no, "candidate_code": candidate.code, "score": round(score, 1)}
    existing = session.execute(select(Review.id, Review.source).where(Review.candidate_code == candidate.code,
                                                                      Review.state == "open")).all()
    for review_id, payload in existing:
        if payload.get("source", {}).get("ref") == source["ref"]:
            report.add("review", seen | {"review_id": review_id})
            return
    waiting = batch.reviews.get((candidate.code, source["ref"]))
    if waiting is not None:
        waiting.rows.append(seen)
        return
    payload = {"kind": kind, "row": row.row_no, "values": _jsonable(row.values), "source": source}
    columns = {"project_code": "", "candidate_code": candidate.code, "score": round(score, 1),
               "reason": f"名称相似度 {score:.0f}：“{row.values['name']}” 与 “{candidate.name}”",
               "source": payload, "state": "open", "decided_by": None, "decided_at": None, "created_at": now()}
    batch.reviews[(candidate.code, source["ref"])] = _NewReview(columns, {"name": row.values["name"], "kind": kind},
                                                               [seen])


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)
