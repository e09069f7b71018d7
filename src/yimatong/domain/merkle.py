"""The ledger as a Merkle tree, RFC 9162 §2.1 (Certificate Transparency v2). Pure: no I/O.

Leaves are the events' hashes in seq order, as their 32 raw bytes (the hex text of `hash` decoded), so that
the leaf hash is `H(0x00 || bytes.fromhex(event.hash))` and an inner node `H(0x01 || left || right)` (§2.1.1),
with the ledger's hash algorithm (sha256 or sm3). Tree sizes and leaf indices are as in the RFC: leaf index =
seq - 1, the tree of size n covers seq 1 … n.

Proofs are built from a `Nodes` lookup: node (level, idx) is MTH(D[idx·2^level : (idx+1)·2^level]), a complete
aligned subtree. Every subtree an RFC 9162 proof or root needs is such a node or lies on the right edge of the
tree and is made of O(log n) of them, so a proof costs O(log n) lookups (`needed_*` names them up front, for
one database round trip).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from yimatong.domain.ledger import digest_fn

Nodes = Callable[[int, int], bytes]  # (level, idx) -> hash of that complete subtree


class ProofError(ValueError):
    pass


def leaf_bytes(event_hash_hex: str) -> bytes:
    return bytes.fromhex(event_hash_hex)


def leaf_hash(alg: str, leaf: bytes) -> bytes:
    return digest_fn(alg)(b"\x00" + leaf)


def node_hash(alg: str, left: bytes, right: bytes) -> bytes:
    return digest_fn(alg)(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1), §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree(alg: str, nodes: Nodes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) where `start` is a multiple of the smallest power of two ≥ end - start (true of every
    subtree the RFC algorithms visit)."""
    n = end - start
    if n & (n - 1) == 0:  # complete: one stored node
        level = n.bit_length() - 1
        return nodes(level, start >> level)
    k = _split(n)
    return node_hash(alg, subtree(alg, nodes, start, start + k), subtree(alg, nodes, start + k, end))


def root(alg: str, nodes: Nodes, size: int) -> bytes:
    if size == 0:
        return digest_fn(alg)(b"")  # §2.1.1: the hash of the empty string
    return subtree(alg, nodes, 0, size)


def inclusion_path(alg: str, nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1, leaf first."""
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    out: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            out.append(subtree(alg, nodes, start + k, end))
            end = start + k
        else:
            out.append(subtree(alg, nodes, start, start + k))
            start += k
    out.reverse()
    return out


def consistency_path(alg: str, nodes: Nodes, first: int, second: int) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of §2.1.4.1."""
    if not 0 < first <= second:
        raise ProofError("need 0 < first <= second")
    out: list[bytes] = []
    m, start, end, complete = first, 0, second, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append(subtree(alg, nodes, start, end))
            break
        k = _split(n)
        if m <= k:
            out.append(subtree(alg, nodes, start + k, end))
            end = start + k
        else:
            out.append(subtree(alg, nodes, start, start + k))
            m, start, complete = m - k, start + k, False
    out.reverse()
    return out


def _recording(calls: set[tuple[int, int]]) -> Nodes:
    def get(level: int, idx: int) -> bytes:
        calls.add((level, idx))
        return b""

    return get


def needed_for_root(size: int) -> set[tuple[int, int]]:
    calls: set[tuple[int, int]] = set()
    if size:
        subtree("sha256", _recording(calls), 0, size)
    return calls


def needed_for_inclusion(index: int, size: int) -> set[tuple[int, int]]:
    calls: set[tuple[int, int]] = set()
    inclusion_path("sha256", _recording(calls), index, size)
    return calls


def needed_for_consistency(first: int, second: int) -> set[tuple[int, int]]:
    calls: set[tuple[int, int]] = set()
    consistency_path("sha256", _recording(calls), first, second)
    return calls


def frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees still waiting for a right sibling in a tree of `size` leaves (one per set bit)."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1]


def append(alg: str, known: dict[tuple[int, int], bytes], size: int, leaves: Iterable[bytes]
           ) -> list[tuple[int, int, bytes]]:
    """The nodes that become complete when `leaves` (leaf bytes) join a tree of `size` leaves. `known` holds
    at least the frontier of the old tree (and is extended)."""
    new: list[tuple[int, int, bytes]] = []
    for i, leaf in enumerate(leaves, start=size):
        h, level, idx = leaf_hash(alg, leaf), 0, i
        known[(0, idx)] = h
        new.append((0, idx, h))
        while idx & 1:
            h = node_hash(alg, known[(level, idx - 1)], h)
            level, idx = level + 1, idx >> 1
            known[(level, idx)] = h
            new.append((level, idx, h))
    return new


# --- verification (what a client does offline; §2.1.3.2 and §2.1.4.2) -------------------------------------------


def verify_inclusion(alg: str, index: int, size: int, leaf_hash_: bytes, path: list[bytes], root_: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash_
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(alg, p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(alg, r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_


def verify_consistency(alg: str, first: int, second: int, first_root: bytes, second_root: bytes,
                       path: list[bytes]) -> bool:
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    if first & (first - 1) == 0:  # a power of two: the first tree is itself a node of the proof
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(alg, c, fr), node_hash(alg, c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(alg, sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def naive_root(alg: str, leaves: list[bytes]) -> bytes:
    """MTH straight from the definition (§2.1.1): for tests and small trees."""
    if not leaves:
        return digest_fn(alg)(b"")
    if len(leaves) == 1:
        return leaf_hash(alg, leaves[0])
    k = _split(len(leaves))
    return node_hash(alg, naive_root(alg, leaves[:k]), naive_root(alg, leaves[k:]))
