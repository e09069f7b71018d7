"""The profile: a city's code scheme, code tables, stage catalogue and rules, as validated data.

Pure: built from already-read documents. `yimatong.profiles.loader` does the file reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
        return self


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    group: str | None = None
    repeatable: bool = False


class PrerequisiteRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    stage: str
    applies_to: list[str] = ["in_progress", "done"]
    requires: dict[str, list[str]]
    message: str

    @field_validator("applies_to")
    @classmethod
    def _statuses(cls, v: list[str]) -> list[str]:
        for s in v:
            if s not in STAGE_STATUSES:
                raise ValueError(f"unknown stage status {s!r}")
        return v


class SupervisionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approved_not_supplied_years: float = 2
    idle_land_level1_years: float = 1
    idle_land_level2_years: float = 2
    overdue_completion_grace_days: int = 0
    registration_lag_days: int = 90
    overlap_tolerance_m2: float = 1.0
    supply_data_keys: dict[str, str] = {"agreed_start": "agreed_start", "agreed_finish": "agreed_finish"}


class ProfileDoc(BaseModel):
    """The shape of profile.yaml (tables are resolved separately)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    city: str
    public_base_url: str | None = None
    code: CodeSpec
    tables: dict[str, dict]
    division_boundaries: str | None = None
    stages: list[StageSpec]
    prerequisites: list[PrerequisiteRule] = []
    stage_writers: dict[str, StageWriter] = {}
    policy: PolicySpec | None = None
    supervision: SupervisionSpec = SupervisionSpec()
    packages: dict[str, list[str]] = {}
    ledger: dict[str, Literal["sha256", "sm3", "ed25519", "sm2"]] = {}  # {hash: sha256|sm3, signature: ed25519|sm2}


@dataclass(frozen=True)
class CodeEntry:
    value: str
    label: str
    internal: bool = False


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
    _lookup: dict[str, dict[str, CodeEntry]] = field(default_factory=dict, repr=False)
    _segments: dict[str, SegmentSpec] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lookup = {name: {e.value: e for e in entries} for name, entries in self.tables.items()}
        self._segments = {s.name: s for s in self.code.segments}

    def label(self, table: str, value: str) -> str | None:
        entry = self._lookup.get(table, {}).get(value)
        return entry.label if entry else None

    def has_value(self, table: str, value: str) -> bool:
        return value in self._lookup.get(table, {})

    def stage(self, key: str) -> StageSpec | None:
        return next((s for s in self.stages if s.key == key), None)

    @property
    def stage_keys(self) -> list[str]:
        return [s.key for s in self.stages]

    def segment(self, name: str) -> SegmentSpec:
        return self._segments[name]

    @property
    def coded_segments(self) -> list[SegmentSpec]:
        return [s for s in self.code.segments if s.kind == "coded"]


def build_profile(doc: dict, tables: dict[str, list[CodeEntry]], source: str) -> Profile:
    """Validate the profile document against its tables; raise ProfileError naming the entry."""
    try:
        parsed = ProfileDoc.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ProfileError(f"{source}: entry `{where}`: {err['msg']}") from None
    _check_tables(parsed, tables, source)
    _check_stages(parsed, source)
    return Profile(
        id=parsed.id, title=parsed.title, city=parsed.city, public_base_url=parsed.public_base_url,
        code=parsed.code, tables=tables, stages=parsed.stages, prerequisites=parsed.prerequisites,
        stage_writers=parsed.stage_writers, supervision=parsed.supervision,
        division_boundaries=parsed.division_boundaries, packages=parsed.packages, ledger=dict(parsed.ledger),
        policy=Policy.build(parsed.policy, parsed.stage_writers),
    )


def _check_tables(doc: ProfileDoc, tables: dict[str, list[CodeEntry]], source: str) -> None:
    for seg in doc.code.segments:
        if seg.kind != "coded":
            continue
        entries = tables.get(seg.table or "")
        if not entries:
            raise ProfileError(f"{source}: segment `{seg.name}` uses table `{seg.table}`, which is missing or empty")
        for e in entries:
            if len(e.value) != seg.length or not _charset_ok(e.value, seg.charset):
                raise ProfileError(
                    f"{source}: table `{seg.table}` value {e.value!r} does not fit segment `{seg.name}` "
                    f"({seg.length} {seg.charset} characters)"
                )
        if len({e.value for e in entries}) != len(entries):
            raise ProfileError(f"{source}: table `{seg.table}` has duplicate values")
    region = doc.code.region
    if not any(e.value == region for e in tables.get("region", [])):
        raise ProfileError(f"{source}: entry `code.region`: {region!r} is not in table `region`")
    for seg_name, value in doc.code.to_be_determined.items():
        seg = next(s for s in doc.code.segments if s.name == seg_name)
        if not any(e.value == value for e in tables.get(seg.table or "", [])):
            raise ProfileError(f"{source}: entry `code.to_be_determined.{seg_name}`: {value!r} not in its table")


def _check_stages(doc: ProfileDoc, source: str) -> None:
    keys = [s.key for s in doc.stages]
    if len(set(keys)) != len(keys):
        raise ProfileError(f"{source}: entry `stages`: duplicate stage keys")
    for purpose, stage_keys in doc.packages.items():
        for k in stage_keys:
            if k not in keys:
                raise ProfileError(f"{source}: entry `packages.{purpose}`: unknown stage {k!r}")
    for i, rule in enumerate(doc.prerequisites):
        for k in [rule.stage, *rule.requires]:
            if k not in keys:
                raise ProfileError(f"{source}: entry `prerequisites.{i}` ({rule.id}): unknown stage {k!r}")


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
