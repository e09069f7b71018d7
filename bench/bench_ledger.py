"""The verifiable ledger at scale: what the Merkle tree costs on the append path, and that proofs stay O(log n).

- append: events appended through `ledger.log.append_many` (hash chain + outbox + Merkle nodes) against the
  same rows inserted into `events` alone, in the same run (the ratio is the tree's and chain's overhead);
- proofs: inclusion and consistency proof latency (database reads included) in a tree of 1 000 leaves and in
  one of N leaves (a ratio near 1 means O(log n), not O(n));
- verify: `GET /ledger/verify` computed, then answered from the cache at the same head.

    .venv/bin/python bench/bench_ledger.py [--quick] [--pg URL]      (full: 200 000 events)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_app, pg_database  # noqa: E402

from yimatong.core.context import Actor  # noqa: E402
from yimatong.ledger import log, merkle  # noqa: E402
from yimatong.ledger import verify as verification  # noqa: E402
from yimatong.storage.models import Event  # noqa: E402

ACTOR = Actor("bench", "admin")
BATCH = 500


def append(app, n: int) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for start in range(0, n, BATCH):
        with app.db.write() as s:
            log.append_many(s, ACTOR, [log.NewEvent("bench.event", f"C{i:06d}", {"i": i})
                                       for i in range(start, min(n, start + BATCH))])
    return time.perf_counter() - t


def baseline(app, n: int) -> float:  # type: ignore[no-untyped-def]
    """The same number of rows into `events` with one Core insert per batch: no chain, no tree, no outbox."""
    t = time.perf_counter()
    seq = 10**9
    for start in range(0, n, BATCH):
        rows = [{"seq": seq + i, "type": "bench.event", "code": f"C{i:06d}", "actor": "bench", "at": "2026-12-01T00:00:00Z",
                 "data": f'{{"i":{i}}}', "prev_hash": "0" * 64, "hash": "0" * 64, "confidentiality": "internal",
                 "owner_role": None} for i in range(start, min(n, start + BATCH))]
        with app.db.write() as s:
            s.execute(insert(Event.__table__), rows)
    return time.perf_counter() - t


def proof_latency(app, size: int, rounds: int = 200) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    inc, con = [], []
    with app.db.read() as s:
        for _ in range(rounds):
            seq = rng.randint(1, size)
            t = time.perf_counter()
            merkle.inclusion(s, seq, size)
            inc.append(time.perf_counter() - t)
            first = rng.randint(1, size)
            t = time.perf_counter()
            merkle.consistency(s, first, size)
            con.append(time.perf_counter() - t)
    return statistics.median(inc) * 1000, statistics.median(con) * 1000


def run(url: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = fresh_app(url, Path(tmp) / "data")
        t_small = append(app, 1000)
        small = proof_latency(app, 1000)
        t_rest = append(app, n - 1000)
        big = proof_latency(app, n)
        rate = (n - 1000) / t_rest
        print(f"append_many (chain + Merkle + outbox): {rate:,.0f} events/s  ({n - 1000} events in {t_rest:.1f} s; "
              f"first 1000 in {t_small:.2f} s)")
        with app.db.read() as s:
            root = merkle.root(s, n)
        t0 = time.perf_counter()
        verification.cached_or_run(app)
        t_verify = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = verification.cached_or_run(app)
        t_cached = time.perf_counter() - t0
        assert cached["cached"] and cached["root_hash"] == root
        base = baseline(app, n - 1000)
        print(f"baseline (plain inserts into events):  {(n - 1000) / base:,.0f} rows/s   ratio append/baseline = "
              f"{t_rest / base:.2f}")
        print(f"inclusion proof  median {small[0]:.3f} ms at 1 000 leaves, {big[0]:.3f} ms at {n:,} "
              f"(ratio {big[0] / small[0]:.2f})")
        print(f"consistency proof median {small[1]:.3f} ms at 1 000 leaves, {big[1]:.3f} ms at {n:,} "
              f"(ratio {big[1] / small[1]:.2f})")
        print(f"GET /ledger/verify: computed {t_verify:.2f} s, cached {t_cached * 1000:.1f} ms "
              f"(ratio {t_verify / t_cached:,.0f})")
        app.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", help="also run on PostgreSQL (an admin URL; a database is created)")
    args = ap.parse_args()
    n = 20_000 if args.quick else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        print(f"--- SQLite, {n:,} events")
        run(f"sqlite:///{tmp}/bench.sqlite3", n)
    if args.pg:
        print(f"--- PostgreSQL, {n:,} events")
        run(pg_database(args.pg, "ymt_bench_ledger"), n)


if __name__ == "__main__":
    main()
