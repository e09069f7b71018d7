"""The ledger's event catalogue: every event type with its Chinese label, and an explicit payload model per type.

Payloads are what gets hashed into the ledger, so they are defined here, versioned, and independent of any API
view: changing a response shape never changes future ledger entries. Version 1 of each payload is the shape
the ledger has always held (existing ledgers verify unchanged). A later, incompatible change adds a new model
with `VERSION = 2`, which writes `"v": 2` into its data; data without `"v"` is version 1. Pure.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

EVENT_LABELS: dict[str, str] = {
    "project.registered": "登记赋码",
    "project.updated": "修改项目",
    "project.voided": "作废项目码",
    "project.merged": "合并项目码",
    "project.split": "拆分项目",
    "stage.changed": "阶段办理",
    "result.added": "提交成果",
    "parcel.attached": "挂接地块",
    "review.opened": "疑似重复待复核",
    "review.resolved": "复核处理",
    "import.completed": "清单导入",
    "joint_review.opened": "发起联合审查",
    "joint_review.opinion": "科室签署意见",
    "joint_review.closed": "联合审查办结",
    "registration.ready": "具备登记条件",
    "stage.suspended": "计时中止（补正、听证、公示）",
    "ledger.key_rotated": "更换台账签名密钥",
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_LABELS)


def event_label(type_: str) -> str:
    return EVENT_LABELS.get(type_, type_)


class Payload(BaseModel):
    """Base of every payload model: no unknown fields; `data()` is the dict that goes into the ledger."""

    model_config = ConfigDict(extra="forbid")
    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    #: fields left out of the data when they are None (the ledger never held them as null)
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()

    def data(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        for key in self.OMIT_NONE:
            if out.get(key) is None:
                out.pop(key, None)
        if self.VERSION != 1:
            out["v"] = self.VERSION
        return out


class SourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    ref: str | None


class ProjectSnapshot(BaseModel):
    """A project as the ledger records it at registration (version 1: the fields it has always held, in the
    form they had; new attributes are appended as optional fields and left out when absent)."""

    model_config = ConfigDict(extra="forbid")
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"zone", "edition", "refs"})
    code: str
    name: str
    status: str
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
    sources: list[SourceRef]
    current_stage: str
    code_outdated: bool
    parent_code: str | None
    created_at: str
    updated_at: str
    zone: str | None = None
    edition: str | None = None
    refs: list[dict[str, str]] | None = None

    def data(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        for key in self.OMIT_NONE:
            if out.get(key) is None:
                out.pop(key, None)
        return out


class ProjectRegistered(Payload):
    TYPE = "project.registered"
    project: ProjectSnapshot

    def data(self) -> dict[str, Any]:
        return {"project": self.project.data()}


class ProjectUpdated(Payload):
    TYPE = "project.updated"
    changes: dict[str, dict[str, Any]]  # field → {"from": …, "to": …}


class ProjectVoided(Payload):
    TYPE = "project.voided"
    reason: str


class ProjectMerged(Payload):
    TYPE = "project.merged"
    into: str
    reason: str | None


class ProjectSplit(Payload):
    TYPE = "project.split"
    children: list[str]
    reason: str | None


class StageChanged(Payload):
    TYPE = "stage.changed"
    OMIT_NONE = frozenset({"record_id", "case_no", "department", "started_at", "finished_at", "note", "reason"})
    stage: str
    status: str
    previous: str
    record_id: int | None = None
    case_no: str | None = None
    department: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    note: str | None = None
    reason: str | None = None


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    sha256: str
    size: int


class ResultAdded(Payload):
    TYPE = "result.added"
    result_id: int
    stage: str
    kind: str
    doc_no: str | None
    confidentiality: str
    files: list[FileEntry]


class ParcelAttached(Payload):
    TYPE = "parcel.attached"
    OMIT_NONE = frozenset({"result_id"})
    parcel_id: int
    area_m2: float
    bbox: list[float]
    result_id: int | None = None


class ReviewOpened(Payload):
    TYPE = "review.opened"
    review_id: int
    score: float
    name: str
    kind: str


class ReviewResolved(Payload):
    TYPE = "review.resolved"
    review_id: int
    decision: str
    candidate_code: str
    reason: str | None


class ImportCompleted(Payload):
    TYPE = "import.completed"
    kind: str
    filename: str
    sha256: str
    counts: dict[str, int]


class LedgerKeyRotated(Payload):
    TYPE = "ledger.key_rotated"
    key_id: str
    alg: str
    public_key: str
    previous_key_id: str | None


class JointReviewOpened(Payload):
    """[joint] A stage sent to sections for joint review (会签)."""

    TYPE = "joint_review.opened"
    OMIT_NONE = frozenset({"due"})
    review_id: int
    stage: str
    sections: list[str]
    due: str | None = None


class JointReviewOpinion(Payload):
    """[joint] One section's opinion, signed: what it said is in the ledger, not only its status."""

    TYPE = "joint_review.opinion"
    OMIT_NONE = frozenset({"text", "conditions"})
    review_id: int
    section: str
    status: str
    signed_by: str
    text: str | None = None
    conditions: str | None = None
    result_ids: list[int] = []


class JointReviewClosed(Payload):
    TYPE = "joint_review.closed"
    review_id: int
    status: str


class StageSuspended(Payload):
    """[joint] The clock of a stage stopped (补正, 听证, 公示 …) or resumed (`end` set)."""

    TYPE = "stage.suspended"
    OMIT_NONE = frozenset({"end", "note"})
    suspension_id: int
    stage: str
    kind: str
    start: str
    end: str | None = None
    note: str | None = None


class RegistrationReady(Payload):
    TYPE = "registration.ready"
    code: str


PAYLOADS: dict[str, type[Payload]] = {cls.TYPE: cls for cls in (
    ProjectRegistered, ProjectUpdated, ProjectVoided, ProjectMerged, ProjectSplit, StageChanged, ResultAdded,
    ParcelAttached, ReviewOpened, ReviewResolved, ImportCompleted, LedgerKeyRotated, JointReviewOpened,
    JointReviewOpinion, JointReviewClosed, StageSuspended, RegistrationReady)}


def codes_named(type_: str, code: str | None, data: str) -> set[str]:
    """The project codes an event changes: its own, and a merge's `into` or a split's children (whose parcels and
    stages it moved). Stores kept from the ledger (stored warnings, the map's cells) re-read these projects."""
    named = {code} if code else set()
    if type_ in (ProjectMerged.TYPE, ProjectSplit.TYPE):
        payload = json.loads(data)
        if isinstance(payload.get("into"), str):
            named.add(payload["into"])
        named.update(c for c in payload.get("children") or () if isinstance(c, str))
    return named
