"""Property-based tests of the Merkle tree (domain.merkle) against a naive recomputation and an independent
RFC 9162 verifier: roots, inclusion and consistency proofs for every size, with both hash algorithms."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import rfc9162
from yimatong.domain import merkle

ALGS = st.sampled_from(["sha256", "sm3"])


def leaves_of(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


def stored(alg: str, leaves: list[bytes], batches: list[int]) -> dict[tuple[int, int], bytes]:
    """The nodes as the database keeps them, appended in the given batch sizes (as events arrive)."""
    known: dict[tuple[int, int], bytes] = {}
    nodes: dict[tuple[int, int], bytes] = {}
    size = 0
    for b in batches:
        part = leaves[size:size + b]
        frontier = {k: known[k] for k in merkle.frontier(size)}  # only what append_leaves reads back
        for lv, i, h in merkle.append(alg, frontier, size, part):
            nodes[(lv, i)] = h
        known = dict(nodes)
        size += len(part)
    return nodes


@st.composite
def tree(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 200))
    cuts = draw(st.lists(st.integers(1, 40), min_size=1, max_size=30))
    batches, total = [], 0
    for c in cuts:
        if total >= n:
            break
        batches.append(min(c, n - total))
        total += batches[-1]
    if total < n:
        batches.append(n - total)
    return n, batches


@settings(max_examples=150, deadline=None)
@given(tree(), ALGS)
def test_stored_nodes_give_the_naive_root_for_every_prefix(t, alg) -> None:
    n, batches = t
    leaves = leaves_of(n)
    nodes = stored(alg, leaves, batches)
    assert len(nodes) == sum(n >> level for level in range(n.bit_length()))  # exactly the complete subtrees
    for size in range(1, n + 1):
        got = merkle.root(alg, lambda lv, i: nodes[(lv, i)], size)
        assert got == rfc9162.mth(alg, leaves[:size]) == merkle.naive_root(alg, leaves[:size])


@settings(max_examples=200, deadline=None)
@given(st.data(), ALGS)
def test_inclusion_proofs_verify_independently_and_only_for_their_leaf(data, alg) -> None:
    n = data.draw(st.integers(1, 300))
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    leaves = leaves_of(n)
    nodes = stored(alg, leaves, [n])
    get = lambda lv, i: nodes[(lv, i)]  # noqa: E731
    path = merkle.inclusion_path(alg, get, index, size)
    root = rfc9162.mth(alg, leaves[:size])
    assert len(path) <= size.bit_length()  # O(log n)
    assert len(merkle.needed_for_inclusion(index, size)) <= 2 * size.bit_length() ** 2
    assert rfc9162.verify_inclusion(alg, leaves[index], index, size, path, root)
    assert merkle.verify_inclusion(alg, index, size, merkle.leaf_hash(alg, leaves[index]), path, root)
    other = (index + 1) % size
    if other != index:
        assert not rfc9162.verify_inclusion(alg, leaves[other], index, size, path, root)
        assert not rfc9162.verify_inclusion(alg, leaves[index], other, size, path, root)
    if path:
        bad = [bytes(32)] + path[1:]
        assert not rfc9162.verify_inclusion(alg, leaves[index], index, size, bad, root)


@settings(max_examples=200, deadline=None)
@given(st.data(), ALGS)
def test_consistency_proofs_verify_independently_and_catch_a_fork(data, alg) -> None:
    second = data.draw(st.integers(1, 300))
    first = data.draw(st.integers(1, second))
    leaves = leaves_of(second)
    nodes = stored(alg, leaves, [second])
    path = merkle.consistency_path(alg, lambda lv, i: nodes[(lv, i)], first, second)
    r1, r2 = rfc9162.mth(alg, leaves[:first]), rfc9162.mth(alg, leaves[:second])
    assert len(path) <= 2 * second.bit_length()
    assert rfc9162.verify_consistency(alg, first, second, r1, r2, path)
    assert merkle.verify_consistency(alg, first, second, r1, r2, path)
    # a forked history: one of the first `first` leaves differs; its root cannot be joined to the new tree
    j = data.draw(st.integers(0, first - 1))
    forked = leaves[:j] + [hashlib.sha256(b"forged").digest()] + leaves[j + 1:first]
    r1_forked = rfc9162.mth(alg, forked)
    assert not rfc9162.verify_consistency(alg, first, second, r1_forked, r2, path)
    assert not merkle.verify_consistency(alg, first, second, r1_forked, r2, path)


def test_known_vector_of_the_empty_and_one_leaf_tree() -> None:
    assert merkle.root("sha256", lambda lv, i: b"", 0).hex() == hashlib.sha256(b"").hexdigest()
    leaf = bytes(32)
    assert merkle.naive_root("sha256", [leaf]) == hashlib.sha256(b"\x00" + leaf).digest()
