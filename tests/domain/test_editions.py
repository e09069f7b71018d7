"""Code tables with editions: the land-use segment is the 2023 guide; values of the 2020 trial table that 2023
dropped or reused are retired, can no longer be issued, and every code issued with them keeps parsing with its
old label and edition."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from yimatong.domain.codes import CodeError, build_code, carry_over, check_attribute, check_zone, parse_code
from yimatong.domain.profile import ProfileError
from yimatong.profiles.loader import PROFILES_DIR, load_profile

PROFILE = load_profile("changde")
DIR = PROFILES_DIR / "changde"
# the table the first version shipped, read from its own file (not through the profile)
TRIAL = {r["code"]: r["name"] for r in csv.DictReader((DIR / "land_use_2020_trial.csv").open(encoding="utf-8"))}
BASE = {"division": "430702", "year": 2026, "approval_type": "01", "project_type": "01", "supply_type": "21"}


def code_with(land_use: str, serial: int = 1) -> str:
    return f"CD4307022026010121{land_use}{serial:06d}"


def segment(code: str, name: str, edition: str | None = None) -> dict:
    return next(s.as_dict() for s in parse_code(PROFILE, code, edition).segments if s.name == name)


def test_the_land_use_table_is_the_2023_guide_with_all_its_levels() -> None:
    lu = {e.value: e for e in PROFILE.tables["land_use"] if not e.retired}
    assert lu["0601"].label == "农村道路" and lu["0602"].label == "设施农用地" and lu["0903"].label == "娱乐用地"
    assert lu["1311"].label == "水工设施用地" and lu["1312"].label == "其他公用设施用地"
    assert "0603" not in lu and "0604" not in lu and "1313" not in lu
    assert {"01", "02", "03", "04", "05", "17", "23"} <= {v for v, e in lu.items() if e.level == 1}
    assert lu["070102"].level == 3 and lu["070102"].parent == "0701" and not lu["070102"].in_code
    assert all(len(e.value) == 4 for e in PROFILE.issuable("land_use"))


@pytest.mark.parametrize(("value", "old_label", "new_label"), [
    ("1311", "干渠", "水工设施用地"), ("1312", "水工设施用地", "其他公用设施用地"), ("0601", "乡村道路用地", "农村道路"),
    ("0602", "种植设施建设用地", "设施农用地"), ("0903", "娱乐康体用地", "娱乐用地"),
])
def test_a_reused_value_reads_in_the_edition_its_code_was_issued_under(value: str, old_label: str,
                                                                        new_label: str) -> None:
    code = code_with(value)
    assert segment(code, "land_use", "2020").items() >= {"value": value, "label": old_label, "edition": "2020"}.items()
    assert segment(code, "land_use").items() >= {"value": value, "label": new_label, "edition": "2023"}.items()


def test_a_retired_value_still_parses_but_cannot_be_issued_or_set() -> None:
    code = code_with("0604")
    seg = segment(code, "land_use")  # a never-registered code with a value only 2020 had: read in 2020
    assert seg == {"name": "land_use", "value": "0604", "label": "水产养殖设施建设用地", "edition": "2020",
                   "retired": True, "replaced_by": "0602"}
    with pytest.raises(CodeError) as exc:
        check_attribute(PROFILE, "land_use", "0604")
    assert exc.value.field == "land_use" and "0602" in exc.value.message and "设施农用地" in exc.value.message
    with pytest.raises(CodeError) as exc:
        build_code(PROFILE, BASE | {"land_use": "1313"}, 1)
    assert exc.value.field == "land_use" and "1312" in exc.value.message


def test_other_levels_say_which_value_the_code_takes() -> None:
    with pytest.raises(CodeError) as exc:
        check_attribute(PROFILE, "land_use", "070102")
    assert "0701" in exc.value.message and "城镇住宅用地" in exc.value.message
    with pytest.raises(CodeError):
        check_attribute(PROFILE, "land_use", "07")


@given(land_use=st.sampled_from(sorted(TRIAL)), division=st.sampled_from(["430702", "430703", "430781"]),
       year=st.integers(2000, 2099), supply=st.sampled_from(["00", "10", "21", "22", "23", "24", "30", "40", "50", "90"]),
       serial=st.integers(1, 999_999))
def test_every_code_issued_under_the_2020_table_still_parses(land_use: str, division: str, year: int, supply: str,
                                                             serial: int) -> None:
    code = f"CD{division}{year}0101{supply}{land_use}{serial:06d}"
    parsed = parse_code(PROFILE, code, "2020")
    seg = next(s for s in parsed.segments if s.name == "land_use")
    assert (seg.value, seg.label, seg.edition) == (land_use, TRIAL[land_use], "2020")
    parse_code(PROFILE, code)  # and without its edition (a code read from a paper), too


def test_carry_over_never_moves_a_meaning_silently() -> None:
    assert carry_over(PROFILE, "land_use", "0701", "2020") == "0701"
    assert carry_over(PROFILE, "land_use", "0601", "2020") == "0601"  # 乡村道路用地 → 农村道路: the same value
    with pytest.raises(CodeError) as exc:
        carry_over(PROFILE, "land_use", "1311", "2020")  # 2020 干渠 is 1705 沟渠 now, not 1311 水工设施用地
    assert "1705" in exc.value.message
    assert carry_over(PROFILE, "land_use", "1311", "2023") == "1311"


def test_zones_belong_to_their_division() -> None:
    assert check_zone(PROFILE, "jingkai", "430702") == "jingkai"
    assert check_zone(PROFILE, None, "430702") is None
    with pytest.raises(CodeError) as exc:
        check_zone(PROFILE, "jingkai", "430703")
    assert exc.value.field == "zone"
    with pytest.raises(CodeError):
        check_zone(PROFILE, "nowhere", "430702")
    assert PROFILE.entry("division", "430771").internal  # 西洞庭管理区: a statistics code
    assert PROFILE.zone("xidongting").division == "430771"  # type: ignore[union-attr]


def test_supply_types_carry_their_right_type_codes_and_aliases() -> None:
    assert PROFILE.label("supply_type", "20") == "出让（方式待定）"
    assert {v: PROFILE.column("supply_type", v, "right_type_code") for v in ("10", "20", "23", "30", "40", "50")} == {
        "10": "101", "20": "102", "23": "102", "30": "104", "40": "103", "50": "105"}
    assert "作价入股" in PROFILE.entry("supply_type", "40").aliases  # type: ignore[union-attr]


def test_an_undocumented_change_between_editions_is_a_profile_error(tmp_path: Path) -> None:
    d = tmp_path / "city"
    shutil.copytree(DIR, d)
    trial = (d / "land_use_2020_trial.csv").read_text(encoding="utf-8")
    (d / "land_use_2020_trial.csv").write_text(trial.replace("0701,城镇住宅用地", "0701,住宅用地"), encoding="utf-8")
    with pytest.raises(ProfileError, match="0701"):
        load_profile(str(d))


def test_an_edition_outside_the_scheme_is_a_profile_error(tmp_path: Path) -> None:
    d = tmp_path / "city"
    shutil.copytree(DIR, d)
    doc = yaml.safe_load((d / "profile.yaml").read_text(encoding="utf-8"))
    doc["code"]["editions"] = ["2023"]
    (d / "profile.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError, match="edition"):
        load_profile(str(d))
