"""The profile: a city's code scheme, code tables, stage catalogue and rules, as validated data.

Pure: built from already-read documents. `yimatong.profiles.loader` does the file reading.

Code tables have editions. A table entry is valid in one or more editions of the code scheme (`code.editions`,
oldest first, the last being `code.edition`, the one codes are issued under now). An entry that is not valid in the
current edition is *retired*: it can no longer be issued or set, but every code issued with it still parses, with
its old label and edition. A code keeps the edition it was issued under: where a later edition reused a value with
another meaning, an issued code reads its segment in its own edition (see `Profile.entry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from yimatong.domain import typed
from yimatong.domain.joint import (
    JointReviewSpec,
    MaterialSpec,
    RegistrationSpec,
    ResultKindSpec,
    SectionSpec,
    TimeLimitSpec,
    profile_errors,
)
from yimatong.domain.policy import Policy, PolicySpec, StageWriter

STAGE_STATUSES = ("pending", "in_progress", "done", "returned", "not_applicable")
Charset = Literal["digits", "upper", "alnum"]


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the entry."""


class SegmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    label: str
    length: int = Field(gt=0, le=12)
    charset: Charset = "digits"
    table: str | None = None
    kind: Literal["coded", "year", "serial"] = "coded"
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _kind_matches(self) -> SegmentSpec:
        if self.kind == "coded" and not self.table:
            raise ValueError(f"segment {self.name!r}: a coded segment needs a `table`")
        return self


class CodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    length: int
    segments: list[SegmentSpec]
    serial_scope: list[str]
    region: str
    to_be_determined: dict[str, str] = {}
    # Editions of the code tables, oldest first; `edition` (the last) is the one codes are issued under now.
    editions: list[str] = []
    edition: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CodeSpec:
        total = sum(s.length for s in self.segments)
        if total != self.length:
            raise ValueError(f"segment lengths add up to {total}, not length {self.length}")
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError("segment names must be unique")
        serials = [s for s in self.segments if s.kind == "serial"]
        if len(serials) != 1:
            raise ValueError("exactly one segment must have kind: serial")
        for n in self.serial_scope:
            if n not in names or n == serials[0].name:
                raise ValueError(f"serial_scope entry {n!r} is not a non-serial segment")
        for n in self.to_be_determined:
            if n not in names:
                raise ValueError(f"to_be_determined names unknown segment {n!r}")
        if self.editions and self.edition != self.editions[-1]:
            raise ValueError("`edition` must be the last (newest) of `editions`")
        if self.edition and not self.editions:
            self.editions = [self.edition]
        return self


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    group: str | None = None
    repeatable: bool = False


