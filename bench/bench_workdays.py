"""Working-day deadlines (domain/workdays.py, chinese-calendar) against a baseline measured in the same run: the
same loop counting Monday–Friday only (what a naive implementation would do, wrong on 调休 and holidays). The ratio
says what the official calendar costs per deadline; supervision computes one per open stage and review.

    .venv/bin/python bench/bench_workdays.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time

from yimatong.domain import workdays


def weekdays_only(start: dt.date, limit: int) -> dt.date:
    day, n = start, 0
    while n < limit:
        day += dt.timedelta(days=1)
        n += day.weekday() < 5
    return day


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 5_000 if args.quick else 50_000
    rng = random.Random(7)
    first, last = workdays.covered_years()
    cases = [(dt.date(rng.randint(max(first, 2010), last - 1), rng.randint(1, 12), rng.randint(1, 28)),
              rng.choice([5, 15, 20, 60])) for _ in range(n)]
    stop = workdays.Suspension(dt.date(last - 1, 3, 1), dt.date(last - 1, 3, 20))
    t0 = time.perf_counter()
    for start, limit in cases:
        weekdays_only(start, limit)
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start, limit in cases:
        workdays.add_working_days(start, limit)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start, limit in cases:
        workdays.add_working_days(start, limit, [stop])
    stopped = time.perf_counter() - t0
    print(f"{n} deadlines: weekdays-only baseline {base * 1e6 / n:.1f} µs each; official calendar "
          f"{ours * 1e6 / n:.1f} µs ({ours / base:.1f}×); with a suspension {stopped * 1e6 / n:.1f} µs "
          f"({stopped / base:.1f}×)")


if __name__ == "__main__":
    main()
