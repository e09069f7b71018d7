"""The code engine: build → parse round trip for every table value, precise errors for malformed codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yimatong.domain.codes import CodeError, SerialExhausted, build_code, outdated_segments, parse_code
from yimatong.profiles.loader import load_profile

PROFILE = load_profile("changde")


def values(table: str) -> list[str]:
    return [e.value for e in PROFILE.issuable(table)]  # values a code may be issued with now


attrs_strategy = st.fixed_dictionaries({
    "division": st.sampled_from(values("division")),
    "year": st.integers(2000, 2099),
    "approval_type": st.sampled_from(values("approval_type")),
    "project_type": st.sampled_from(values("project_type")),
    "supply_type": st.sampled_from(values("supply_type")),
    "land_use": st.sampled_from(values("land_use")),
})


@settings(max_examples=400)
@given(attrs=attrs_strategy, serial=st.integers(1, 999_999))
def test_build_then_parse_gives_back_every_segment(attrs: dict, serial: int) -> None:
    code = build_code(PROFILE, attrs, serial)
    assert len(code) == 28
    parsed = parse_code(PROFILE, code)
    by_name = {s.name: s for s in parsed.segments}
    assert [s.name for s in parsed.segments] == ["region", "division", "year", "approval_type", "project_type",
                                                 "supply_type", "land_use", "serial"]
    assert by_name["region"].value == "CD"
    for key in ("division", "approval_type", "project_type", "supply_type", "land_use"):
        assert by_name[key].value == attrs[key]
        assert by_name[key].label == PROFILE.label(key, attrs[key])
    assert int(by_name["year"].value) == attrs["year"]
    assert int(by_name["serial"].value) == serial


def test_every_table_value_round_trips() -> None:
    base = {"division": "430702", "year": 2026, "approval_type": "01", "project_type": "01", "supply_type": "21",
            "land_use": "0701"}
    for table in ("division", "approval_type", "project_type", "supply_type", "land_use"):
        for value in values(table):
            code = build_code(PROFILE, base | {table: value}, 7)
            assert parse_code(PROFILE, code).value(table) == value


GOOD = "CD43070220260101210701000001"


@pytest.mark.parametrize(("code", "field"), [
    ("XX43070220260101210701000001", "region"),
    ("CD99999920260101210701000001", "division"),
    ("CD4307022O260101210701000001", "year"),
    ("CD43070219990101210701000001", "year"),
    ("CD43070220260901210701000001", "approval_type"),
    ("CD43070220260155210701000001", "project_type"),
    ("CD43070220260101770701000001", "supply_type"),
    ("CD43070220260101219999000001", "land_use"),
    ("CD43070220260101210701000000", "serial"),
    ("CD4307022026010121070100000A", "serial"),
    ("CD430702", "year"),
    (GOOD + "1", "code"),
])
def test_malformed_code_names_first_bad_segment(code: str, field: str) -> None:
    with pytest.raises(CodeError) as exc:
        parse_code(PROFILE, code)
    assert exc.value.field == field
    assert exc.value.message


@given(st.text(max_size=40))
def test_parse_never_crashes_on_arbitrary_text(text: str) -> None:
    try:
        parsed = parse_code(PROFILE, text)
    except CodeError as exc:
        assert exc.field in {s.name for s in PROFILE.code.segments} | {"code"}
    else:
        assert build_code(PROFILE, {s.name: s.value for s in parsed.segments},
                          int(parsed.value("serial"))) == text


def test_serial_beyond_six_digits_is_a_clear_error_not_a_wrap() -> None:
    attrs = {"division": "430702", "year": 2026, "approval_type": "01", "project_type": "01", "supply_type": "21",
             "land_use": "0701"}
    assert build_code(PROFILE, attrs, 999_999).endswith("999999")
    with pytest.raises(SerialExhausted):
        build_code(PROFILE, attrs, 1_000_000)


def test_unknown_attribute_value_names_the_field() -> None:
    with pytest.raises(CodeError) as exc:
        build_code(PROFILE, {"division": "430702", "year": 2026, "approval_type": "01", "project_type": "01",
                             "supply_type": "21", "land_use": "9999"}, 1)
    assert exc.value.field == "land_use"


def test_outdated_segments_detects_drift() -> None:
    current = {"division": "430702", "year": "2026", "approval_type": "01", "project_type": "01",
               "supply_type": "10", "land_use": "0701"}
    assert outdated_segments(PROFILE, GOOD, current) == ["supply_type"]
    assert outdated_segments(PROFILE, GOOD, current | {"supply_type": "21"}) == []
