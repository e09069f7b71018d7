"""Prerequisite rules from the profile and the current stage."""

from __future__ import annotations

from yimatong.domain.lifecycle import check_transition, current_stage
from yimatong.profiles.loader import load_profile

P = load_profile("changde")


def test_supply_needs_land_approval_done_or_not_applicable() -> None:
    broken = check_transition(P, "supply", "done", {"land_approval": "in_progress"})
    assert broken is not None and broken.rule == "supply_after_land_approval"
    assert check_transition(P, "supply", "done", {"land_approval": "not_applicable"}) is None
    assert check_transition(P, "supply", "done", {"land_approval": "done"}) is None
    # returning a stage is always allowed
    assert check_transition(P, "supply", "returned", {}) is None


def test_other_default_rules() -> None:
    assert check_transition(P, "works_permit", "done", {}).rule == "works_permit_after_land_use_permit"
    assert check_transition(P, "verification", "in_progress", {"works_permit": "in_progress"}).rule == \
        "verification_after_works_permit"
    assert check_transition(P, "registration", "done", {"supply": "pending"}).rule == "registration_after_supply"


def test_current_stage_is_latest_non_pending_in_catalogue_order() -> None:
    assert current_stage(P, {"intake": "done"}) == "intake"
    assert current_stage(P, {"intake": "done", "pre_review": "done", "supply": "in_progress"}) == "supply"
    assert current_stage(P, {"intake": "done", "inspection": "done"}) == "intake"


