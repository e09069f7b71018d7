"""Typed results: a result kind's JSON Schema (profile `result_kinds:`) checked against a result's `data`. Pure.

The contract (API.md, "Typed results"): a schema checks the types and formats of the fields a result has; a field
it lacks never refuses the result (v1 clients send partial data) — so `required` is ignored here even if a profile
writes one; missing fields show up in registration readiness instead. The first error is reported with the path
inside `meta.data` (`meta.data.supervision_no`, `meta.data.parcels.0.area_m2`) and a Chinese message naming the
field by its `x-label`. The checking itself is the jsonschema library (Draft 2020-12 with format checks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

TYPE_WORDS = {"string": "文本", "number": "数值", "integer": "整数", "boolean": "布尔值（true/false）",
              "object": "JSON 对象", "array": "数组", "null": "空值"}
FORMAT_WORDS = {"date": "日期 YYYY-MM-DD", "date-time": "RFC 3339 时间", "email": "电子邮箱"}
_FORMATS = FormatChecker(["date", "email"])


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339 with an offset (jsonschema checks it only with an optional extra package)."""
    if not isinstance(value, str):
        return True
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


class SchemaProblem(ValueError):
    """The first field of `data` a schema refuses: `field` is the dotted path under `prefix`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _without_required(schema: Any) -> Any:
    """The schema with every `required` dropped (a missing field never refuses a result)."""
    if isinstance(schema, Mapping):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


def check_schema(schema: dict[str, Any]) -> str | None:
    """None when `schema` is a valid JSON Schema 2020-12, else why not (for the profile loader)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


def validate(schema: dict[str, Any], data: Any, prefix: str = "meta.data") -> None:
    """Raise SchemaProblem for the first error of `data` (errors sorted by path, so the answer is stable)."""
    validator = Draft202012Validator(_without_required(schema), format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        path = ".".join([prefix, *(str(p) for p in err.absolute_path)])
        raise SchemaProblem(path, _message(err, schema))


def _label(err: ValidationError, schema: dict[str, Any]) -> str:
    node: Any = schema
    for part in err.absolute_path:
        if isinstance(node, Mapping) and isinstance(part, str):
            node = (node.get("properties") or {}).get(part, {})
        elif isinstance(node, Mapping):
            node = node.get("items", {})
    name = ".".join(str(p) for p in err.absolute_path) or "data"
    label = node.get("x-label") if isinstance(node, Mapping) else None
    return f"{label}（{name}）" if label else name


def _message(err: ValidationError, schema: dict[str, Any]) -> str:
    what, rule, got = _label(err, schema), err.validator, err.instance
    if rule == "type":
        wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        return f"{what}应为{'或'.join(TYPE_WORDS.get(str(w), str(w)) for w in wanted)}，收到 {got!r}"
    if rule == "format":
        return f"{what}应为{FORMAT_WORDS.get(str(err.validator_value), str(err.validator_value))}，收到 {got!r}"
    if rule == "pattern":
        return f"{what}格式不符（应匹配 {err.validator_value}），收到 {got!r}"
    if rule in ("minimum", "exclusiveMinimum"):
        sign = "不小于" if rule == "minimum" else "大于"
        return f"{what}应{sign} {err.validator_value}，收到 {got!r}"
    if rule in ("maximum", "exclusiveMaximum"):
        sign = "不大于" if rule == "maximum" else "小于"
        return f"{what}应{sign} {err.validator_value}，收到 {got!r}"
    if rule in ("minLength", "maxLength"):
        return f"{what}长度应{'至少' if rule == 'minLength' else '不超过'} {err.validator_value} 个字符"
    if rule == "enum":
        return f"{what}应为 {', '.join(map(str, err.validator_value))} 之一，收到 {got!r}"
    return f"{what}不符合成果类型的数据规范（{rule}）"
