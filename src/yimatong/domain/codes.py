"""The 28-character project code (项目码): build, parse, validate. Pure, driven by the profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yimatong.domain.profile import CodeEntry, Profile, charset_ok, digits_only


class CodeError(ValueError):
    """A malformed code or attribute; `field` names the first bad segment."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class SerialExhausted(RuntimeError):
    """The serial counter of a scope ran out: never wrap around."""


@dataclass(frozen=True)
class Segment:
    """One segment as read: `edition` is the code-table edition its label comes from (None for tables without
    editions); a retired value (no longer issued) names its replacement."""

    name: str
    value: str
    label: str
    edition: str | None = None
    retired: bool = False
    replaced_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": self.value, "label": self.label}
        if self.edition is not None:
            out["edition"] = self.edition
        if self.retired:
            out |= {"retired": True, "replaced_by": self.replaced_by}
        return out


@dataclass(frozen=True)
class ParsedCode:
    code: str
    segments: list[Segment]
    edition: str | None = None

    def value(self, name: str) -> str:
        return next(s.value for s in self.segments if s.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "valid": True, "edition": self.edition,
                "segments": [s.as_dict() for s in self.segments]}


def max_serial(profile: Profile) -> int:
    serial = next(s for s in profile.code.segments if s.kind == "serial")
    return 10**serial.length - 1


def serial_scope_key(profile: Profile, attrs: dict[str, str]) -> str:
    """The counter key: the values of the scope segments joined (e.g. `CD-430702-2026`)."""
    return "-".join(attrs[name] for name in profile.code.serial_scope)


def check_attribute(profile: Profile, name: str, value: object) -> str:
    """Check one coded attribute as given by a client; returns the normalised segment value."""
    seg = profile.segment(name)
    if seg.kind == "year":
        return _check_year(seg, value)
    if not isinstance(value, str):
        raise CodeError(name, f"{seg.label}（{name}）必须是字符串")
    other = profile.entry(seg.table, value) if seg.table else None
    if other is not None and not other.in_code:
        raise CodeError(name, _other_level(profile, seg, other))
    if len(value) != seg.length or not charset_ok(value, seg.charset):
        raise CodeError(name, f"{seg.label}（{name}）应为 {seg.length} 位{_charset_text(seg.charset)}，收到 {value!r}")
    if seg.table and not profile.has_value(seg.table, value):
        entry = profile.entry(seg.table, value)
        if entry is not None and entry.retired:
            raise CodeError(name, retired_message(profile, seg, entry))
        raise CodeError(name, f"{seg.label}（{name}）不在代码表中：{value!r}")
    return value


def retired_message(profile: Profile, seg: Any, entry: CodeEntry) -> str:
    """Which value replaces a retired one, in words a person can act on."""
    edition = f"{entry.edition}版" if entry.edition else "旧版"
    text = f"{seg.label}（{seg.name}）{entry.value}“{entry.label}”是{edition}代码表的值，已停用，不能再用于赋码或修改"
    if entry.replaced_by:
        new = profile.label(seg.table, entry.replaced_by)
        text += f"：请改用 {entry.replaced_by}“{new}”" if new else f"：请改用 {entry.replaced_by}"
    return text


def _other_level(profile: Profile, seg: Any, entry: CodeEntry) -> str:
    """A class of another level of the classification (e.g. a third-level land use): say which value the code
    takes instead."""
    text = f"{seg.label}（{seg.name}）{entry.value}“{entry.label}”是第 {entry.level} 级类，项目码中只写 {seg.length} 位的类"
    parent = profile.entry(seg.table, entry.parent) if entry.parent else None
    while parent is not None and not parent.in_code and parent.parent:
        parent = profile.entry(seg.table, parent.parent)
    if parent is not None and parent.in_code:
        return text + f"：请改用 {parent.value}“{parent.label}”（细类可作为属性另行记录）"
    return text + "，请写到下一级类"


def carry_over(profile: Profile, name: str, value: str, edition: str | None) -> str:
    """A value read in `edition` (an existing project's attribute) for a new code issued now, e.g. a split child
    inheriting its parent's land use: kept when it means the same now; a value whose meaning moved to another
    value (2020 1311 干渠 → 2023 1705) is never carried over silently."""
    seg = profile.segment(name)
    if seg.kind != "coded" or not seg.table:
        return value
    entry = profile.entry(seg.table, value, edition)
    if entry is None or not entry.retired or entry.replaced_by == value:
        return value
    raise CodeError(name, retired_message(profile, seg, entry) + "；原项目的该属性须写明新值")


def check_zone(profile: Profile, zone: object, division: str) -> str | None:
    """A functional zone of the profile that belongs to the project's division (or none)."""
    if zone is None or zone == "":
        return None
    if not isinstance(zone, str) or profile.zone(zone) is None:
        known = "、".join(f"{z.value}（{z.label}）" for z in profile.zones)
        raise CodeError("zone", f"功能区（zone）应为 {known} 之一，收到 {zone!r}")
    entry = profile.zone(zone)
    assert entry is not None
    if entry.division != division:
        home = profile.label("division", entry.division) or entry.division
        raise CodeError("zone", f"功能区 {entry.label} 属于 {home}（{entry.division}），与行政区划 {division} 不符")
    return zone


