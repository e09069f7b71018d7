"""Cross-reference validators (domain/refs.py): numbers made to the rules are accepted, and every single-character
change that breaks a rule is refused with that rule. The oracles below restate the rules on their own."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yimatong.domain import refs
from yimatong.profiles.loader import load_profile

PROFILE = load_profile("changde")
CITY = refs.city_of(PROFILE)
TODAY = dt.date(2026, 12, 1)
COUNTIES = sorted(CITY.divisions)
PROVINCES = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
             "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"]
ALPHABET = "0123456789-ABGJZWFXY b"


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


def norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


# --- 投资项目代码 (GB/T 40058-2021) ---------------------------------------------------------------------------

@st.composite
def time_codes(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return str(draw(st.integers(2014, 2020)))  # a legacy year
    year = draw(st.integers(2000, TODAY.year))
    month = draw(st.integers(1, 12 if year < TODAY.year else TODAY.month))
    return f"{year % 100:02d}{month:02d}"


@st.composite
def regions(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["province", "prefecture", "county", "city"]))
    if kind == "city":
        return draw(st.sampled_from(COUNTIES))
    province = draw(st.sampled_from(PROVINCES))
    if kind == "province":
        return province + "0000"
    prefecture = f"{draw(st.integers(1, 99)):02d}"
    return province + prefecture + ("00" if kind == "prefecture" else f"{draw(st.integers(0, 99)):02d}")


@st.composite
def investment_codes(draw: st.DrawFn) -> str:
    return "-".join([draw(time_codes()), draw(regions()), draw(digits(2)), draw(digits(2)), draw(digits(6))])


def investment_oracle(code: str) -> str | None:
    code = norm(code)
    if not re.fullmatch(r"\d{4}-\d{6}-\d{2}-\d{2}-\d{6}", code):
        return "format"
    t = code[:4]
    legacy = 2014 <= int(t) <= 2020
    yymm = 1 <= int(t[2:]) <= 12 and (2000 + int(t[:2]), int(t[2:])) <= (TODAY.year, TODAY.month)
    if not (legacy or yymm):
        return "time_code"
    r = code[5:11]
    if r[:2] not in PROVINCES or (r[2:4] == "00" and r[4:] != "00"):
        return "region"
    return None


@given(investment_codes())
def test_valid_investment_codes_are_accepted(code: str) -> None:
    assert refs.check_investment_code(code, TODAY) == code


def mutations(draw: st.DrawFn, text: str) -> str:
    i = draw(st.integers(0, len(text) - 1))
    how = draw(st.sampled_from(["replace", "delete", "insert"]))
    c = draw(st.sampled_from(ALPHABET))
    if how == "delete":
        return text[:i] + text[i + 1:]
    if how == "insert":
        return text[:i] + c + text[i:]
    return text[:i] + c + text[i + 1:]


@settings(max_examples=600)
@given(st.data())
def test_every_single_character_change_is_judged_by_its_rule(data: st.DataObject) -> None:
    good = data.draw(investment_codes())
    bad = mutations(data.draw, good)
    expected = investment_oracle(bad)
    if expected is None:
        assert refs.check_investment_code(bad, TODAY) == norm(bad)
        return
    with pytest.raises(refs.RefError) as exc:
        refs.check_investment_code(bad, TODAY)
    assert exc.value.rule == expected, (good, bad)
    assert "投资项目代码" in exc.value.message


@pytest.mark.parametrize(("code", "rule"), [
    ("2013-430702-70-01-123456", "time_code"),   # neither a legacy year nor a month
    ("2021-430702-70-01-123456", "time_code"),   # month 21
    ("2100-430702-70-01-123456", "time_code"),   # month 00
    ("2701-430702-70-01-123456", "time_code"),   # January 2027: in the future on 2026-12-01
    ("2026-430702-70-01-123456", "time_code"),   # a year that is no longer a time code
    ("2611-990702-70-01-123456", "region"),      # no province 99
    ("2611-430012-70-01-123456", "region"),      # a county without a prefecture
    ("2611430702-70-01-123456", "format"),
    ("2611-430702-70-01-12345X", "format"),
])
def test_investment_code_rules(code: str, rule: str) -> None:
    with pytest.raises(refs.RefError) as exc:
        refs.check_investment_code(code, TODAY)
    assert exc.value.rule == rule


def test_investment_code_outside_the_city_is_a_warning_not_a_refusal() -> None:
    assert refs.check_investment_code("2611-440305-70-01-123456", TODAY)
    assert refs.investment_code_warnings("2611-440305-70-01-123456", CITY)
    assert refs.investment_code_warnings("2611-430701-70-01-123456", CITY) == []  # under 430700
    assert refs.investment_code_warnings("2019-430725-70-01-123456", CITY) == []
    assert refs.check_investment_code("２６１１－４３０７０２－７０－０１－１２３４５６", TODAY) == "2611-430702-70-01-123456"


# --- 电子监管号 (16) ------------------------------------------------------------------------------------------

@st.composite
def supply_numbers(draw: st.DrawFn) -> str:
    return (draw(st.sampled_from(COUNTIES)) + str(draw(st.integers(2000, TODAY.year)))
            + draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")) + draw(digits(5)))


def supply_oracle(text: str) -> str | None:
    text = norm(text)
    if len(text) != 16:
        return "length"
    if not text[:6].isdigit() or text[:6] not in CITY.divisions:
        return "county"
    if not text[6:10].isdigit() or not 2000 <= int(text[6:10]) <= TODAY.year:
        return "year"
    if not ("A" <= text[10] <= "Z"):
        return "letter"
    if not (text[11:].isascii() and text[11:].isdigit()):
        return "serial"
    return None


@settings(max_examples=500)
@given(st.data())
def test_supply_supervision_numbers(data: st.DataObject) -> None:
    good = data.draw(supply_numbers())
    assert refs.check_supply_supervision_no(good, TODAY, CITY) == good
    bad = mutations(data.draw, good)
    expected = supply_oracle(bad)
    if expected is None:
        assert refs.check_supply_supervision_no(bad, TODAY, CITY) == norm(bad)
        return
    with pytest.raises(refs.RefError) as exc:
        refs.check_supply_supervision_no(bad, TODAY, CITY)
    assert exc.value.rule == expected, (good, bad)


def test_supply_and_approval_numbers_are_separate_kinds() -> None:
    assert refs.check_supply_supervision_no("4307022026B00012", TODAY, CITY) == "4307022026B00012"
    with pytest.raises(refs.RefError) as exc:
        refs.check_supply_supervision_no("4301022026B00012", TODAY, CITY)  # 长沙市芙蓉区: not Changde's
    assert exc.value.rule == "county"
    approval = "4307022026000123456"
    with pytest.raises(refs.RefError) as exc:
        refs.check_supply_supervision_no(approval, TODAY, CITY)
    assert exc.value.rule == "length" and "报批监管号" in exc.value.message
    assert refs.check_approval_supervision_no(approval) == approval
    with pytest.raises(refs.RefError) as exc:
        refs.check_approval_supervision_no("4307022026B00012")
    assert exc.value.rule == "length"


@settings(max_examples=300)
@given(st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=19, max_size=19), st.data())
def test_approval_supervision_numbers(good: str, data: st.DataObject) -> None:
    assert refs.check_approval_supervision_no(good) == good
    bad = norm(mutations(data.draw, good))
    expected = "length" if len(bad) != 19 else (None if bad.isascii() and bad.isalnum() else "charset")
    if expected is None:
        assert refs.check_approval_supervision_no(bad) == bad
        return
    with pytest.raises(refs.RefError) as exc:
        refs.check_approval_supervision_no(bad)
    assert exc.value.rule == expected


# --- 不动产单元号 / 宗地代码 (GB/T 37346-2019) -------------------------------------------------------------------

@st.composite
def parcel_codes(draw: st.DrawFn) -> str:
    return (draw(st.sampled_from(COUNTIES)) + draw(digits(6)) + draw(st.sampled_from("GJZ"))
            + draw(st.sampled_from("ABSXCDEFHGWY")) + draw(digits(5)))


@st.composite
def unit_numbers(draw: st.DrawFn) -> str:
    fixture = draw(st.sampled_from("FLQW"))
    return draw(parcel_codes()) + fixture + ("00000000" if fixture == "W" else draw(digits(8)))


PARTS = [("county", 6, r"\d{6}"), ("cadastral_zone", 6, r"\d{6}"), ("ownership", 1, "[GJZ]"),
         ("parcel_kind", 1, "[ABSXCDEFHGWY]"), ("parcel_serial", 5, r"\d{5}"), ("fixture_kind", 1, "[FLQW]"),
         ("fixture_no", 8, r"\d{8}")]


def unit_oracle(text: str, length: int = 28) -> str | None:
    text = norm(text)
    if len(text) != length:
        return "length"
    pos = 0
    for rule, n, pattern in PARTS[:5 if length == 19 else 7]:
        chunk = text[pos:pos + n]
        if not re.fullmatch(pattern, chunk) or (rule == "county" and chunk not in CITY.divisions):
            return rule
        pos += n
    if length == 28 and text[19] == "W" and text[20:] != "00000000":
        return "fixture_w"
    return None


@settings(max_examples=600)
@given(st.data())
def test_unit_numbers(data: st.DataObject) -> None:
    good = data.draw(unit_numbers())
    assert refs.check_unit_no(good, CITY) == good
    assert refs.check_parcel_code(refs.parcel_code_of(good), CITY) == good[:19]
    bad = mutations(data.draw, good)
    expected = unit_oracle(bad)
    if expected is None:
        assert refs.check_unit_no(bad, CITY) == norm(bad)
        return
    with pytest.raises(refs.RefError) as exc:
        refs.check_unit_no(bad, CITY)
    assert exc.value.rule == expected, (good, bad)


@settings(max_examples=300)
@given(st.data())
def test_parcel_codes(data: st.DataObject) -> None:
    good = data.draw(parcel_codes())
    bad = mutations(data.draw, good)
    expected = unit_oracle(bad, 19)
    if expected is None:
        assert refs.check_parcel_code(bad, CITY) == norm(bad)
        return
    with pytest.raises(refs.RefError) as exc:
        refs.check_parcel_code(bad, CITY)
    assert exc.value.rule == expected, (good, bad)


def test_unit_number_rules_by_example() -> None:
    good = "430702001001GB00012W00000000"
    assert refs.check_unit_no(good, CITY) == good
    for bad, rule in [("430702001001GB00012W00000001", "fixture_w"), ("440305001001GB00012W00000000", "county"),
                      ("430702001001KB00012W00000000", "ownership"), ("430702001001GB00012Z00000000", "fixture_kind"),
                      ("430702001001GB00012W0000000", "length")]:
        with pytest.raises(refs.RefError) as exc:
            refs.check_unit_no(bad, CITY)
        assert exc.value.rule == rule


def test_a_body_refs_are_checked_normalised_and_gain_the_parcel_code() -> None:
    out = refs.check_refs([{"kind": "supervision_no", "value": " 4307022026b00012 "},
                           {"kind": "unit_no", "value": "430702001001GB00012W00000000"},
                           {"kind": "certificate_no", "value": "湘（2026）常德市不动产权第0001234号"}], TODAY, CITY)
    assert out == [{"kind": "supply_supervision_no", "value": "4307022026B00012"},
                   {"kind": "unit_no", "value": "430702001001GB00012W00000000"},
                   {"kind": "parcel_code", "value": "430702001001GB00012"},
                   {"kind": "certificate_no", "value": "湘（2026）常德市不动产权第0001234号"}]
    with pytest.raises(refs.FieldError) as exc:
        refs.check_refs([{"kind": "case_no", "value": "A-1"}, {"kind": "unit_no", "value": "123"}], TODAY, CITY)
    assert exc.value.field == "refs.1.value" and exc.value.rule == "length"
