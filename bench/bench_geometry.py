"""Validation and repair of hostile rings: the old repair (make_valid 'linework'), the new one ('structure') and the
budgeted check (worker process, deadline, RLIMIT_AS), against a baseline measured in the same run: validating a
valid parcel of the same vertex count. Each case runs in a fresh process (peak memory is that process's).

    .venv/bin/python bench/bench_geometry.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

CASE = r"""
import json, resource, sys, time
import numpy as np, shapely
from shapely.geometry import Polygon
from yimatong.domain import geometry as geo
from yimatong.formats.geometry_check import Budget, check_geometries

def main():
    what, n = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(1)
    if what == "baseline":
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        ring = Polygon(np.column_stack([111.69 + 0.005 * np.cos(t), 29.04 + 0.005 * np.sin(t)]))
    else:
        ring = Polygon(np.column_stack([111.69 + rng.random(n) * 0.01, 29.04 + rng.random(n) * 0.01]))
    if what in ("baseline", "budget"):  # the forkserver starts once per process: not part of a check's cost
        t = np.linspace(0, 2 * np.pi, 1500, endpoint=False)
        check_geometries([(Polygon(np.column_stack([111.69 + 0.005 * np.cos(t), 29.04 + 0.005 * np.sin(t)])), "w")],
                         Budget())
    start = time.perf_counter()
    if what in ("baseline", "budget"):
        out = check_geometries([(ring, "g")], Budget())[0]
        result = "refused" if isinstance(out, geo.GeometryError) else "valid"
    else:
        result = shapely.make_valid(ring, method=what).geom_type
    print(json.dumps({"seconds": time.perf_counter() - start, "result": result,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))

if __name__ == "__main__":
    main()
"""


def run(what: str, n: int, cap: float) -> dict[str, object]:
    try:
        done = subprocess.run([sys.executable, "-c", CASE, what, str(n)], capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return {"seconds": cap, "result": f"over {cap:.0f} s (stopped)", "peak_mb": "?"}
    if done.returncode != 0:
        return {"seconds": float("nan"), "result": done.stderr.strip().splitlines()[-1][:60], "peak_mb": "?"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    quick = "--quick" in sys.argv
    cases = [("linework", 350, 120.0), ("structure", 350, 120.0), ("budget", 350, 120.0),
             ("structure", 2000, 120.0), ("budget", 2000, 120.0), ("budget", 5000, 120.0)]
    if quick:
        cases = [c for c in cases if c[0] != "linework" and c[1] <= 2000]
    print("| method | vertices | seconds | baseline s | ratio | peak MB (this process) | result |")
    print("|---|---|---|---|---|---|---|")
    for what, n, cap in cases:
        base = run("baseline", n, cap)
        got = run(what, n, cap)
        ratio = float(got["seconds"]) / max(float(base["seconds"]), 1e-6)  # type: ignore[arg-type]
        print(f"| {what} | {n} | {float(got['seconds']):.2f} | {float(base['seconds']):.3f} | {ratio:.0f} | "  # type: ignore[arg-type]
              f"{got['peak_mb']} | {got['result']} |", flush=True)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
