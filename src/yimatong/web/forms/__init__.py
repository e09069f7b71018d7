"""The forms of the staff workbench: every write a person makes in the browser (issue 14), each through the
same command as the API, and the administration pages. One router for the composition root."""

from __future__ import annotations

from fastapi import APIRouter

from yimatong.web.forms import admin, joint, parcels, projects, results, stages

router = APIRouter(include_in_schema=False)
for _module in (projects, stages, results, parcels, joint, admin):
    router.include_router(_module.router)
