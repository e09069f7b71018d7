"""The one policy: who may do which action on what (role × action × stage × confidentiality × district). Pure.

Every route declares the action it performs (one dependency, `api.deps.requires`), and every use case checks it
once, through `Policy.check`, with the stage, the project's division and the section where they matter. The
grants are data: the defaults below are the roles of the API contract; a profile may replace them in its
`policy:` section (and says which roles write which stages in `stage_writers:`).

Confidentiality (contract, "Roles"): a `restricted` result, and everything derived from it (its files, its
parcels, its events, the references taken from its data), is visible only to the privileged roles and to the
role that added it; `public` and `internal` to every authenticated client; without a token only `public`.
District scope (contract, "Tokens, audit, scope"): a client limited to divisions reads nothing outside them
(404, as if it did not exist) and writes nothing outside them (403); admin keeps the whole city.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from yimatong.domain.enums import Confidentiality, Role
from yimatong.errors import Forbidden


class Action(StrEnum):
    READ = "read"                                  # projects, chain, stages, results, parcels, feed, OGC, exports
    PROJECT_REGISTER = "project.register"
    PROJECT_UPDATE = "project.update"
    PROJECT_VOID = "project.void"
    PROJECT_MERGE = "project.merge"
    PROJECT_SPLIT = "project.split"
    STAGE_WRITE = "stage.write"                    # qualified by the stage (stage_writers)
    RESULT_ADD = "result.add"                      # qualified by the stage (stage_writers)
    PARCEL_ATTACH = "parcel.attach"
    IMPORT = "import.run"                          # source lists, parcel files, control layers
    IMPORT_CANCEL = "import.cancel"                # cancel an import job before it publishes
    REVIEW_DECIDE = "review.decide"                # the duplicate queue of imports
    PACKAGE_READ = "package.read"                  # registration / archive ZIPs
    JOINT_REVIEW_OPEN = "joint_review.open"
    OPINION_SIGN = "opinion.sign"                  # qualified by the section (the actor's sections)
    SUBSCRIPTION_MANAGE = "subscription.manage"
    ACCOUNT_MANAGE = "account.manage"              # users and API tokens
    LEDGER_ADMIN = "ledger.admin"                  # verify, keys, checkpoints signed on request
    AUDIT_READ = "audit.read"


ACTION_LABELS: dict[str, str] = {
    "read": "查询数据", "project.register": "登记赋码", "project.update": "修改项目", "project.void": "作废项目码",
    "project.merge": "合并项目码", "project.split": "拆分项目", "stage.write": "办理阶段", "result.add": "提交成果",
    "parcel.attach": "挂接地块", "import.run": "导入数据", "import.cancel": "取消导入任务", "review.decide": "处理复核", "package.read": "调取成果包",
    "joint_review.open": "发起联合审查", "opinion.sign": "签署审查意见", "subscription.manage": "管理订阅",
    "account.manage": "管理用户与令牌", "ledger.admin": "管理台账", "audit.read": "查看访问审计",
}

_LIBRARY = {Action.READ, Action.PROJECT_REGISTER, Action.PROJECT_UPDATE, Action.PROJECT_VOID, Action.PROJECT_MERGE,
            Action.PROJECT_SPLIT, Action.STAGE_WRITE, Action.RESULT_ADD, Action.PARCEL_ATTACH, Action.IMPORT,
            Action.IMPORT_CANCEL, Action.REVIEW_DECIDE, Action.PACKAGE_READ, Action.JOINT_REVIEW_OPEN, Action.OPINION_SIGN}
DEFAULT_GRANTS: dict[str, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.REGISTRAR: frozenset(_LIBRARY),
    Role.APPROVAL_SYSTEM: frozenset({Action.READ, Action.STAGE_WRITE, Action.RESULT_ADD, Action.JOINT_REVIEW_OPEN,
                                     Action.OPINION_SIGN}),
    Role.REGISTRATION_PLATFORM: frozenset({Action.READ, Action.STAGE_WRITE, Action.RESULT_ADD, Action.PACKAGE_READ,
                                           Action.OPINION_SIGN}),
    Role.BASE_PLATFORM: frozenset({Action.READ}),
    Role.VIEWER: frozenset({Action.READ}),
}
#: roles that see every restricted result and write every stage
DEFAULT_PRIVILEGED: frozenset[str] = frozenset({Role.ADMIN, Role.REGISTRAR})
#: roles never limited by district scope
CITY_WIDE: frozenset[str] = frozenset({Role.ADMIN})
STAGE_QUALIFIED = frozenset({Action.STAGE_WRITE, Action.RESULT_ADD})


class StageWriter(BaseModel):
    """Which stages a non-privileged role writes: `only` these, or all `all_except` these."""

    model_config = ConfigDict(extra="forbid")
    all_except: list[str] | None = None
    only: list[str] | None = None

    def allows(self, stage: str) -> bool:
        if self.only is not None:
            return stage in self.only
        return stage not in (self.all_except or [])


class PolicySpec(BaseModel):
    """The `policy:` section of a profile: grants by role (action names), and the privileged roles."""

    model_config = ConfigDict(extra="forbid")
    grants: dict[str, list[str]] | None = None
    privileged: list[str] | None = None

    @field_validator("grants")
    @classmethod
    def _known(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for role, actions in (v or {}).items():
            if role not in Role.values():
                raise ValueError(f"unknown role {role!r} (roles are fixed by the API contract)")
            for a in actions:
                if a not in {x.value for x in Action}:
                    raise ValueError(f"role {role!r}: unknown action {a!r}")
        return v

    @field_validator("privileged")
    @classmethod
    def _roles(cls, v: list[str] | None) -> list[str] | None:
        for role in v or []:
            if role not in Role.values():
                raise ValueError(f"unknown role {role!r}")
        return v


class Principal(Protocol):
    """Who acts: a token's system or a logged-in person (core.context.Actor)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def sections(self) -> frozenset[str]: ...
    @property
    def divisions(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Policy:
    grants: Mapping[str, frozenset[Action]] = field(default_factory=lambda: dict(DEFAULT_GRANTS))
    privileged: frozenset[str] = DEFAULT_PRIVILEGED
    stage_writers: Mapping[str, StageWriter] = field(default_factory=dict)
    #: [joint] section → (roles, user or token names) acting for it, from the profile's `sections:`
    section_members: Mapping[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: PolicySpec | None, stage_writers: Mapping[str, StageWriter],
              section_members: Mapping[str, tuple[frozenset[str], frozenset[str]]] | None = None) -> Policy:
        grants = dict(DEFAULT_GRANTS)
        if spec is not None and spec.grants is not None:
            grants = {role: frozenset(Action(a) for a in actions) for role, actions in spec.grants.items()}
        privileged = frozenset(spec.privileged) if spec is not None and spec.privileged is not None \
            else DEFAULT_PRIVILEGED
        return cls(grants, privileged, dict(stage_writers), dict(section_members or {}))

    # --- what a principal may do --------------------------------------------------------------------------------
    def may(self, who: Principal, action: Action, *, stage: str | None = None, division: str | None = None,
            section: str | None = None) -> bool:
        return self.refusal(who, action, stage=stage, division=division, section=section) is None

    def check(self, who: Principal, action: Action, *, stage: str | None = None, division: str | None = None,
              section: str | None = None) -> None:
        """Raise Forbidden (403) naming what is missing, unless `who` may do `action` here."""
        refused = self.refusal(who, action, stage=stage, division=division, section=section)
        if refused is not None:
            field_name, message = refused
            raise Forbidden(message, [(field_name, message)])

    def refusal(self, who: Principal, action: Action, *, stage: str | None = None, division: str | None = None,
                section: str | None = None) -> tuple[str, str] | None:
        if action not in self.grants.get(who.role, frozenset()):
            return "role", f"角色“{_role_label(who.role)}”无权{ACTION_LABELS.get(action, action)}"
        if stage is not None and action in STAGE_QUALIFIED and not self.writes_stage(who.role, stage):
            return "stage", f"角色“{_role_label(who.role)}”无权办理阶段 {stage}"
        if division is not None and not self.in_scope(who, division):
            return "division", f"{who.name} 的权限限于 {'、'.join(sorted(who.divisions))}，不能操作行政区划 {division} 的项目"
        if action == Action.OPINION_SIGN and section is not None and not self.acts_for(who, section):
            return "section", f"{who.name} 不代表科室 {section}，只能签署本科室的意见"
        return None

    def writes_stage(self, role: str, stage: str) -> bool:
        if role in self.privileged:
            return True
        writer = self.stage_writers.get(role)
        return bool(writer and writer.allows(stage))

    def acts_for(self, who: Principal, section: str) -> bool:
        if who.role == Role.ADMIN or section in who.sections:
            return True
        roles, names = self.section_members.get(section, (frozenset(), frozenset()))
        return who.role in roles or who.name in names

    # --- what a principal may see -------------------------------------------------------------------------------
    def sees_all(self, who: Principal | None) -> bool:
        """Sees every restricted record (the privileged roles)."""
        return who is not None and who.role in self.privileged

    def sees(self, who: Principal | None, confidentiality: str, owner_role: str | None) -> bool:
        """The confidentiality rule for one record already in memory (the SQL form is core.visibility)."""
        if who is None:
            return confidentiality == Confidentiality.PUBLIC
        return self.sees_all(who) or confidentiality != Confidentiality.RESTRICTED or owner_role == who.role

    def in_scope(self, who: Principal | None, division: str | None) -> bool:
        return who is None or not self.scoped(who) or division in who.divisions

    def scoped(self, who: Principal) -> bool:
        """Limited to some divisions (admin keeps the whole city)."""
        return bool(who.divisions) and who.role not in CITY_WIDE

    def stages_written_by(self, role: str, stage_keys: Iterable[str]) -> list[str]:
        return [k for k in stage_keys if self.writes_stage(role, k)]


def _role_label(role: str) -> str:
    try:
        return Role(role).label
    except ValueError:
        return role
