"""One shape per project: the view model the API returns, the pages show and the exports write, and the
snapshot the ledger records (a separate model in domain.events: changing this view never changes the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from yimatong.core.context import rfc3339
from yimatong.domain.events import ProjectSnapshot, SourceRef


class SourceOut(BaseModel):
    kind: str
    ref: str | None


class ProjectView(BaseModel):
    """The project representation of the contract (API.md, "Projects")."""

    code: str = Field(description="28 位项目码")
    name: str
    status: Literal["active", "void", "merged"]
    merged_into: str | None
    division: str
    year: int
    approval_type: str
    project_type: str
    supply_type: str
    land_use: str
    builder: str | None
    investment_code: str | None
    area_m2: float | None
    sources: list[SourceOut]
    current_stage: str
    code_outdated: bool
    parent_code: str | None = None
    created_at: str
    updated_at: str


def _common(project: Any, sources: Sequence[Any]) -> dict[str, Any]:
    return {
        "code": project.code, "name": project.name, "status": project.status, "merged_into": project.merged_into,
        "division": project.division, "year": project.year, "approval_type": project.approval_type,
        "project_type": project.project_type, "supply_type": project.supply_type, "land_use": project.land_use,
        "builder": project.builder, "investment_code": project.investment_code, "area_m2": project.area_m2,
        "sources": [{"kind": s.kind, "ref": s.ref} for s in sources],
        "current_stage": project.current_stage, "code_outdated": project.code_outdated,
        "parent_code": project.parent_code,
        "created_at": rfc3339(project.created_at), "updated_at": rfc3339(project.updated_at),
    }


def project_view(project: Any, sources: Sequence[Any]) -> dict[str, Any]:
    """The API / page form of a project (a Project row or a record with its attributes; sources: kind, ref)."""
    return ProjectView.model_validate(_common(project, sources)).model_dump(mode="json")


def project_snapshot(project: Any, sources: Sequence[Any]) -> ProjectSnapshot:
    """The project as the ledger records it at registration (domain.events.ProjectSnapshot, version 1)."""
    data = _common(project, sources)
    data["sources"] = [SourceRef(kind=s["kind"], ref=s["ref"]) for s in data["sources"]]
    return ProjectSnapshot(**data)
