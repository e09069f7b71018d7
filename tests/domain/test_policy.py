"""The one policy: the contract's role table, stage writers, district scope, sections, confidentiality, and a
profile that changes the grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from yimatong.domain.policy import Action, Policy
from yimatong.domain.profile import ProfileError
from yimatong.errors import Forbidden
from yimatong.profiles.loader import PROFILES_DIR, load_profile

POLICY = load_profile("changde").policy
ROLES = ("admin", "registrar", "approval_system", "registration_platform", "base_platform", "viewer")
STAGES = [s.key for s in load_profile("changde").stages]


@dataclass(frozen=True)
class Who:
    role: str
    name: str = "测试"
    sections: frozenset[str] = field(default_factory=frozenset)
    divisions: frozenset[str] = field(default_factory=frozenset)


# API.md, "Roles": who may do what
CONTRACT = {
    Action.PROJECT_REGISTER: {"admin", "registrar"}, Action.PROJECT_UPDATE: {"admin", "registrar"},
    Action.PROJECT_VOID: {"admin", "registrar"}, Action.PROJECT_MERGE: {"admin", "registrar"},
    Action.IMPORT: {"admin", "registrar"}, Action.PARCEL_ATTACH: {"admin", "registrar"},
    Action.PACKAGE_READ: {"admin", "registrar", "registration_platform"},
    Action.SUBSCRIPTION_MANAGE: {"admin"}, Action.ACCOUNT_MANAGE: {"admin"}, Action.READ: set(ROLES),
}


@pytest.mark.parametrize("action", list(CONTRACT))
@pytest.mark.parametrize("role", ROLES)
def test_role_table_is_the_contracts(role: str, action: Action) -> None:
    assert POLICY.may(Who(role), action) is (role in CONTRACT[action])


@pytest.mark.parametrize("stage", STAGES)
def test_stage_writers(stage: str) -> None:
    assert POLICY.may(Who("approval_system"), Action.STAGE_WRITE, stage=stage) is (stage != "registration")
    assert POLICY.may(Who("registration_platform"), Action.RESULT_ADD, stage=stage) is (stage == "registration")
    assert POLICY.may(Who("registrar"), Action.STAGE_WRITE, stage=stage)
    assert not POLICY.may(Who("viewer"), Action.STAGE_WRITE, stage=stage)


def test_refusal_names_what_is_missing_in_chinese() -> None:
    with pytest.raises(Forbidden) as exc:
        POLICY.check(Who("approval_system"), Action.STAGE_WRITE, stage="registration")
    assert exc.value.errors[0][0] == "stage" and "一体化审批系统" in exc.value.detail
    with pytest.raises(Forbidden) as exc:
        POLICY.check(Who("viewer"), Action.PROJECT_REGISTER)
    assert exc.value.errors[0][0] == "role" and "登记赋码" in exc.value.detail


@given(st.sampled_from(ROLES), st.sets(st.sampled_from(["430702", "430703", "430721"]), min_size=1),
       st.sampled_from(["430702", "430703", "430721", "430722"]))
def test_district_scope(role: str, divisions: set[str], division: str) -> None:
    who = Who(role, divisions=frozenset(divisions))
    inside = division in divisions or role == "admin"  # admin keeps the whole city
    assert POLICY.in_scope(who, division) is inside
    if POLICY.may(Who(role), Action.STAGE_WRITE, stage="supply"):
        assert POLICY.may(who, Action.STAGE_WRITE, stage="supply", division=division) is inside
    assert POLICY.in_scope(Who(role), division)  # no divisions: the whole city


def test_sections_sign_only_their_own_opinion() -> None:
    clerk = Who("approval_system", sections=frozenset({"yongtu"}))
    assert POLICY.may(clerk, Action.OPINION_SIGN, section="yongtu")
    assert not POLICY.may(clerk, Action.OPINION_SIGN, section="guihua")
    assert POLICY.may(Who("admin"), Action.OPINION_SIGN, section="guihua")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("level", ["public", "internal", "restricted"])
def test_confidentiality(role: str, level: str) -> None:
    privileged = role in ("admin", "registrar")
    assert POLICY.sees(Who(role), level, "approval_system") is (level != "restricted" or privileged
                                                                 or role == "approval_system")
    assert POLICY.sees(None, level, None) is (level == "public")


def _profile_with(tmp_path: Path, policy: object) -> Path:
    target = tmp_path / "city"
    target.mkdir()
    for f in (PROFILES_DIR / "changde").iterdir():
        if f.is_file():
            (target / f.name).write_bytes(f.read_bytes())
    doc = yaml.safe_load((target / "profile.yaml").read_text(encoding="utf-8"))
    doc["policy"] = policy
    (target / "profile.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return target


def test_a_profile_changes_the_grants_without_code(tmp_path: Path) -> None:
    grants = {r: ["read"] for r in ROLES} | {"admin": [a.value for a in Action], "registrar": ["read", "import.run"]}
    policy = load_profile(str(_profile_with(tmp_path, {"grants": grants}))).policy
    assert policy.may(Who("registrar"), Action.IMPORT)
    assert not policy.may(Who("registrar"), Action.PROJECT_REGISTER)


def test_a_broken_policy_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="policy"):
        load_profile(str(_profile_with(tmp_path, {"grants": {"viewer": ["fly"]}})))
    assert isinstance(Policy(), Policy)
