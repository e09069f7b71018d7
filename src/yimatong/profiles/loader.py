"""Read a profile directory (profile.yaml + CSV tables) into a validated Profile."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path

import yaml

from yimatong.domain.profile import CodeEntry, Profile, ProfileError, build_profile

PROFILES_DIR = Path(__file__).parent


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
    tables = {name: _load_table(directory, name, spec, source) for name, spec in (doc.get("tables") or {}).items()}
    profile = build_profile(doc, tables, source)
    profile.directory = directory
    return profile


def _load_table(directory: Path, name: str, spec: object, source: str) -> list[CodeEntry]:
    if not isinstance(spec, dict):
        raise ProfileError(f"{source}: entry `tables.{name}` must be a mapping")
    if "inline" in spec:
        try:
            return [CodeEntry(str(e["value"]), str(e["label"]), bool(e.get("internal", False)))
                    for e in spec["inline"]]
        except (KeyError, TypeError):
            raise ProfileError(f"{source}: entry `tables.{name}.inline` needs value and label") from None
    file = directory / str(spec.get("file", ""))
    if not file.is_file():
        raise ProfileError(f"{source}: entry `tables.{name}`: file {file.name!r} not found")
    value_col, label_col = spec.get("value", "code"), spec.get("label", "name")
    rows = list(csv.DictReader(io.StringIO(file.read_text(encoding="utf-8-sig"))))
    entries = []
    for i, row in enumerate(rows, start=2):
        if not row.get(value_col) or not row.get(label_col):
            raise ProfileError(f"{file}: line {i}: column {value_col!r} or {label_col!r} is empty or missing")
        entries.append(CodeEntry(row[value_col].strip(), row[label_col].strip(),
                                 (row.get("internal") or "").strip().lower() in ("1", "true", "yes")))
    return entries


@lru_cache(maxsize=8)
def cached_profile(name_or_path: str = "changde") -> Profile:
    return load_profile(name_or_path)
