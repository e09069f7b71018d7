"""Joint review (联合审批/会签), the materials catalogue (要件清单), typed results and time limits: the profile's
sections of them, as validated data, and the pure rules (how a review closes). Pure.

The profile says which sections (科室) exist and who acts for them, which sections review each stage by default,
which materials each stage needs (the result kind that satisfies each one and where it comes from), the JSON
Schema of each typed result kind, and the time limits in working days (domain/workdays.py counts them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from yimatong.domain import workdays

OPINION_STATUSES = ("pending", "agree", "agree_with_conditions", "disagree", "returned")
SIGNED_STATUSES = OPINION_STATUSES[1:]
AGREEING = frozenset({"agree", "agree_with_conditions"})
REFUSING = frozenset({"disagree", "returned"})
REVIEW_STATUSES = ("open", "agreed", "returned")
OPINION_LABELS = {"pending": "待签署", "agree": "同意", "agree_with_conditions": "有条件同意", "disagree": "不同意",
                  "returned": "退回"}
REVIEW_LABELS = {"open": "审查中", "agreed": "通过", "returned": "退回"}


class SectionSpec(BaseModel):
    """A bureau section (科室): its code, its name, and the roles / user or token names that act for it (besides
    the sections a token or user carries itself)."""

    model_config = ConfigDict(extra="forbid")
    value: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    roles: list[str] = []
    users: list[str] = []


class JointReviewSpec(BaseModel):
    """The default sections of a stage's joint review and its closing rule."""

    model_config = ConfigDict(extra="forbid")
    sections: list[str]
    close: Literal["all_agree"] = "all_agree"


class MaterialSpec(BaseModel):
    """One material (要件) a stage needs: the result kind that satisfies it, from which stage, required or
    optional, and whether the applicant is spared it because the library holds it (免提交)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str
    from_stage: str
    required: bool = True
    spared: bool = True


class ResultKindSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str
    schema_: dict[str, Any] = Field(alias="schema")


class YearSpec(BaseModel):
    """A year's official holiday arrangement (国务院办公厅 放假安排通知), for a year the library lacks."""

    model_config = ConfigDict(extra="forbid")
    source: str                       # the notice it is copied from (文号), required: never a guess
    holidays: list[dt.date] = []
    workdays: list[dt.date] = []      # 调休: weekend days that are working days


class TimeLimitSpec(BaseModel):
    """Limits in working days: per stage, and for a joint review's opinions; the kinds of suspension; the
    arrangements of years the holiday library does not know yet."""

    model_config = ConfigDict(extra="forbid")
    stages: dict[str, int] = {}
    joint_review: int | None = None
    suspension_kinds: dict[str, str] = {"correction": "补正材料", "hearing": "听证", "publicity": "公示"}
    calendar: dict[int, YearSpec] = {}

    def working_calendar(self) -> workdays.Calendar:
        return workdays.Calendar({y: workdays.YearArrangement(frozenset(s.holidays), frozenset(s.workdays))
                                  for y, s in self.calendar.items()})


class RegistrationSpec(BaseModel):
    """Where zero-material registration reads its facts (registration.json)."""

    model_config = ConfigDict(extra="forbid")
    stage: str = "registration"
    contract_kinds: list[str] = ["国有建设用地使用权出让合同", "国有建设用地划拨决定书"]
    deed_tax_kinds: list[str] = ["契税完税凭证"]
    certificate_kinds: list[str] = ["不动产权证书"]
    #: the registration stage set `done` while readiness is false needs a `reason` (409 otherwise). Off by default:
    #: v1 registration platforms report `done` without one, and the contract keeps v1 valid.
    done_needs_reason: bool = False


def review_outcome(statuses: Iterable[str]) -> str:
    """`all_agree`: any disagree/returned → returned; every section agreeing (with or without conditions) →
    agreed; else still open."""
    seen = list(statuses)
    if any(s in REFUSING for s in seen):
        return "returned"
    if seen and all(s in AGREEING for s in seen):
        return "agreed"
    return "open"


def profile_errors(sections: list[SectionSpec], reviews: dict[str, JointReviewSpec],
                   materials: dict[str, list[MaterialSpec]], kinds: dict[str, ResultKindSpec],
                   limits: TimeLimitSpec, stage_keys: list[str]) -> list[str]:
    """Cross-checks of these profile sections (the entry named in each message)."""
    known = {s.value for s in sections}
    out = []
    if len(known) != len(sections):
        out.append("sections: duplicate section values")
    for stage, spec in reviews.items():
        if stage not in stage_keys:
            out.append(f"joint_reviews.{stage}: unknown stage")
        out += [f"joint_reviews.{stage}: unknown section {s!r}" for s in spec.sections if s not in known]
    for stage, items in materials.items():
        if stage not in stage_keys:
            out.append(f"materials.{stage}: unknown stage")
        out += [f"materials.{stage}.{i}: unknown from_stage {m.from_stage!r}" for i, m in enumerate(items)
                if m.from_stage not in stage_keys]
    out += [f"result_kinds.{k}: unknown stage {v.stage!r}" for k, v in kinds.items() if v.stage not in stage_keys]
    out += [f"time_limits.stages.{k}: unknown stage" for k in limits.stages if k not in stage_keys]
    out += [f"time_limits.stages.{k}: a limit is a positive number of working days" for k, v in limits.stages.items()
            if v <= 0]
    for year, arrangement in limits.calendar.items():
        days = [*arrangement.holidays, *arrangement.workdays]
        out += [f"time_limits.calendar.{year}: {d} is not in {year}" for d in days if d.year != year]
    return out
