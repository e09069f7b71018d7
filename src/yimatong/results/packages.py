"""Packages: everything a purpose needs under one code, as a streamed ZIP with a manifest.
`registration` (码上直办: zero-material acceptance at the registration centre), `archive` (一码归档)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import zipstream
from sqlalchemy.orm import Session

from yimatong.core.context import Actor, App, now, rfc3339
from yimatong.core.visibility import View
from yimatong.domain.policy import Action
from yimatong.errors import invalid
from yimatong.projects import registry
from yimatong.results import service as results
from yimatong.stages import service as stages
from yimatong.storage.models import Project

#: extra JSON documents of a package, built in its read transaction (e.g. registration.json, by joint/readiness)
Extra = Callable[[Session, View, Project], dict[str, Any]]

PURPOSES = ("registration", "archive")


def build(app: App, actor: Actor, code: str, purpose: str, extra: Extra | None = None
          ) -> tuple[str, Iterator[bytes]]:
    """Collect the manifest in one read transaction, then stream file bytes from the store. `extra` adds JSON
    documents by name (the registration package's registration.json)."""
    if purpose not in PURPOSES:
        raise invalid("purpose", "purpose 应为 registration 或 archive")
    app.profile.policy.check(actor, Action.PACKAGE_READ)
    view = View.of(app, actor)
    t = now()
    with app.db.read() as session:
        project = registry.get(session, code, view)
        wanted = app.profile.packages.get(purpose)
        chosen = [r for r in results.visible_results(session, view, [project.id])
                  if purpose == "archive" or not wanted or r.stage in wanted]
        manifest: dict[str, Any] = {
            "purpose": purpose, "generated_at": rfc3339(t), "generated_by": actor.name,
            # for the people reading the package: the same instant in the profile's time zone
            "generated_at_local": t.astimezone(app.profile.tz).isoformat(timespec="seconds"),
            "time_zone": app.profile.time_zone,
            "project": registry.project_dict(session, project, view=view),
            "stages": stages.stage_list(session, app, project),
            "results": results.as_dicts(session, view, chosen, {project.id: project.code}),
        }
        documents = extra(session, view, project) if extra is not None else {}
    zs = zipstream.ZipStream(compress_type=zipstream.ZIP_DEFLATED, sized=False)
    zs.add(json.dumps(manifest, ensure_ascii=False, indent=2).encode(), "manifest.json")
    for name, doc in documents.items():
        zs.add(json.dumps(doc, ensure_ascii=False, indent=2).encode(), name)
    for res in manifest["results"]:
        for f in res["files"]:
            zs.add(app.blobs.iter_bytes(f["sha256"]), arcname(res, f))
    return f"{code}-{purpose}.zip", iter(zs)


def arcname(res: dict[str, Any], f: dict[str, Any]) -> str:
    """Where a file sits in the ZIP: by stage and result, names kept as people gave them — every part made safe
    (a result kind is free text: `../` in it must not climb out of the archive when someone unpacks it)."""
    return "/".join(("results", _part(res["stage"]), _part(f"{res['id']}-{res['kind']}"),
                     _part(f"{f['id']}-{f['name']}")))


_UNSAFE = re.compile(r"[\\/\x00-\x1f\x7f:*?\"<>|]")


def _part(text: str) -> str:
    """One path component: no separators, control or reserved characters, never `.` or `..`."""
    cleaned = _UNSAFE.sub("_", text).strip().strip(".")
    return cleaned[:150] or "_"
