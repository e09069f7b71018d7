"""Prerequisite rules that depend on the project's attributes (`when:` in the profile)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from yimatong.domain.lifecycle import check_transition
from yimatong.domain.profile import ProfileError
from yimatong.profiles.loader import PROFILES_DIR, load_profile

P = load_profile("changde")
ALLOCATED = {"supply_type": "10"}  # 划拨
SOLD = {"supply_type": "23"}       # 挂牌出让


def test_for_allocation_the_land_use_permit_may_come_with_the_allocation_decision() -> None:
    assert check_transition(P, "land_use_permit", "done", {"supply": "in_progress"}, ALLOCATED) is None
    assert check_transition(P, "land_use_permit", "done", {"supply": "done"}, ALLOCATED) is None
    broken = check_transition(P, "land_use_permit", "done", {"supply": "pending"}, ALLOCATED)
    assert broken is not None and broken.rule == "land_use_permit_with_allocation"


def test_for_a_sale_the_land_use_permit_comes_only_after_the_contract() -> None:
    broken = check_transition(P, "land_use_permit", "done", {"supply": "in_progress"}, SOLD)
    assert broken is not None and broken.rule == "land_use_permit_after_contract"
    assert check_transition(P, "land_use_permit", "done", {"supply": "done"}, SOLD) is None
    for leased in ("30", "40", "20"):  # 租赁, 作价出资, 出让（方式待定）: a contract as well
        assert check_transition(P, "land_use_permit", "done", {"supply": "pending"}, {"supply_type": leased})


def test_a_rule_with_when_does_not_apply_to_other_projects() -> None:
    assert check_transition(P, "land_use_permit", "done", {}, {"supply_type": "00"}) is None  # 待定
    assert check_transition(P, "land_use_permit", "done", {}) is None  # attributes unknown


def test_construction_is_never_refused_for_a_missing_permit_or_supply() -> None:
    for status in ("in_progress", "done"):
        assert check_transition(P, "construction", status, {}, SOLD) is None


def test_when_names_known_attributes_only(tmp_path: Path) -> None:
    d = tmp_path / "city"
    shutil.copytree(PROFILES_DIR / "changde", d)
    doc = yaml.safe_load((d / "profile.yaml").read_text(encoding="utf-8"))
    doc["prerequisites"][0]["when"] = {"colour.group": ["red"]}
    (d / "profile.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"prerequisites\.0\.when"):
        load_profile(str(d))
