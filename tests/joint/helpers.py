"""Helpers of the joint-review tests: tokens acting for sections, a project at a given stage (over real HTTP)."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import LiveServer, project_body
from yimatong.client.sdk import YmtClient


def section_token(server: LiveServer, section: str, role: str = "approval_system") -> str:
    """`ymt token create --section S`: a client acting for one section (科室)."""
    out = server.ymt("token", "create", "--name", f"{section}-{uuid.uuid4().hex[:6]}", "--role", role,
                     "--section", section)
    return out.stdout.strip().splitlines()[-1]


def client(server: LiveServer, token: str) -> YmtClient:
    return YmtClient(server.url, token, timeout=60)


def project_at_permit(reg: YmtClient, **over: Any) -> str:
    """A 出让 project whose supply is done and whose land-use permit is in progress."""
    code = reg.register_project(project_body(**over))["code"]
    reg.set_stage(code, "land_approval", "done")
    reg.set_stage(code, "supply", "done", started_at="2026-09-01", finished_at="2026-09-20")
    reg.set_stage(code, "land_use_permit", "in_progress", started_at="2026-11-30")
    return code
