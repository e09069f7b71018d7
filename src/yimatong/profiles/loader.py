"""Read a profile directory (profile.yaml + CSV tables) into a validated Profile.

A table's CSV has the columns named by `value` and `label` (default `code`, `name`) and, by convention, optional
`aliases` (separated by `;`), `level`, `parent`, `internal`, `retired`, `replaced_by`; every other column is kept
as a further attribute of the entry (e.g. `group`, `right_type_code`, `note`)."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from yimatong.domain.profile import (
    CodeEntry,
    MapTarget,
    Profile,
    ProfileError,
    ZoneEntry,
    build_profile,
    merge_editions,
)

PROFILES_DIR = Path(__file__).parent
CONVENTIONAL = ("aliases", "level", "parent", "internal", "retired", "replaced_by")
TRUE = ("1", "true", "yes", "是")


class ChangesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    old: str
    new: str


class EditionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    edition: str
    file: str
    value: str = "code"
    label: str = "name"
    changes: ChangesSpec | None = None


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str | None = None
    inline: list[dict[str, Any]] = []
    value: str = "code"
    label: str = "name"
    edition: str | None = None
    segment_level: int | None = None
    previous: list[EditionSpec] = []


def profile_dir(name_or_path: str) -> Path:
    """A built-in profile name (`changde`) or a path to a directory holding profile.yaml."""
    p = Path(name_or_path)
    if p.is_dir():
        return p
    builtin = PROFILES_DIR / name_or_path
    if builtin.is_dir():
        return builtin
    raise ProfileError(f"profile {name_or_path!r}: no such built-in profile or directory")


def load_profile(name_or_path: str = "changde") -> Profile:
    directory = profile_dir(name_or_path)
    source = str(directory / "profile.yaml")
    try:
        doc = yaml.safe_load((directory / "profile.yaml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{source}: file not found") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ProfileError(f"{source}: the top level must be a mapping")
    lengths = {s.get("table"): s.get("length") for s in (doc.get("code") or {}).get("segments") or []
               if isinstance(s, dict)}
    tables = {name: _load_table(directory, name, spec, source, lengths.get(name))
              for name, spec in (doc.get("tables") or {}).items()}
    zones = _load_zones(directory, doc.get("zones"), source)
    mappings = {name: _load_mapping(directory, name, spec, source) for name, spec in (doc.get("mappings") or {}).items()}
    profile = build_profile(doc, tables, source, zones, mappings)
    profile.directory = directory
    return profile


def _spec(model: type[BaseModel], raw: object, where: str, source: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ProfileError(f"{source}: entry `{where}{'.' + loc if loc else ''}`: {err['msg']}") from None


def _load_table(directory: Path, name: str, raw: object, source: str, segment_length: int | None
                ) -> list[CodeEntry]:
    spec: TableSpec = _spec(TableSpec, raw, f"tables.{name}", source)
    if spec.file is None and not spec.inline:
        raise ProfileError(f"{source}: entry `tables.{name}` needs `file` or `inline`")
    entries = [_inline_entry(e, name, spec, source) for e in spec.inline]
    if spec.file is not None:
        entries = _file_entries(directory / spec.file, name, spec.value, spec.label, spec.segment_level,
                                 source) + entries
    if not spec.edition:
        if spec.previous:
            raise ProfileError(f"{source}: entry `tables.{name}`: `previous` editions need the table's `edition`")
        return entries
    previous = []
    for i, ed in enumerate(spec.previous):
        old = _file_entries(directory / ed.file, name, ed.value, ed.label, spec.segment_level, source)
        changes = _changes(directory, ed.changes, f"tables.{name}.previous.{i}", source) if ed.changes else {}
        previous.append((ed.edition, old, changes))
    return merge_editions(entries, spec.edition, previous, segment_length, f"{source}: table `{name}`")


def _inline_entry(e: dict[str, Any], name: str, spec: TableSpec, source: str) -> CodeEntry:
    try:
        value, label = str(e["value"]), str(e["label"])
    except (KeyError, TypeError):
        raise ProfileError(f"{source}: entry `tables.{name}.inline` needs value and label") from None
    aliases = e.get("aliases") or []
    level = int(e["level"]) if e.get("level") is not None else None
    extra = {k: str(v) for k, v in e.items() if k not in ("value", "label", "aliases", "level", "parent",
                                                          "internal", "retired", "replaced_by")}
    return CodeEntry(value, label, bool(e.get("internal", False)), retired=bool(e.get("retired", False)),
                     replaced_by=e.get("replaced_by"), aliases=tuple(str(a) for a in aliases), level=level,
                     parent=e.get("parent"), in_code=_in_code(level, spec.segment_level), extra=extra)


def _in_code(level: int | None, segment_level: int | None) -> bool:
    return level is None or segment_level is None or level == segment_level


def _rows(file: Path, source: str) -> list[dict[str, str]]:
    if not file.is_file():
        raise ProfileError(f"{source}: file {file.name!r} not found")
    return list(csv.DictReader(io.StringIO(file.read_text(encoding="utf-8-sig"))))


def _file_entries(file: Path, name: str, value_col: str, label_col: str, segment_level: int | None, source: str
                  ) -> list[CodeEntry]:
    if not file.is_file():
        raise ProfileError(f"{source}: entry `tables.{name}`: file {file.name!r} not found")
    entries = []
    for i, row in enumerate(_rows(file, f"tables.{name}"), start=2):
        if not row.get(value_col) or not row.get(label_col):
            raise ProfileError(f"{file}: line {i}: column {value_col!r} or {label_col!r} is empty or missing")
        level_text = (row.get("level") or "").strip()
        level = int(level_text) if level_text.isdigit() else None  # a class level; a word (county …) is kept below
        extra = {k: v.strip() for k, v in row.items()
                 if k and k not in (value_col, label_col, *CONVENTIONAL) and v and v.strip()}
        if level_text and level is None:
            extra["level"] = level_text
        entries.append(CodeEntry(
            row[value_col].strip(), row[label_col].strip(), _flag(row.get("internal")),
            retired=_flag(row.get("retired")), replaced_by=(row.get("replaced_by") or "").strip() or None,
            aliases=tuple(a.strip() for a in (row.get("aliases") or "").split(";") if a.strip()),
            level=level, parent=_code_of((row.get("parent") or "").strip()),
            in_code=_in_code(level, segment_level), extra=extra))
    return entries


def _code_of(parent: str) -> str | None:
    """A parent column holds a code, or a code and its name (`06 农业设施建设用地`): the code."""
    return parent.split()[0] if parent else None


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in TRUE


def _changes(directory: Path, spec: ChangesSpec, where: str, source: str) -> dict[str, str]:
    out = {}
    for row in _rows(directory / spec.file, f"{source}: entry `{where}.changes`"):
        old, new = (row.get(spec.old) or "").strip(), (row.get(spec.new) or "").strip()
        if old and new:
            out[old] = new
    return out


class ZonesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    value: str = "value"
    label: str = "label"
    division: str = "division"


def _load_zones(directory: Path, raw: object, source: str) -> list[ZoneEntry]:
    if raw is None:
        return []
    spec: ZonesSpec = _spec(ZonesSpec, raw, "zones", source)
    zones = []
    for i, row in enumerate(_rows(directory / spec.file, f"{source}: entry `zones`"), start=2):
        value, label, division = ((row.get(c, "") or "").strip() for c in (spec.value, spec.label, spec.division))
        if not value or not label or not division:
            raise ProfileError(f"{directory / spec.file}: line {i}: value, label or division is empty")
        aliases = tuple(a.strip() for a in (row.get("aliases") or "").split(";") if a.strip())
        rest = row.get(None) or []  # type: ignore[call-overload]  # an unquoted comma in the note
        note = ", ".join([(row.get("note") or "").strip(), *(str(r).strip() for r in rest)]).strip(", ")
        zones.append(ZoneEntry(value, label, division, aliases, note))
    return zones


class MappingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    file: str
    source_column: str
    target_column: str
    exact: str | None = None


def _load_mapping(directory: Path, name: str, raw: object, source: str) -> dict[str, MapTarget]:
    """old value → (new value, exact). `exact: no` rows are never applied without a person's decision."""
    if isinstance(raw, dict):
        raw = {"source_column": raw.get("from"), "target_column": raw.get("to"),
               **{k: v for k, v in raw.items() if k not in ("from", "to")}}
    spec: MappingSpec = _spec(MappingSpec, raw, f"mappings.{name}", source)
    out = {}
    for row in _rows(directory / spec.file, f"{source}: entry `mappings.{name}`"):
        old, new = (row.get(spec.source_column) or "").strip(), (row.get(spec.target_column) or "").strip()
        if old and new:
            exact = _flag(row.get(spec.exact)) if spec.exact else True
            out[old] = MapTarget(new, exact)
    return out


@lru_cache(maxsize=8)
def cached_profile(name_or_path: str = "changde") -> Profile:
    return load_profile(name_or_path)