class PrerequisiteRule(BaseModel):
    """`when` limits a rule to projects whose attributes have one of the listed values: a key is a coded attribute
    (`supply_type`), `zone`, or an attribute's table column (`supply_type.group` reads the column `group` of the
    supply type's table entry)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    stage: str
    applies_to: list[str] = ["in_progress", "done"]
    requires: dict[str, list[str]]
    when: dict[str, list[str]] = {}
    message: str

    @field_validator("applies_to")
    @classmethod
    def _statuses(cls, v: list[str]) -> list[str]:
        for s in v:
            if s not in STAGE_STATUSES:
                raise ValueError(f"unknown stage status {s!r}")
        return v


# The regulations each supervision rule comes from (national; a profile may override the text).
REGULATIONS = {
    "approved_not_supplied": "《自然资源部关于健全建设用地“增存挂钩”机制的通知》（自然资规〔2018〕1号）",
    "idle_land": "《闲置土地处置办法》（国土资源部令第53号）第二条、第十四条",
    "idle_land_pre": "《闲置土地处置办法》（国土资源部令第53号）第二条（动工开发日期）、第四章 预防和监管",
    "overdue_completion": "《国有建设用地使用权出让合同》约定的竣工期限",
    "registration_lag": "《不动产登记暂行条例》",
    "built_not_verified": "《中华人民共和国城乡规划法》第四十五条（未经规划核实不得组织竣工验收）",
    "built_before_supply": "《中华人民共和国土地管理法》第七十七条（未经批准非法占用土地）",
    "built_before_permit": "《中华人民共和国城乡规划法》第四十条、第六十四条（未取得建设工程规划许可证进行建设）",
    "compensation_missing": "《中华人民共和国土地管理法》第三十条（占用耕地补偿制度）",
    "pre_review_expired": "《自然资源部关于以“多规合一”为基础推进规划用地“多审合一、多证合一”改革的通知》"
                          "（自然资规〔2019〕2号）：用地预审与选址意见书有效期三年",
    "code_outdated": "项目码编码规则（编码段与项目属性一致）",
    "overdue_step": "《中华人民共和国行政许可法》第四十二条（办理期限）、第四十五条（听证、公示等所需时间不计算在期限内）、"
                    "第八十二条（期限以工作日计算，不含法定节假日）；时限见配置 time_limits",
    "overdue_review": "本局联合审查（会签）规则：会签科室应在期限内签署意见（《行政许可法》第二十六条 联合办理、集中办理）",
}
SUPPLY_DATA_KEYS = ("agreed_start", "agreed_finish", "agreed_delivery", "actual_delivery", "developed_area_ratio",
                    "invested_ratio", "suspended_since", "government_cause")


def _fraction(text: str) -> Fraction:
    try:
        value = Fraction(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a fraction such as 1/3 or 0.25") from None
    if not 0 <= value <= 1:
        raise ValueError(f"{text!r} must lie between 0 and 1")
    return value


class SupervisionSpec(BaseModel):
    """Thresholds of the supervision rules (domain/supervision.py says which rule reads which)."""

    model_config = ConfigDict(extra="forbid")
    approved_not_supplied_years: float = 2
    approved_not_supplied_age_bands: list[float] = [2, 5]   # the stock by age: ≤ 2 years, 2–5, > 5
    idle_land_level1_years: float = 1
    idle_land_level2_years: float = 2
    idle_developed_area_min: str = "1/3"    # 第53号令 第二条: 开发面积不足三分之一
    idle_invested_min: str = "1/4"          # 已投资额不足百分之二十五
    idle_suspended_years: float = 1         # 中止开发建设满一年
    idle_confirm_kinds: list[str] = ["闲置土地认定书"]   # a result of one of these kinds confirms 闲置土地
    idle_land_pre_days: int = 0             # 供而未用: warn this many days after the agreed start
    built_not_verified_days: int = 90       # 建而未验
    pre_review_valid_years: float = 3       # 预审过期
    compensation_missing_days: int = 0      # 占补平衡
    overdue_completion_grace_days: int = 0
    registration_lag_days: int = 90
    overlap_tolerance_m2: float = 1.0
    supply_data_keys: dict[str, str] = {}
    regulations: dict[str, str] = {}

    @field_validator("idle_developed_area_min", "idle_invested_min")
    @classmethod
    def _is_fraction(cls, v: str) -> str:
        _fraction(v)
        return str(v)

    @field_validator("approved_not_supplied_age_bands")
    @classmethod
    def _ascending(cls, v: list[float]) -> list[float]:
        if not v or sorted(v) != v or len(set(v)) != len(v) or v[0] <= 0:
            raise ValueError("age bands must be positive years in ascending order, e.g. [2, 5]")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> SupervisionSpec:
        self.supply_data_keys = {k: k for k in SUPPLY_DATA_KEYS} | self.supply_data_keys
        self.regulations = REGULATIONS | self.regulations
        return self

    @property
    def developed_area_min(self) -> Fraction:
        return _fraction(self.idle_developed_area_min)

    @property
    def invested_min(self) -> Fraction:
        return _fraction(self.idle_invested_min)


class LandUseEdition(BaseModel):
    """An edition a land-use column of a source list may be written in: its table, and the mapping into the
    land-use segment's current edition (none: the table is the segment's own)."""

    model_config = ConfigDict(extra="forbid")
    label: str
    table: str
    map: str | None = None
    markers: list[str] = []     # words in a column header that declare this edition, e.g. 三调, GB/T 21010


class IntakeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    land_use_default: str | None = None
    land_use_editions: dict[str, LandUseEdition] = {}
    retired_markers: list[str] = []   # header words naming an edition no list may be read in (2020 试行版)

    @model_validator(mode="after")
    def _default_known(self) -> IntakeSpec:
        if self.land_use_editions and self.land_use_default not in self.land_use_editions:
            raise ValueError("`land_use_default` must be one of `land_use_editions`")
        return self


class ProfileDoc(BaseModel):
    """The shape of profile.yaml (tables, zones and mappings are resolved separately)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    city: str
    public_base_url: str | None = None
    time_zone: str = "Asia/Shanghai"
    code: CodeSpec
    tables: dict[str, dict]
    zones: dict[str, Any] | None = None
    mappings: dict[str, dict[str, Any]] = {}
    division_boundaries: str | None = None
    stages: list[StageSpec]
    prerequisites: list[PrerequisiteRule] = []
    stage_writers: dict[str, StageWriter] = {}
    policy: PolicySpec | None = None
    supervision: SupervisionSpec = SupervisionSpec()
    packages: dict[str, list[str]] = {}
    ledger: dict[str, Literal["sha256", "sm3", "ed25519", "sm2"]] = {}  # {hash: sha256|sm3, signature: ed25519|sm2}
    intake: IntakeSpec = IntakeSpec()
    # [joint] sections, joint reviews, materials, typed result kinds, time limits, registration (domain/joint.py)
    sections: list[SectionSpec] = []
    joint_reviews: dict[str, JointReviewSpec] = {}
    materials: dict[str, list[MaterialSpec]] = {}
    result_kinds: dict[str, ResultKindSpec] = {}
    time_limits: TimeLimitSpec = TimeLimitSpec()
    registration: RegistrationSpec = RegistrationSpec()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai)") from None
        return v