def _check_year(seg: Any, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CodeError(seg.name, f"{seg.label}（{seg.name}）必须是 {seg.length} 位年份")
    text = str(value)
    if len(text) != seg.length or not digits_only(text):
        raise CodeError(seg.name, f"{seg.label}（{seg.name}）必须是 {seg.length} 位年份，收到 {value!r}")
    year = int(text)
    if (seg.min is not None and year < seg.min) or (seg.max is not None and year > seg.max):
        raise CodeError(seg.name, f"{seg.label}（{seg.name}）超出允许范围 {seg.min}–{seg.max}：{year}")
    return text


def build_code(profile: Profile, attrs: dict[str, Any], serial: int, checked: bool = False) -> str:
    """Assemble a code from attribute values (region defaults to the profile constant). `checked`: the values
    came from check_attribute already (a batch of registrations checks each row once, not twice)."""
    parts: list[str] = []
    for seg in profile.code.segments:
        if seg.kind == "serial":
            if serial < 1 or serial > max_serial(profile):
                raise SerialExhausted(f"流水号超出范围 1–{max_serial(profile)}：{serial}")
            parts.append(str(serial).zfill(seg.length))
            continue
        raw = profile.code.region if seg.name == "region" and attrs.get("region") is None else attrs.get(seg.name)
        parts.append(str(raw) if checked else check_attribute(profile, seg.name, raw))
    return "".join(parts)


def parse_code(profile: Profile, code: object, edition: str | None = None) -> ParsedCode:
    """Split a code into labelled segments; CodeError names the first bad segment and why. `edition`: the edition
    the code was issued under when the code is known (a registered project's); a segment is then read in that
    edition. Otherwise each segment is read in the current edition, or, for a retired value, in its own."""
    if not isinstance(code, str):
        raise CodeError("code", "项目码必须是字符串")
    pos = 0
    segments: list[Segment] = []
    for seg in profile.code.segments:
        chunk = code[pos:pos + seg.length]
        if len(chunk) < seg.length:
            raise CodeError(seg.name, f"项目码过短：{seg.label}（{seg.name}）缺失，"
                                      f"项目码应为 {profile.code.length} 位，收到 {len(code)} 位")
        segments.append(_parse_segment(profile, seg, chunk, edition))
        pos += seg.length
    if len(code) > pos:
        raise CodeError("code", f"项目码过长：应为 {profile.code.length} 位，收到 {len(code)} 位")
    return ParsedCode(code=code, segments=segments, edition=edition)


def _parse_segment(profile: Profile, seg: Any, chunk: str, edition: str | None = None) -> Segment:
    if not charset_ok(chunk, seg.charset):
        raise CodeError(seg.name, f"{seg.label}（{seg.name}）应为 {seg.length} 位{_charset_text(seg.charset)}，"
                                  f"收到 {chunk!r}")
    if seg.kind == "serial":
        if int(chunk) == 0:
            raise CodeError(seg.name, f"{seg.label}（{seg.name}）不能为 0")
        return Segment(seg.name, chunk, f"第 {int(chunk)} 号")
    if seg.kind == "year":
        _check_year(seg, chunk)
        return Segment(seg.name, chunk, f"{chunk}年")
    entry = profile.entry(seg.table or "", chunk, edition)
    if entry is None or not entry.in_code:
        raise CodeError(seg.name, f"{seg.label}（{seg.name}）不在代码表中：{chunk!r}")
    return Segment(seg.name, chunk, entry.label, profile.segment_edition(entry, edition), entry.retired,
                   entry.replaced_by)


def attribute_reading(profile: Profile, name: str, value: str, code: str, edition: str | None
                      ) -> tuple[str | None, str | None]:
    """(label, edition) of a project's coded attribute: read in the code's edition while it still is the code's
    segment value, else (changed since) in the current edition."""
    seg = profile.segment(name)
    if seg.kind != "coded" or not seg.table:
        return None, None
    start = sum(s.length for s in profile.code.segments[:profile.code.segments.index(seg)])
    own = edition if code[start:start + seg.length] == value else None
    entry = profile.entry(seg.table, value, own)
    if entry is None:
        return None, None
    return entry.label, profile.segment_edition(entry, own)


def edition_mark(profile: Profile, edition: str | None) -> str:
    """`（2020版）` beside a label read in an edition other than the current one; nothing for the current one."""
    return f"（{edition}版）" if edition and edition != profile.edition else ""


def attribute_text(profile: Profile, name: str, value: str, code: str, edition: str | None) -> str:
    """`0601 乡村道路用地（2020版）` for exports and pages."""
    label, ed = attribute_reading(profile, name, value, code, edition)
    return f"{value} {label}{edition_mark(profile, ed)}" if label else value


def outdated_segments(profile: Profile, code: str, attrs: dict[str, Any]) -> list[str]:
    """Names of coded segments whose current attribute differs from the value frozen in the code."""
    parsed = parse_code(profile, code)
    out = []
    for seg in parsed.segments:
        if seg.name in ("serial", "region"):
            continue
        current = attrs.get(seg.name)
        if current is not None and str(current) != seg.value:
            out.append(seg.name)
    return out


def _charset_text(charset: str) -> str:
    return {"digits": "数字", "upper": "大写字母", "alnum": "大写字母或数字"}[charset]
