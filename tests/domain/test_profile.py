"""Profiles are data: a broken one fails at load naming file and entry; another city needs no code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from yimatong.domain.codes import build_code, parse_code
from yimatong.domain.profile import ProfileError
from yimatong.profiles.loader import PROFILES_DIR, load_profile


def copy_profile(tmp_path: Path) -> Path:
    target = tmp_path / "city"
    shutil.copytree(PROFILES_DIR / "changde", target)
    return target


def edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load((path / "profile.yaml").read_text(encoding="utf-8"))
    fn(doc)
    (path / "profile.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def test_changde_profile_loads_with_all_tables() -> None:
    p = load_profile("changde")
    assert p.code.length == 28
    assert p.label("division", "430702") == "武陵区"
    assert p.label("supply_type", "23") == "挂牌出让"
    assert [s.key for s in p.stages][:3] == ["intake", "pre_review", "land_approval"]


def test_segment_lengths_must_add_up(tmp_path: Path) -> None:
    d = copy_profile(tmp_path)
    edit(d, lambda doc: doc["code"]["segments"][-1].update(length=5))
    with pytest.raises(ProfileError, match=r"profile.yaml.*code"):
        load_profile(str(d))


def test_table_value_of_wrong_length_names_file_and_value(tmp_path: Path) -> None:
    d = copy_profile(tmp_path)
    (d / "supply_types.csv").write_text("code,name,group\n10,划拨,划拨\n123,错误,\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="supply_type.*'123'"):
        load_profile(str(d))


def test_missing_table_file_is_named(tmp_path: Path) -> None:
    d = copy_profile(tmp_path)
    (d / "land_use_2023.csv").unlink()
    with pytest.raises(ProfileError, match="land_use_2023.csv"):
        load_profile(str(d))


def test_rule_with_unknown_stage_is_named(tmp_path: Path) -> None:
    d = copy_profile(tmp_path)
    edit(d, lambda doc: doc["prerequisites"][0]["requires"].update(nonexistent=["done"]))
    with pytest.raises(ProfileError, match=r"prerequisites\.0"):
        load_profile(str(d))


def test_a_second_city_works_without_code_changes(tmp_path: Path) -> None:
    """A test city with its own region constant, divisions and a shorter serial scope."""
    d = copy_profile(tmp_path)
    (d / "divisions.csv").write_text("code,name,level\n110101,东城区,district\n110102,西城区,district\n",
                                     encoding="utf-8")

    def change(doc: dict) -> None:
        doc["id"], doc["city"] = "testcity", "测试市"
        doc["code"]["region"] = "TC"
        doc["tables"]["region"] = {"inline": [{"value": "TC", "label": "测试"}]}
        doc["code"]["serial_scope"] = ["region", "year"]
        doc.pop("zones")  # Changde's functional zones belong to Changde's divisions
    edit(d, change)
    p = load_profile(str(d))
    code = build_code(p, {"division": "110102", "year": 2027, "approval_type": "03", "project_type": "01",
                          "supply_type": "10", "land_use": "1001"}, 42)
    assert code.startswith("TC1101022027")
    assert parse_code(p, code).segments[1].label == "西城区"
