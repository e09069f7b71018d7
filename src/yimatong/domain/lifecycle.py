"""Lifecycle rules (批供用补查登): stage transitions checked against the profile's prerequisites. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def check_transition(profile: Profile, stage: str, new_status: str, current: dict[str, str],
                     attrs: Mapping[str, Any] | None = None) -> RuleViolation | None:
    """The first prerequisite rule broken by moving `stage` to `new_status`, given current statuses and the
    project's attributes (a rule with `when:` applies only to projects it names; without attributes it does
    not apply)."""
    for rule in profile.prerequisites:
        if rule.stage != stage or new_status not in rule.applies_to:
            continue
        if rule.when and (attrs is None or not rule_applies(profile, rule.when, attrs)):
            continue
        for required, allowed in rule.requires.items():
            if current.get(required, "pending") not in allowed:
                return RuleViolation(rule.id, rule.message)
    return None


def rule_applies(profile: Profile, when: Mapping[str, list[str]], attrs: Mapping[str, Any]) -> bool:
    """Every `when` key holds one of its values: `supply_type` is the attribute, `supply_type.group` the column
    `group` of that attribute's table entry."""
    for key, allowed in when.items():
        name, _, column = key.partition(".")
        value = attrs.get(name)
        if column:
            seg = next((s for s in profile.coded_segments if s.name == name), None)
            value = profile.column(seg.table, str(value), column) if seg and seg.table and value is not None else None
        if value is None or str(value) not in allowed:
            return False
    return True


def current_stage(profile: Profile, statuses: dict[str, str]) -> str:
    """The latest stage in catalogue order that is not pending (`intake` once registered)."""
    latest = profile.stages[0].key
    for spec in profile.stages:
        if spec.repeatable:
            continue
        if statuses.get(spec.key, "pending") not in ("pending", "not_applicable"):
            latest = spec.key
    return latest
