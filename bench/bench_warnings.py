"""Supervision warnings at scale (default 100 000 projects each with a parcel, dense enough for 127 000 spatial
conflicts). Baseline, in the same run: the full computation from the data (what every process did after any
parcel change before warnings were stored). Then the stored warnings (issue 16 item 4): the first computation
into the store (once per database), and what a reader waits for after a stage change and after a parcel is
attached — the incremental update from the new events plus the first page and the counts by kind, read from
the store as any process would.

    .venv/bin/python bench/bench_warnings.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from shapely.geometry import box
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
from bench_pages import populate  # noqa: E402
from common import fresh_app  # noqa: E402

from yimatong.core.context import Actor, local_today  # noqa: E402
from yimatong.core.visibility import View  # noqa: E402
from yimatong.ledger import merkle  # noqa: E402
from yimatong.parcels import store as parcels  # noqa: E402
from yimatong.projects import registry  # noqa: E402
from yimatong.stages import service as stages  # noqa: E402
from yimatong.storage.models import Event, Project  # noqa: E402
from yimatong.supervision import service as supervision  # noqa: E402
from yimatong.supervision import stored  # noqa: E402
from yimatong.uow import transaction  # noqa: E402

ACTOR = Actor("bench", "admin")
ROUNDS = 7


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    n = 10_000 if ap.parse_args().quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        app = fresh_app(f"sqlite:///{tmp}/warnings.sqlite3", Path(tmp))
        populate(app, n)
        with app.db.write() as session:  # populate writes events without their Merkle nodes (migration 0007)
            hashes = session.execute(select(Event.hash).order_by(Event.seq)).scalars().all()
            merkle.append_leaves(session, 1, list(hashes))

        def full() -> tuple[float, int]:
            with app.db.read() as s:
                t = time.perf_counter()
                count = len(supervision.compute(s, app, None, None, local_today(app.profile)))
                return time.perf_counter() - t, count

        def reader() -> float:
            """Warnings as a page shows them after a change: the update, the first page, the counts by kind."""
            t = time.perf_counter()
            with app.db.read() as s:
                supervision.page(s, app, View.of(app, None), None, None, 100, None)
            with app.db.read() as s:
                stored.counts(s)
            return time.perf_counter() - t

        baseline, count = full()
        t = time.perf_counter()
        stored.refresh(app)
        first = time.perf_counter() - t
        with app.db.read() as s:
            codes = s.execute(select(Project.code).order_by(Project.id).limit(2 * ROUNDS)).scalars().all()
        after_stage, after_parcel = [], []
        for k in range(ROUNDS):  # the median of several changes: the machine is shared
            with transaction(app, ACTOR) as uow:
                stages.set_stage(uow, codes[k], "land_approval", {"status": "done"})
            after_stage.append(reader())
            with transaction(app, ACTOR) as uow:
                project = registry.get(uow.session, codes[ROUNDS + k])
                parcels.attach(uow, project, box(111.69 + k * 0.01, 29.04, 111.691 + k * 0.01, 29.041))
            after_parcel.append(reader())
        with app.db.read() as s:
            assert sorted(w.as_dict()["detail"] for w in stored.load(s)) == sorted(
                w.detail for w in supervision.compute(s, app, None, None, local_today(app.profile)))
        app.close()
    print(f"{n} projects and parcels; {count} warnings")
    print(f"{'computation':<58}{'seconds':>9}{'ratio':>9}")
    for name, v in (("full computation (baseline: before, after any parcel change)", baseline),
                    ("stored: first computation into the store (once)", first),
                    ("stored: update + first page + counts after a stage change", statistics.median(after_stage)),
                    ("stored: update + first page + counts after a parcel change", statistics.median(after_parcel))):
        print(f"{name:<58}{v:>9.3f}{v / baseline:>9.4f}")


if __name__ == "__main__":
    main()