@dataclass(frozen=True)
class CodeEntry:
    """One value of a code table. `editions`: the editions it is valid in (empty: every edition); `edition` the
    newest of them. `in_code`: a value a code segment may carry (other levels of a classification, e.g. the
    first and third levels of the land-use guide, are listed for reference and attributes only)."""

    value: str
    label: str
    internal: bool = False
    editions: frozenset[str] = frozenset()
    edition: str | None = None
    retired: bool = False
    replaced_by: str | None = None
    aliases: tuple[str, ...] = ()
    level: int | None = None
    parent: str | None = None
    in_code: bool = True
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def valid_in(self, edition: str | None) -> bool:
        return not self.editions or edition is None or edition in self.editions


@dataclass(frozen=True)
class ZoneEntry:
    """A functional zone (经开区, 管理区 …): no GB/T 2260 code of its own, it belongs to one division."""

    value: str
    label: str
    division: str
    aliases: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class MapTarget:
    value: str
    exact: bool


@dataclass
class Profile:
    """A loaded, cross-checked profile. Everything the domain needs to know about a city."""

    id: str
    title: str
    city: str
    public_base_url: str | None
    code: CodeSpec
    tables: dict[str, list[CodeEntry]]
    stages: list[StageSpec]
    prerequisites: list[PrerequisiteRule]
    stage_writers: dict[str, StageWriter]
    supervision: SupervisionSpec
    division_boundaries: str | None = None
    packages: dict[str, list[str]] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    ledger: dict[str, str] = field(default_factory=dict)  # 国密 option: the hash and signature of a new database
    directory: Path | None = None
    time_zone: str = "Asia/Shanghai"
    zones: list[ZoneEntry] = field(default_factory=list)
    mappings: dict[str, dict[str, MapTarget]] = field(default_factory=dict)
    intake: IntakeSpec = field(default_factory=IntakeSpec)
    sections: list[SectionSpec] = field(default_factory=list)
    joint_reviews: dict[str, JointReviewSpec] = field(default_factory=dict)
    materials: dict[str, list[MaterialSpec]] = field(default_factory=dict)
    result_kinds: dict[str, ResultKindSpec] = field(default_factory=dict)
    time_limits: TimeLimitSpec = field(default_factory=TimeLimitSpec)
    registration: RegistrationSpec = field(default_factory=RegistrationSpec)
    _by_value: dict[str, dict[str, list[CodeEntry]]] = field(default_factory=dict, repr=False)
    _segments: dict[str, SegmentSpec] = field(default_factory=dict, repr=False)
    _zones: dict[str, ZoneEntry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_value = {}
        for name, entries in self.tables.items():
            groups: dict[str, list[CodeEntry]] = {}
            for e in entries:
                groups.setdefault(e.value, []).append(e)
            self._by_value[name] = groups
        self._segments = {s.name: s for s in self.code.segments}
        self._zones = {z.value: z for z in self.zones}

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def edition(self) -> str | None:
        """The edition codes are issued under now (recorded on every project at registration)."""
        return self.code.edition

    def entry(self, table: str, value: str, edition: str | None = None) -> CodeEntry | None:
        """The entry of `value` as read in `edition` (a code's own edition), else in the current edition, else
        the newest retired one: every value ever issued keeps parsing."""
        found = self._by_value.get(table, {}).get(value, [])
        if not found:
            return None
        if edition is not None:
            mine = next((e for e in found if e.editions and edition in e.editions), None)
            if mine is not None:
                return mine
        current = next((e for e in found if not e.retired), None)
        return current or max(found, key=lambda e: self._edition_rank(e.edition))

    def _edition_rank(self, edition: str | None) -> int:
        return self.code.editions.index(edition) if edition in self.code.editions else -1

    def segment_edition(self, entry: CodeEntry, edition: str | None) -> str | None:
        """The edition a segment is read in: the code's own when the entry is valid in it, else the entry's."""
        if not entry.editions:
            return None
        return edition if edition in entry.editions else entry.edition

    def label(self, table: str, value: str, edition: str | None = None) -> str | None:
        entry = self.entry(table, value, edition)
        return entry.label if entry else None

    def has_value(self, table: str, value: str) -> bool:
        """A value that may be issued or set now: in the current edition, not retired, a segment-level class."""
        entry = self.entry(table, value)
        return entry is not None and not entry.retired and entry.in_code

    def issuable(self, table: str) -> list[CodeEntry]:
        return [e for e in self.tables.get(table, []) if not e.retired and e.in_code]

    def zone(self, value: str) -> ZoneEntry | None:
        return self._zones.get(value)

    def column(self, table: str, value: str, column: str) -> str | None:
        """A further column of a table entry (e.g. the supply type's `right_type_code`)."""
        entry = self.entry(table, value)
        return entry.extra.get(column) if entry else None

    def stage(self, key: str) -> StageSpec | None:
        return next((s for s in self.stages if s.key == key), None)

    @property
    def stage_keys(self) -> list[str]:
        return [s.key for s in self.stages]

    def section(self, value: str) -> SectionSpec | None:
        return next((s for s in self.sections if s.value == value), None)

    def segment(self, name: str) -> SegmentSpec:
        return self._segments[name]

    @property
    def coded_segments(self) -> list[SegmentSpec]:
        return [s for s in self.code.segments if s.kind == "coded"]


def build_profile(doc: dict, tables: dict[str, list[CodeEntry]], source: str, zones: list[ZoneEntry] | None = None,
                  mappings: dict[str, dict[str, MapTarget]] | None = None) -> Profile:
    """Validate the profile document against its tables; raise ProfileError naming the entry."""
    try:
        parsed = ProfileDoc.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ProfileError(f"{source}: entry `{where}`: {err['msg']}") from None
    _check_tables(parsed, tables, source)
    _check_stages(parsed, source)
    _check_zones(zones or [], tables, source)
    _check_intake(parsed, tables, mappings or {}, source)
    _check_joint(parsed, source)
    return Profile(
        id=parsed.id, title=parsed.title, city=parsed.city, public_base_url=parsed.public_base_url,
        code=parsed.code, tables=tables, stages=parsed.stages, prerequisites=parsed.prerequisites,
        stage_writers=parsed.stage_writers, supervision=parsed.supervision,
        division_boundaries=parsed.division_boundaries, packages=parsed.packages, ledger=dict(parsed.ledger),
        policy=Policy.build(parsed.policy, parsed.stage_writers,
                            {s.value: (frozenset(s.roles), frozenset(s.users)) for s in parsed.sections}),
        time_zone=parsed.time_zone, zones=zones or [], mappings=mappings or {}, intake=parsed.intake,
        sections=parsed.sections, joint_reviews=parsed.joint_reviews, materials=parsed.materials,
        result_kinds=parsed.result_kinds, time_limits=parsed.time_limits, registration=parsed.registration,
    )


def _check_tables(doc: ProfileDoc, tables: dict[str, list[CodeEntry]], source: str) -> None:
    for seg in doc.code.segments:
        if seg.kind != "coded":
            continue
        entries = [e for e in tables.get(seg.table or "", []) if e.in_code]
        if not entries:
            raise ProfileError(f"{source}: segment `{seg.name}` uses table `{seg.table}`, which is missing or empty")
        for e in entries:
            if len(e.value) != seg.length or not _charset_ok(e.value, seg.charset):
                raise ProfileError(
                    f"{source}: table `{seg.table}` value {e.value!r} does not fit segment `{seg.name}` "
                    f"({seg.length} {seg.charset} characters)"
                )
            for ed in e.editions:
                if ed not in doc.code.editions:
                    raise ProfileError(f"{source}: table `{seg.table}` value {e.value!r}: edition {ed!r} is not "
                                       f"one of `code.editions`")
        keys = [(e.value, tuple(sorted(e.editions))) for e in entries]
        if len(set(keys)) != len(keys):
            raise ProfileError(f"{source}: table `{seg.table}` has duplicate values")
    region = doc.code.region
    if not any(e.value == region for e in tables.get("region", [])):
        raise ProfileError(f"{source}: entry `code.region`: {region!r} is not in table `region`")
    for seg_name, value in doc.code.to_be_determined.items():
        seg = next(s for s in doc.code.segments if s.name == seg_name)
        if not any(e.value == value and not e.retired for e in tables.get(seg.table or "", [])):
            raise ProfileError(f"{source}: entry `code.to_be_determined.{seg_name}`: {value!r} not in its table")


def _check_stages(doc: ProfileDoc, source: str) -> None:
    keys = [s.key for s in doc.stages]
    if len(set(keys)) != len(keys):
        raise ProfileError(f"{source}: entry `stages`: duplicate stage keys")
    for purpose, stage_keys in doc.packages.items():
        for k in stage_keys:
            if k not in keys:
                raise ProfileError(f"{source}: entry `packages.{purpose}`: unknown stage {k!r}")
    attributes = {s.name for s in doc.code.segments if s.kind == "coded"} | {"zone"}
    for i, rule in enumerate(doc.prerequisites):
        for k in [rule.stage, *rule.requires]:
            if k not in keys:
                raise ProfileError(f"{source}: entry `prerequisites.{i}` ({rule.id}): unknown stage {k!r}")
        for k in rule.when:
            if k.split(".", 1)[0] not in attributes:
                raise ProfileError(f"{source}: entry `prerequisites.{i}.when` ({rule.id}): unknown attribute {k!r}")


def _check_joint(doc: ProfileDoc, source: str) -> None:
    keys = [s.key for s in doc.stages]
    problems = profile_errors(doc.sections, doc.joint_reviews, doc.materials, doc.result_kinds, doc.time_limits, keys)
    for kind, spec in doc.result_kinds.items():
        bad = typed.check_schema(spec.schema_)
        if bad:
            problems.append(f"result_kinds.{kind}.schema: {bad}")
    if problems:
        raise ProfileError(f"{source}: entry `{problems[0]}`")


def _check_zones(zones: list[ZoneEntry], tables: dict[str, list[CodeEntry]], source: str) -> None:
    divisions = {e.value for e in tables.get("division", [])}
    seen: set[str] = set()
    for z in zones:
        if z.division not in divisions:
            raise ProfileError(f"{source}: zone {z.value!r}: division {z.division!r} is not in table `division`")
        if z.value in seen:
            raise ProfileError(f"{source}: zone {z.value!r} appears twice")
        seen.add(z.value)


def _check_intake(doc: ProfileDoc, tables: dict[str, list[CodeEntry]], mappings: dict[str, Any], source: str
                  ) -> None:
    for name, ed in doc.intake.land_use_editions.items():
        if ed.table not in tables:
            raise ProfileError(f"{source}: entry `intake.land_use_editions.{name}`: unknown table {ed.table!r}")
        if ed.map is not None and ed.map not in mappings:
            raise ProfileError(f"{source}: entry `intake.land_use_editions.{name}`: unknown mapping {ed.map!r}")


def merge_editions(current: list[CodeEntry], edition: str, previous: list[tuple[str, list[CodeEntry], dict[str, str]]],
                   segment_length: int | None, source: str) -> list[CodeEntry]:
    """Entries of the current edition plus those of earlier editions. An earlier value with the same label as the
    current one is the same entry, valid in both; a value listed in that edition's `changes` (old → new) is a
    retired entry of its own, replaced by the new value (a third-level class is replaced by its second-level
    parent: that is what a code segment can carry). Any other difference is an error in the tables."""
    by_value = {e.value: e for e in current}
    editions = {e.value: {edition} for e in current}
    out_old: list[CodeEntry] = []
    for old_edition, entries, changes in previous:
        for old in entries:
            now = by_value.get(old.value)
            renamed = old.value in changes and changes[old.value] != old.value
            if not renamed and now is not None and now.label == old.label:
                editions[old.value].add(old_edition)
                continue
            if old.value not in changes and now is not None:
                raise ProfileError(f"{source}: edition {old_edition} value {old.value!r} ({old.label}) differs from "
                                   f"edition {edition} ({now.label}) but is not listed among the changes")
            replaced = _segment_value(by_value, changes.get(old.value), segment_length)
            out_old.append(CodeEntry(old.value, old.label, old.internal, frozenset({old_edition}), old_edition,
                                     True, replaced, old.aliases, old.level, old.parent, old.in_code, old.extra))
    merged = [CodeEntry(e.value, e.label, e.internal, frozenset(editions[e.value]), edition, e.retired,
                        e.replaced_by, e.aliases, e.level, e.parent, e.in_code, e.extra) for e in current]
    return merged + out_old


def _segment_value(by_value: dict[str, CodeEntry], value: str | None, length: int | None) -> str | None:
    """The value a code segment carries for `value`: itself, or its nearest ancestor of the segment's length."""
    seen = 0
    while value is not None and length is not None and len(value) > length and seen < 5:
        entry = by_value.get(value)
        value = entry.parent if entry else value[:length]
        seen += 1
    return value


def digits_only(text: str) -> bool:
    """ASCII 0-9 only. str.isdigit() alone also accepts ²³ and full-width digits, which int() then refuses or
    turns into codes no other system would match."""
    return text.isascii() and text.isdigit()


def _charset_ok(value: str, charset: str) -> bool:
    if charset == "digits":
        return digits_only(value)
    if charset == "upper":
        return value.isascii() and value.isalpha() and value.isupper()
    return value.isascii() and value.isalnum() and value == value.upper()


def charset_ok(value: str, charset: str) -> bool:
    return _charset_ok(value, charset)
