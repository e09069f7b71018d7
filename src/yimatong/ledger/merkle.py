"""The ledger's Merkle tree in the database (table `merkle_nodes`): appended with the events, read for roots
and proofs in O(log n) rows. The pure algorithms are `domain.merkle`; see there for what a leaf is."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from yimatong.domain import merkle
from yimatong.errors import AppError, invalid
from yimatong.storage import ledger_meta
from yimatong.storage.models import Event, MerkleNode

_INSERT = insert(MerkleNode)  # executed with a list of rows: one multi-row INSERT


class TreeBroken(AppError):
    """A node the tree needs is missing: the database was altered (run `ymt ledger verify`)."""

    status = 503
    title = "台账已损坏"


# Complete subtrees of 2**STORED_FROM leaves and more are stored; smaller ones are recomputed from `events.hash`
# (at most 2**STORED_FROM - 1 event rows each). That keeps ~n/4 tree rows for n events instead of 2n (the append
# path of a 100 000-row import) and proofs at O(log n) rows still.
STORED_FROM = 2


# The frontier of the last tree this process appended to, per engine: (alg, size, hash of leaf `size`, nodes).
# It is a pure function of the leaves 1 … size, and the hash of event `size` fixes all of them (each event hash
# covers the previous one), so an entry is valid exactly when the caller's previous hash — read from the
# database in its transaction — is the one it was made for: no invalidation is needed, not even when that
# transaction rolled back or another process appended meanwhile (the sizes or hashes then differ).
_FRONTIER: weakref.WeakKeyDictionary[Engine, tuple[str, int, str, dict[tuple[int, int], bytes]]] = \
    weakref.WeakKeyDictionary()


def append_leaves(session: Session, first_seq: int, hashes: Sequence[str], *, alg: str | None = None,
                  prev_hash: str | None = None) -> None:
    """Add the events seq first_seq … (their hashes, hex, in seq order) to the tree, in the caller's
    transaction. The caller holds the ledger's order (the counter row lock, or the sequencer): leaves are
    appended in seq order with no gap, and the events before first_seq are readable in this transaction.
    Reads the old tree's frontier (≤ log n nodes) — unless `prev_hash`, the hash of event first_seq - 1 as
    read in this transaction, is the one this process's last append ended with (the sequencer's usual case:
    no read) — and writes about one row per four leaves."""
    if not hashes:
        return
    alg = alg or ledger_meta.hash_alg(session)
    size = first_seq - 1
    engine = session.get_bind()
    cached = _FRONTIER.get(engine) if isinstance(engine, Engine) else None
    if cached is not None and prev_hash is not None and cached[:3] == (alg, size, prev_hash):
        known = dict(cached[3])
    else:
        known = _fetch(session, merkle.frontier(size), alg)
    new = merkle.append(alg, known, size, [merkle.leaf_bytes(h) for h in hashes])
    rows = [{"level": lv, "idx": i, "hash": h.hex()} for lv, i, h in new if lv >= STORED_FROM]
    if rows:
        session.execute(_INSERT, rows)
    if isinstance(engine, Engine):
        end = size + len(hashes)
        _FRONTIER[engine] = (alg, end, hashes[-1], {key: known[key] for key in merkle.frontier(end)})


def _fetch(session: Session, keys: Iterable[tuple[int, int]], alg: str) -> dict[tuple[int, int], bytes]:
    wanted = sorted(set(keys))
    out: dict[tuple[int, int], bytes] = {}
    by_level: dict[int, list[int]] = {}
    for level, idx in wanted:
        if level >= STORED_FROM:
            by_level.setdefault(level, []).append(idx)
    if by_level:
        # one query, a (level = L AND idx IN …) term per level: each term is a primary-key lookup on both
        # databases (a row-value IN made SQLite scan the table)
        stmt = select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(
            or_(*(and_(MerkleNode.level == lv, MerkleNode.idx.in_(idxs)) for lv, idxs in by_level.items())))
        out.update({(lv, idx): bytes.fromhex(h) for lv, idx, h in session.execute(stmt)})
    low = [(lv, idx) for lv, idx in wanted if lv < STORED_FROM]
    if low:
        seqs = sorted({i + 1 for lv, idx in low for i in range(idx << lv, (idx + 1) << lv)})
        found = dict(session.execute(select(Event.seq, Event.hash).where(Event.seq.in_(seqs))).all())
        for lv, idx in low:
            leaves = [found.get(i + 1) for i in range(idx << lv, (idx + 1) << lv)]
            if all(leaves):
                out[(lv, idx)] = merkle.naive_root(alg, [merkle.leaf_bytes(str(h)) for h in leaves])
    missing = [k for k in wanted if k not in out]
    if missing:
        level, idx = missing[0]
        raise TreeBroken(f"台账 Merkle 树缺少节点（层 {level}，序号 {idx}）：数据库被改动，请运行 ymt ledger verify",
                         [("ledger", "Merkle 树不完整")])
    return out


def _lookup(session: Session, keys: set[tuple[int, int]]) -> merkle.Nodes:
    found = _fetch(session, keys, ledger_meta.hash_alg(session))
    return lambda level, idx: found[(level, idx)]


def size(session: Session) -> int:
    """Leaves in the tree: the number of events (seq is gap-free from 1)."""
    return int(session.execute(select(func.max(Event.seq))).scalar() or 0)


def root(session: Session, tree_size: int) -> str:
    alg = ledger_meta.hash_alg(session)
    return merkle.root(alg, _lookup(session, merkle.needed_for_root(tree_size)), tree_size).hex()


def check_size(name: str, value: int, current: int, minimum: int = 1) -> None:
    if not minimum <= value <= current:
        raise invalid(name, f"{name} 应在 {minimum} 到当前台账规模 {current} 之间，收到 {value}")


def inclusion(session: Session, seq: int, tree_size: int | None = None) -> dict[str, Any]:
    """`GET /ledger/proof/inclusion?seq=N&size=S`: the audit path of event seq in the tree of size S."""
    current = size(session)
    tree_size = current if tree_size is None else tree_size
    check_size("size", tree_size, current)
    if not 1 <= seq <= tree_size:
        raise invalid("seq", f"seq 应在 1 到 size（{tree_size}）之间，收到 {seq}")
    alg = ledger_meta.hash_alg(session)
    index = seq - 1
    nodes = _lookup(session, merkle.needed_for_inclusion(index, tree_size))
    path = merkle.inclusion_path(alg, nodes, index, tree_size)
    return {"leaf_index": index, "tree_size": tree_size, "audit_path": [p.hex() for p in path]}


def consistency(session: Session, first: int, second: int | None = None) -> dict[str, Any]:
    """`GET /ledger/proof/consistency?first=M&second=S`: that the tree of size S extends the one of size M."""
    current = size(session)
    second = current if second is None else second
    check_size("second", second, current)
    if not 1 <= first <= second:
        raise invalid("first", f"first 应在 1 到 second（{second}）之间，收到 {first}")
    alg = ledger_meta.hash_alg(session)
    nodes = _lookup(session, merkle.needed_for_consistency(first, second))
    path = merkle.consistency_path(alg, nodes, first, second)
    return {"first": first, "second": second, "consistency_path": [p.hex() for p in path]}
