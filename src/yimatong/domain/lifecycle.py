"""Lifecycle rules (批供用补查登): stage transitions checked against the profile's prerequisites. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from yimatong.domain.profile import STAGE_STATUSES, Profile


class LifecycleError(ValueError):
    def __init__(self, field: str, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.rule = rule


@dataclass(frozen=True)
class RuleViolation:
    rule: str
    message: str


def check_status(status: object) -> str:
    if status not in STAGE_STATUSES:
        raise LifecycleError("status", f"阶段状态（status）必须是 {', '.join(STAGE_STATUSES)} 之一，收到 {status!r}")
    return str(status)


def check_transition(profile: Profile, stage: str, new_status: str, current: dict[str, str]) -> RuleViolation | None:
    """The first prerequisite rule broken by moving `stage` to `new_status`, given current statuses."""
    for rule in profile.prerequisites:
        if rule.stage != stage or new_status not in rule.applies_to:
            continue
        for required, allowed in rule.requires.items():
            if current.get(required, "pending") not in allowed:
                return RuleViolation(rule.id, rule.message)
    return None


def current_stage(profile: Profile, statuses: dict[str, str]) -> str:
    """The latest stage in catalogue order that is not pending (`intake` once registered)."""
    latest = profile.stages[0].key
    for spec in profile.stages:
        if spec.repeatable:
            continue
        if statuses.get(spec.key, "pending") not in ("pending", "not_applicable"):
            latest = spec.key
    return latest
