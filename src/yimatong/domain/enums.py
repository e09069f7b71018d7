"""The closed vocabularies of the library as string enums, each with its Chinese label. Pure.

The values are the API's (fixed by the contract); the labels are what people read on pages and in exports.
"""

from __future__ import annotations

from enum import StrEnum


class Labelled(StrEnum):
    """A string enum whose members know their Chinese label (`LABELS` maps value → label)."""

    @property
    def label(self) -> str:
        return _LABELS[type(self).__name__][self.value]

    @classmethod
    def labels(cls) -> dict[str, str]:
        return dict(_LABELS[cls.__name__])

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


class ProjectStatus(Labelled):
    ACTIVE = "active"
    VOID = "void"
    MERGED = "merged"


class StageStatus(Labelled):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    RETURNED = "returned"
    NOT_APPLICABLE = "not_applicable"


class Confidentiality(Labelled):
    PUBLIC = "public"
    INTERNAL = "internal"
    RESTRICTED = "restricted"


class SourceKind(Labelled):
    CITY_KEY = "city_key"
    PROVINCE_KEY = "province_key"
    NATIONAL_KEY = "national_key"
    INVESTMENT_PLATFORM = "investment_platform"
    RESERVE_PLAN = "reserve_plan"
    SUPPLY_PLAN = "supply_plan"
    MANUAL = "manual"


class ReviewState(Labelled):
    OPEN = "open"
    MERGED = "merged"
    KEPT = "kept"


class Role(Labelled):
    ADMIN = "admin"
    REGISTRAR = "registrar"
    APPROVAL_SYSTEM = "approval_system"
    REGISTRATION_PLATFORM = "registration_platform"
    BASE_PLATFORM = "base_platform"
    VIEWER = "viewer"


_LABELS: dict[str, dict[str, str]] = {
    "ProjectStatus": {"active": "有效", "void": "作废", "merged": "已合并"},
    "StageStatus": {"pending": "未开始", "in_progress": "办理中", "done": "已办结", "returned": "已退回",
                    "not_applicable": "不适用"},
    "Confidentiality": {"public": "公开", "internal": "内部", "restricted": "受限"},
    "SourceKind": {"city_key": "市重点项目", "province_key": "省重点项目", "national_key": "国家重点项目",
                   "investment_platform": "投资平台", "reserve_plan": "储备计划", "supply_plan": "供应计划",
                   "manual": "手工登记"},
    "ReviewState": {"open": "待复核", "merged": "已并入", "kept": "已另立"},
    "Role": {"admin": "系统管理员", "registrar": "项目库管理员", "approval_system": "一体化审批系统",
             "registration_platform": "不动产登记平台", "base_platform": "国土空间基础信息平台", "viewer": "只读用户"},
}
