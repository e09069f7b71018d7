"""The land-use cell reader: a cell is read in one edition; no cell is ever mapped to a code whose class
contradicts the name or the code written in it. The oracle reads the CSV files themselves."""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yimatong.intake.rows import CodeTables, read_land_use
from yimatong.profiles.loader import PROFILES_DIR, load_profile

PROFILE = load_profile("changde")
DIR = PROFILES_DIR / "changde"


def rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader((DIR / name).open(encoding="utf-8")))


G2023 = {r["code"]: r for r in rows("land_use_2023.csv")}
G2023 |= {"0000": {"code": "0000", "name": "待定", "level": "2", "parent": ""},
          "1600": {"code": "1600", "name": "留白用地", "level": "2", "parent": "16"},
          "2400": {"code": "2400", "name": "其他海域", "level": "2", "parent": "24"}}
GBT = {r["code"]: r for r in rows("land_use_gbt21010_2017.csv")}
MAP = {r["gbt21010"]: (r["code_2023"], r["exact"] == "yes") for r in rows("land_use_21010_to_2023.csv")}
TRIAL = {r["code"]: r["name"] for r in rows("land_use_2020_trial.csv")}
NAMES = sorted({r["name"] for r in G2023.values()} | {r["name"] for r in GBT.values()} | set(TRIAL.values()))
CODES = sorted(set(G2023) | set(GBT) | set(TRIAL))


def n(text: str) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", text))


def segment_of_2023(code: str) -> str | None:
    """The 4-digit value a 2023 class takes in a code: itself, its second-level parent, or 16 → 1600."""
    row = G2023[code]
    if len(code) == 4:
        return code
    if len(code) == 6:
        return row["parent"]
    twin = code + "00"
    return twin if twin in G2023 and G2023[twin]["name"] == row["name"] else None


def allowed(edition: str, code: str | None, name: str | None) -> set[str]:
    """Every value a cell with this code and/or name may honestly be read as in the edition."""
    table = G2023 if edition == "2023" else GBT
    out = set()
    for c, row in table.items():
        if code is not None and c != code:
            continue
        if name is not None and n(name) not in (n(row["name"]), n(row["name"]).removesuffix("用地")):
            continue
        if edition == "2023":
            out.add(segment_of_2023(c))
        elif c in MAP and MAP[c][1] and MAP[c][0] in G2023:
            out.add(segment_of_2023(MAP[c][0]))
    return out - {None}  # type: ignore[arg-type]


cells = st.tuples(st.one_of(st.none(), st.sampled_from(CODES), st.text("0123456789", min_size=2, max_size=6)),
                  st.one_of(st.none(), st.sampled_from(NAMES),
                            st.text(st.characters(blacklist_categories=("Nd", "Cs")), min_size=1, max_size=6)),
                  st.sampled_from(["", " ", "-", "、"]), st.booleans())


@settings(max_examples=1500)
@given(cells, st.sampled_from(["2023", "gbt21010"]))
def test_no_cell_is_read_as_a_class_its_code_or_name_contradicts(cell: tuple, edition: str) -> None:
    code, name, sep, name_first = cell
    if code is None and name is None:
        return
    text = (f"{name}({code})" if name_first else f"{code}{sep}{name}") if code and name else (code or name)
    got = read_land_use(PROFILE, text, edition)
    if got.value is None:
        assert got.reason  # refused, and says why
        return
    named = n(name).strip("-.、:：") if name else ""  # punctuation alone names no class
    assert got.value in allowed(edition, code if code else None, named or None), (text, got)
    assert PROFILE.has_value("land_use", got.value)


@settings(max_examples=300)
@given(st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(["、", "，", "/", ";", "+"]),
       st.sampled_from(["2023", "gbt21010"]))
def test_a_mixed_use_is_never_given_a_code(a: str, b: str, sep: str, edition: str) -> None:
    got = read_land_use(PROFILE, f"{a}{sep}{b}", edition)
    assert got.value is None and "混合用途" in (got.reason or "")


@pytest.mark.parametrize(("cell", "edition", "value", "words"), [
    ("0601工业用地", "2023", None, "农村道路"),     # GB/T 21010 0601 in a 2023 column: digits and name disagree
    ("0601工业用地", "gbt21010", "1001", None),
    ("0901", "2023", "0901", None),                 # 商业用地
    ("0901", "gbt21010", "1501", None),             # 21010 军事设施用地 → 2023 军事设施用地
    ("1001", "2023", "1001", None),                 # 工业用地
    ("1001", "gbt21010", None, "不是一一对应"),      # 21010 铁路用地 splits in 2023
    ("城镇住宅用地、商服用地", "2023", None, "混合用途"),
    ("城镇住宅用地、商服用地", "gbt21010", None, "混合用途"),
    ("二类城镇住宅用地", "2023", "0701", None),
    ("乡村道路用地", "2023", None, "2020版"),       # a 2020 name is never matched across editions
    ("0603", "2023", None, "0602"),
    ("商业用地", "gbt21010", None, "不跨版本"),
    (804, "2023", "0804", None),                     # a number cell that lost its leading zero
    ("05h1", "gbt21010", None, "不是一一对应"),
])
def test_the_issues_measured_cells(cell: object, edition: str, value: str | None, words: str | None) -> None:
    got = read_land_use(PROFILE, cell, edition)
    assert got.value == value, got
    if words:
        assert words in (got.reason or ""), got


def test_third_level_classes_are_kept_beside_the_code() -> None:
    got = read_land_use(PROFILE, "070102", "2023")
    assert (got.value, got.detail) == ("0701", "070102")


@pytest.mark.parametrize(("cell", "division", "zone"), [
    ("常德经开区", "430702", "jingkai"), ("德山", "430702", "jingkai"), ("柳叶湖旅游度假区", "430702", "liuyehu"),
    ("西湖管理区", "430722", "xihu"), ("桃花源旅游管理区", "430725", "taohuayuan"), ("桃花源", "430725", "taohuayuan"),
    ("西洞庭管理区", "430771", "xidongting"), ("常德高新区", "430703", "gaoxin"), ("常德市经开区", "430702", "jingkai"),
    ("武陵区", "430702", None), ("常德市鼎城区", "430703", None), ("津市", "430781", None), ("市本级", "430700", None),
])
def test_division_cells_name_zones_and_aliases(cell: str, division: str, zone: str | None) -> None:
    got = CodeTables(PROFILE, dt.date(2026, 12, 1)).division(cell)
    assert got == (division, zone, None)


@pytest.mark.parametrize(("cell", "value"), [("出让", "20"), ("招拍挂", "20"), ("作价出资或入股", "40"), ("作价入股", "40"),
                                              ("国有土地租赁", "30"), ("挂牌", "23"), ("协议出让", "24"), ("划拨", "10")])
def test_supply_type_cells(cell: str, value: str) -> None:
    assert CodeTables(PROFILE, dt.date(2026, 12, 1)).lookup("supply_type", cell) == (value, None)


def test_a_code_and_a_name_that_disagree_are_refused_in_every_table() -> None:
    tables = CodeTables(PROFILE, dt.date(2026, 12, 1))
    value, reason = tables.lookup("supply_type", "21挂牌出让")
    assert value is None and "不一致" in (reason or "")
    value, reason = tables.division("鼎城区经开区")[0], tables.division("鼎城区经开区")[2]
    assert value is None and reason
