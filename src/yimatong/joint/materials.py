"""The materials catalogue (要件清单) of a stage, answered for one project: each material with the result that
satisfies it (the newest visible result of its kind from its stage) or missing. What a reader sees is what its
view allows: a restricted result it may not see is "missing" for it (precise sharing, 精准共享)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from yimatong.core.context import App
from yimatong.core.visibility import View
from yimatong.domain.joint import MaterialSpec
from yimatong.results import service as results
from yimatong.storage.models import Project, Result


def satisfying(rows: list[Result], spec: MaterialSpec) -> Result | None:
    """The newest result of the material's kind from its stage (rows in time order)."""
    found = [r for r in rows if r.kind == spec.kind and r.stage == spec.from_stage]
    return found[-1] if found else None


def catalogue(session: Session, app: App, view: View, project: Project, stage: str) -> list[dict[str, Any]]:
    specs = app.profile.materials.get(stage, [])
    if not specs:
        return []
    rows = results.visible_results(session, view, [project.id])
    chosen = {i: satisfying(rows, spec) for i, spec in enumerate(specs)}
    files = results.files_of(session, view, [r.id for r in chosen.values() if r is not None])
    out = []
    for i, spec in enumerate(specs):
        r = chosen[i]
        out.append({"name": spec.name, "kind": spec.kind, "from_stage": spec.from_stage, "required": spec.required,
                    "spared": spec.spared, "result_id": r.id if r else None,
                    "doc_no": r.doc_no if r else None, "issued_at": r.issued_at if r else None,
                    "files": [{"id": f.id, "name": f.name, "sha256": f.sha256} for f in files.get(r.id, [])]
                    if r else []})
    return out
