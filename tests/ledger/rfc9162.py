"""An independent RFC 9162 §2.1 verifier, written from the RFC's text for the checks (it imports nothing of
yimatong): what a department would write to check our proofs. Leaves are the events' 32-byte hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes


def hash_fn(alg: str) -> Callable[[bytes], bytes]:
    if alg == "sha256":
        return lambda b: hashlib.sha256(b).digest()

    def sm3(b: bytes) -> bytes:
        h = hashes.Hash(hashes.SM3())
        h.update(b)
        return h.finalize()

    return sm3


def mth(alg: str, leaves: list[bytes]) -> bytes:
    """§2.1.1 Merkle Tree Hash."""
    h = hash_fn(alg)
    n = len(leaves)
    if n == 0:
        return h(b"")
    if n == 1:
        return h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return h(b"\x01" + mth(alg, leaves[:k]) + mth(alg, leaves[k:]))


def verify_inclusion(alg: str, leaf: bytes, leaf_index: int, tree_size: int, path: list[bytes], root: bytes) -> bool:
    """§2.1.3.2, step by step."""
    h = hash_fn(alg)
    if leaf_index >= tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = h(b"\x00" + leaf)
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = h(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(alg: str, first: int, second: int, first_hash: bytes, second_hash: bytes,
                       path: list[bytes]) -> bool:
    """§2.1.4.2, step by step (first == second: equal roots and an empty path)."""
    h = hash_fn(alg)
    if first == second:
        return first_hash == second_hash and not path
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = h(b"\x01" + c + fr)
            sr = h(b"\x01" + c + sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = h(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0
