"""Supervision warnings at scale (default 100 000 projects each with a parcel, dense enough for 127 000 spatial
conflicts): the time to compute every warning after a start (the baseline, measured in the same run), after a
stage change (the common change: spatial conflicts are reused) and after a parcel is attached (everything again).

    .venv/bin/python bench/bench_warnings.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from shapely.geometry import box
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
from bench_pages import populate  # noqa: E402
from common import fresh_app  # noqa: E402

from yimatong.core.context import Actor  # noqa: E402
from yimatong.parcels import store as parcels  # noqa: E402
from yimatong.projects import registry  # noqa: E402
from yimatong.stages import service as stages  # noqa: E402
from yimatong.storage.models import Project  # noqa: E402
from yimatong.supervision import service as supervision  # noqa: E402
from yimatong.uow import transaction  # noqa: E402

ACTOR = Actor("bench", "admin")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    n = 10_000 if ap.parse_args().quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        app = fresh_app(f"sqlite:///{tmp}/warnings.sqlite3", Path(tmp))
        populate(app, n)

        def compute() -> tuple[float, int]:
            with app.db.read() as s:
                t = time.perf_counter()
                count = len(supervision.all_warnings(s, app))
                return time.perf_counter() - t, count

        cold, count = compute()
        with transaction(app, ACTOR) as uow:
            codes = uow.session.execute(select(Project.code).order_by(Project.id).limit(2)).scalars().all()
            stages.set_stage(uow, codes[0], "land_approval", {"status": "done"})
        after_stage, _ = compute()
        with transaction(app, ACTOR) as uow:
            project = registry.get(uow.session, codes[1])
            parcels.attach(uow, project, box(111.69, 29.04, 111.691, 29.041))
        after_parcel, _ = compute()
        app.close()
    print(f"{n} projects and parcels; {count} warnings")
    print(f"{'computation':<36}{'seconds':>9}{'ratio':>8}")
    for name, v in (("after a start (baseline)", cold), ("after a stage change", after_stage),
                    ("after a parcel is attached", after_parcel)):
        print(f"{name:<36}{v:>9.2f}{v / cold:>8.2f}")


if __name__ == "__main__":
    main()
