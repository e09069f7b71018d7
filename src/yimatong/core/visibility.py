"""The one visibility layer: the read side of the policy as SQL.

Every read path (lists, downloads, packages, the project box, the change feed, OGC features and extents, map data,
webhook fan-out, search) builds its query on results, events, parcels, parcel links and cross-references with the
clauses of a `View`, so that a restricted result cannot leak through a forgotten derived row. Derived rows take
the confidentiality of the result they came from: a parcel submitted with a restricted result is as hidden as the
result; a reference copied from its data too. District scope (an actor limited to divisions) applies to projects
and everything under them. `tests/architecture/test_visibility_guard.py` fails for a query on these tables built
elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from yimatong.core.context import Actor, App
from yimatong.domain.enums import Confidentiality
from yimatong.domain.policy import Policy
from yimatong.storage.models import Event, Parcel, Project, ProjectParcel, ProjectRef, Result, ResultFile


@dataclass(frozen=True)
class View:
    """What one actor (None: the public, no token) may see, as SQL clauses and ready-made queries."""

    policy: Policy
    actor: Actor | None

    @classmethod
    def of(cls, app: App, actor: Actor | None) -> View:
        return cls(app.profile.policy, actor)

    # --- clauses ----------------------------------------------------------------------------------------------
    @property
    def all_results(self) -> bool:
        return self.policy.sees_all(self.actor)

    @property
    def unrestricted(self) -> bool:
        """Sees every row of every table (privileged and not limited to divisions)."""
        return self.all_results and self.actor is not None and not self.policy.scoped(self.actor)

    @property
    def divisions(self) -> list[str] | None:
        """The divisions the actor is limited to, None for the whole city: for rows that carry a division of
        their own rather than a project (stored warnings, statistics)."""
        if self.actor is None or not self.policy.scoped(self.actor):
            return None
        return sorted(self.actor.divisions)

    def projects(self) -> ColumnElement[bool]:
        """Projects inside the actor's district scope."""
        if self.actor is None or not self.policy.scoped(self.actor):
            return true()
        return Project.division.in_(sorted(self.actor.divisions))

    def results(self) -> ColumnElement[bool]:
        """Results the actor may see (confidentiality; district scope through their project)."""
        if self.actor is None:
            own: ColumnElement[bool] = Result.confidentiality == Confidentiality.PUBLIC
        elif self.all_results:
            own = true()
        else:
            own = or_(Result.confidentiality != Confidentiality.RESTRICTED, Result.created_role == self.actor.role)
        return and_(own, self._project_in_scope(Result.project_id))

    def visible_result_ids(self) -> Select[int]:
        return select(Result.id).where(self.results())

    def links(self) -> ColumnElement[bool]:
        """Project–parcel links the actor may see: the link's result is visible (or there is none) and the
        project is in scope."""
        if self.all_results:
            by_result: ColumnElement[bool] = true()
        else:
            by_result = or_(ProjectParcel.result_id.is_(None), ProjectParcel.result_id.in_(self.visible_result_ids()))
        return and_(by_result, self._project_in_scope(ProjectParcel.project_id))

    def parcels(self) -> ColumnElement[bool]:
        """Parcels with at least one visible link."""
        link = aliased_link()
        cond = and_(link.parcel_id == Parcel.id, self._link_clause(link))
        return exists().where(cond)

    def refs(self) -> ColumnElement[bool]:
        """Cross-references: those taken from a result's data are as visible as the result."""
        if self.all_results:
            by_result: ColumnElement[bool] = true()
        else:
            by_result = or_(ProjectRef.result_id.is_(None), ProjectRef.result_id.in_(self.visible_result_ids()))
        return and_(by_result, self._project_in_scope(ProjectRef.project_id))

    def marked(self, division: Any, conf: Any, owner_role: Any) -> ColumnElement[bool]:
        """Rows kept for parcels whose links all share one division and one confidentiality (`tile_marks`,
        `tile_cells`: `conf` is the links' confidentiality, `public` for links without a result, `owner_role` the
        role that submitted a restricted result): such a parcel is seen by exactly the readers who see its links,
        so these are the clauses of `links` on those columns."""
        if self.actor is None:
            own: ColumnElement[bool] = conf == Confidentiality.PUBLIC
        elif self.all_results:
            own = true()
        else:
            own = or_(conf != Confidentiality.RESTRICTED, owner_role == self.actor.role)
        if self.actor is None or not self.policy.scoped(self.actor):
            return own
        return and_(own, division.in_(sorted(self.actor.divisions)))

    def events(self) -> ColumnElement[bool]:
        """Ledger events in the change feed: confidentiality as recorded with the event, and district scope
        through the event's project (events without a project are city-wide: hidden from scoped actors)."""
        if self.actor is None:
            return Event.confidentiality == Confidentiality.PUBLIC
        if self.all_results:
            own: ColumnElement[bool] = true()
        else:
            own = or_(Event.confidentiality != Confidentiality.RESTRICTED, Event.owner_role == self.actor.role)
        if not self.policy.scoped(self.actor):
            return own
        in_scope = Event.code.in_(select(Project.code).where(self.projects()))
        return and_(own, in_scope)

    def sees(self, confidentiality: str, owner_role: str | None, division: str | None = None) -> bool:
        """The same rules for one record in memory (webhook fan-out)."""
        return self.policy.sees(self.actor, confidentiality, owner_role) and self.policy.in_scope(self.actor, division)

    def _project_in_scope(self, project_id: Any) -> ColumnElement[bool]:
        if self.actor is None or not self.policy.scoped(self.actor):
            return true()
        return project_id.in_(select(Project.id).where(self.projects()))

    def _link_clause(self, link: Any) -> ColumnElement[bool]:
        if self.all_results:
            by_result: ColumnElement[bool] = true()
        else:
            by_result = or_(link.result_id.is_(None), link.result_id.in_(self.visible_result_ids()))
        return and_(by_result, self._project_in_scope(link.project_id))

    # --- queries ----------------------------------------------------------------------------------------------
    def result_query(self, project_ids: Sequence[int], stage: str | None = None, kind: str | None = None
                     ) -> Select[Result]:
        stmt = select(Result).where(Result.project_id.in_(list(project_ids)), self.results())
        if stage:
            stmt = stmt.where(Result.stage == stage)
        if kind:
            stmt = stmt.where(Result.kind == kind)
        return stmt

    def result_by_id(self, result_id: int) -> Select[Result, str]:
        """One visible result with its project's code."""
        return (select(Result, Project.code).join(Project, Project.id == Result.project_id)
                .where(Result.id == result_id, self.results()))

    def result_files(self, result_ids: Sequence[int]) -> Select[ResultFile]:
        """Files of results (already checked visible by the caller through `result_query`)."""
        return select(ResultFile).where(ResultFile.result_id.in_(list(result_ids))).order_by(ResultFile.id)

    def project_query(self) -> Select[Project]:
        return select(Project).where(self.projects())

    def parcel_query(self, *columns: Any) -> Select[Any]:
        """Visible parcels (whole rows, or the columns given)."""
        return select(*(columns or (Parcel,))).where(self.parcels())

    def parcel_extent(self) -> Select[float, float, float, float]:
        """min/max of the visible parcels' boxes (a hidden parcel must not widen a layer's extent)."""
        return select(func.min(Parcel.minx), func.min(Parcel.miny), func.max(Parcel.maxx),
                      func.max(Parcel.maxy)).where(self.parcels())

    def link_query(self, *columns: Any) -> Select[Any]:
        return select(*columns).select_from(ProjectParcel).where(self.links())

    def event_query(self) -> Select[Event]:
        return select(Event).where(self.events())

    def ref_query(self, *columns: Any) -> Select[Any]:
        return select(*columns).select_from(ProjectRef).where(self.refs())

    # --- small helpers used by several areas ------------------------------------------------------------------
    def codes_of_parcels(self, session: Session, parcel_ids: Sequence[int]) -> dict[int, list[str]]:
        """The codes of the projects on each parcel, through visible links only."""
        out: dict[int, list[str]] = {}
        if parcel_ids:
            stmt = (self.link_query(ProjectParcel.parcel_id, Project.code)
                    .join(Project, Project.id == ProjectParcel.project_id)
                    .where(ProjectParcel.parcel_id.in_(list(parcel_ids))).order_by(Project.id))
            for pid, code in session.execute(stmt):
                out.setdefault(pid, []).append(code)
        return out

    # --- OGC items pages
    def parcel_probe(self, parcel_id: Any) -> ColumnElement[bool]:
        """`parcels()` asked of one candidate row (`parcel_id`: its id column): the same EXISTS, fenced with
        `OFFSET 0` so that PostgreSQL keeps it a correlated subplan — one probe of the link index per candidate —
        instead of pulling it up into a semi-join that reads every link (30-65 ms at 100 000 links, however few
        parcels the other clauses leave). For candidates already narrowed (a filter's hits); SQLite runs a
        correlated EXISTS this way in any case."""
        link = aliased_link()
        return select(link.parcel_id).where(link.parcel_id == parcel_id, self._link_clause(link)).offset(0).exists()

    def parcel_page(self, where: Sequence[ColumnElement[bool]], limit: int, offset: int, *columns: Any,
                    lateral: bool = False) -> Select[Any]:
        """One page of the visible parcels meeting `where`, in id order: rows of `columns`, `matched` (the number
        of all of them: `count(*) OVER ()`, taken before LIMIT) and the project of one visible link (see
        `_with_projects`) — the page, its count and its projects in one statement. `where` is applied first, in a
        subquery the planner keeps apart (`OFFSET 0`), and the visibility of each of its hits is then probed once
        (`parcel_probe`): the planner costs the probes on the hits it expects, not on every row of the table
        (which made PostgreSQL JIT-compile a 5 ms query for 12 ms). A page past the end has no row, so no count."""
        hits = select(Parcel.id.label("id")).where(*where).offset(0).subquery("hits")
        page = (select(hits.c.id, func.count().over().label("matched")).where(self.parcel_probe(hits.c.id))
                .order_by(hits.c.id).limit(limit).offset(offset).subquery("page"))
        return self._with_projects(select(*columns, page.c.matched).select_from(Parcel)
                                   .join(page, page.c.id == Parcel.id), lateral)

    def parcels_by_id(self, ids: Sequence[int], *columns: Any, lateral: bool = False) -> Select[Any]:
        """The visible parcels among `ids`: rows of `columns` and the project of one visible link, as
        `parcel_page` (a parcel comes once with each of its visible links, so a parcel without one does not
        come: the join is the visibility test of `parcels()`)."""
        return self._with_projects(select(*columns).select_from(Parcel).where(Parcel.id.in_(list(ids))), lateral)

    def _with_projects(self, stmt: Select[Any], lateral: bool) -> Select[Any]:
        """`stmt` (on parcels) with each visible link of its parcels (`links()`) and the link's project: code,
        current stage and division added as the last three columns, rows in parcel then project order. The links
        are a LATERAL subquery fenced with `OFFSET 0` if `lateral` (PostgreSQL), so that they are one index probe per parcel
        of the page: as a plain join the planner hashed every link of the table for a page of 100 parcels (it
        costs 100 index probes above a scan of a small table). SQLite has no LATERAL and joins by probing the
        index in any case."""
        cols = (ProjectParcel.parcel_id, Project.id.label("project_id"), Project.code, Project.current_stage,
                Project.division)
        links = (select(*cols).select_from(ProjectParcel).join(Project, Project.id == ProjectParcel.project_id)
                 .where(self.links()))
        lp: Any
        if lateral:
            lp = links.where(ProjectParcel.parcel_id == Parcel.id).offset(0).lateral("links")
            on: ColumnElement[bool] = true()
        else:
            lp = links.subquery("links")
            on = lp.c.parcel_id == Parcel.id
        return (stmt.add_columns(lp.c.code, lp.c.current_stage, lp.c.division).join(lp, on)
                .order_by(Parcel.id, lp.c.project_id))


def aliased_link() -> Any:
    """A second name for the link table, for the EXISTS of `View.parcels` (inside queries that join it)."""
    return aliased(ProjectParcel)


def role_sees(role: str, confidentiality: str, owner_role: str | None, policy: Policy | None = None) -> bool:
    """The confidentiality rule for one row in memory, for a role alone (webhook fan-out)."""
    return (policy or Policy()).sees(Actor("", role), confidentiality, owner_role)
