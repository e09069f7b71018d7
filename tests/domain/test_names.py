from hypothesis import given
from hypothesis import strategies as st

from yimatong.domain.names import classify_match, name_similarity, normalize_name


def test_variants_of_one_name_normalise_equal() -> None:
    base = normalize_name("常德市武陵区（东江）安置小区建设项目")
    for variant in ("常德市武陵区(东江)安置小区", " 常德市武陵区【东江】安置小区 项目 ",
                    "常德市武陵区（东江）安置小区工程", "常德市武陵区（东江）安置小区项目"):
        assert normalize_name(variant) == base


def test_similarity_classes() -> None:
    assert classify_match(name_similarity("鼎城区高新区标准厂房项目", "鼎城区高新区标准厂房")) == "same"
    assert classify_match(name_similarity("鼎城区高新区标准厂房一期", "鼎城区高新区标准厂房二期")) == "uncertain"
    assert classify_match(name_similarity("桃源县人民医院", "石门县自来水厂")) == "different"


full_width = st.text(alphabet="常德武陵区项目工程安置小区一二三ABCabc123（）()", min_size=1, max_size=20)


@given(full_width)
def test_normalise_is_idempotent(name: str) -> None:
    once = normalize_name(name)
    assert normalize_name(once) == once


@given(full_width, st.integers(0, 20))
def test_spaces_do_not_matter(name: str, pos: int) -> None:
    spaced = name[:pos] + " \u3000" + name[pos:]
    assert normalize_name(spaced) == normalize_name(name)


def test_numbers_keep_lots_and_phases_apart() -> None:
    assert classify_match(name_similarity("武陵区第12号地块开发项目", "武陵区第13号地块开发项目")) == "uncertain"
    assert classify_match(name_similarity("鼎城区标准厂房一期", "鼎城区标准厂房二期")) == "uncertain"
    assert classify_match(name_similarity("鼎城区标准厂房(一期)项目", "鼎城区标准厂房（一期）")) == "same"
