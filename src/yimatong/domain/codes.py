"""The 28-character project code (项目码): build, parse, validate. Pure, driven by the profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yimatong.domain.profile import Profile, charset_ok, digits_only


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
    name: str
    value: str
    label: str


@dataclass(frozen=True)
class ParsedCode:
    code: str
    segments: list[Segment]

    def value(self, name: str) -> str:
        return next(s.value for s in self.segments if s.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "valid": True,
                "segments": [{"name": s.name, "value": s.value, "label": s.label} for s in self.segments]}


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
    if len(value) != seg.length or not charset_ok(value, seg.charset):
        raise CodeError(name, f"{seg.label}（{name}）应为 {seg.length} 位{_charset_text(seg.charset)}，收到 {value!r}")
    if seg.table and not profile.has_value(seg.table, value):
        raise CodeError(name, f"{seg.label}（{name}）不在代码表中：{value!r}")
    return value


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
        parts.append(raw if checked else check_attribute(profile, seg.name, raw))
    return "".join(parts)


def parse_code(profile: Profile, code: object) -> ParsedCode:
    """Split a code into labelled segments; CodeError names the first bad segment and why."""
    if not isinstance(code, str):
        raise CodeError("code", "项目码必须是字符串")
    pos = 0
    segments: list[Segment] = []
    for seg in profile.code.segments:
        chunk = code[pos:pos + seg.length]
        if len(chunk) < seg.length:
            raise CodeError(seg.name, f"项目码过短：{seg.label}（{seg.name}）缺失，"
                                      f"项目码应为 {profile.code.length} 位，收到 {len(code)} 位")
        segments.append(_parse_segment(profile, seg, chunk))
        pos += seg.length
    if len(code) > pos:
        raise CodeError("code", f"项目码过长：应为 {profile.code.length} 位，收到 {len(code)} 位")
    return ParsedCode(code=code, segments=segments)


def _parse_segment(profile: Profile, seg: Any, chunk: str) -> Segment:
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
    label = profile.label(seg.table or "", chunk)
    if label is None:
        raise CodeError(seg.name, f"{seg.label}（{seg.name}）不在代码表中：{chunk!r}")
    return Segment(seg.name, chunk, label)


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
