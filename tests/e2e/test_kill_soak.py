"""kill -9 of a server, a worker and an import at random moments, each restarted (the import resumes its job),
under registrations and webhook delivery: nothing half-written, nothing lost, the ledger verifies (issue 16).
Three rounds (each process killed once, at a seeded random moment); `bench/soak_kill.py --rounds N` is the long
run. A failure names its seed: `bench/soak_kill.py --rounds 3 --seed S` replays the same choices."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from soak_kill import soak  # noqa: E402

SEED = int(os.environ.get("YMT_SOAK_SEED", random.SystemRandom().randrange(10**6)))


def test_kill_9_of_server_worker_and_import_loses_nothing(db_url: str, tmp_path: Path) -> None:
    print(f"soak seed {SEED} (YMT_SOAK_SEED={SEED} replays it)")
    result = soak(db_url, tmp_path, rounds=3, seed=SEED, rows=100, init=False)  # db_url is migrated
    assert result["acknowledged"] > 0 and result["jobs"] >= 1
