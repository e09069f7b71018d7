"""Import of a large supply plan: rows/s and peak memory (each measured in its own process), against reading
the same file with the bare reader library (openpyxl, read-only, the same reader the importer streams with).
Two sizes show whether memory grows with the number of rows.

    .venv/bin/python bench/bench_import.py [--quick]     (full: 20 000 and 100 000 rows)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import xlsxwriter

DIVISIONS = ["武陵区", "鼎城区", "安乡县", "汉寿县", "澧县", "临澧县", "桃源县", "石门县", "津市市"]
SUPPLY = ["挂牌出让", "拍卖出让", "划拨", "协议出让"]
USES = ["城镇住宅用地", "工业用地", "商业用地", "教育用地", "物流仓储用地"]


WORDS = "东南西北丹阳灌溪柳叶德山善卷桃花源澧阳嘉山皇山白鹤岗市滨湖江北芷兰朗州武陵沅水穿紫河新河护城"


def make_file(path: Path, rows: int) -> None:
    import random

    rng = random.Random(5)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["2026年度常德市国有建设用地供应计划"])
    ws.write_row(1, 0, ["序号", "项目名称", "行政区划", "年度", "供地方式", "土地用途", "面积（公顷）", "拟供地时间"])
    for i in range(rows):
        ws.write_row(i + 2, 0, [i + 1, f"{DIVISIONS[i % 9]}{''.join(rng.choices(WORDS, k=8))}片区开发项目", DIVISIONS[i % 9], 2026, SUPPLY[i % 4],
                                USES[i % 5], round(1 + (i % 97) / 10, 2), f"2026-{1 + i % 12:02d}"])
    ws.write_row(rows + 2, 0, ["合计"])
    wb.close()


CHILD = r'''
import json, resource, sys, time
from pathlib import Path
mode, path, db, data = sys.argv[1:5]
t = time.perf_counter()
if mode == "bare":
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    n = sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True))
else:
    from yimatong.config import Settings
    from yimatong.profiles.loader import load_profile
    from yimatong.intake import jobs as import_jobs
    from yimatong.core.context import Actor, App
    from yimatong.storage.migrate import upgrade
    app = App(Settings(database_url=db, data_dir=Path(data), deliver_webhooks=False), load_profile("changde"))
    upgrade(app.db.engine)
    r = import_jobs.import_sheet(app, Actor("bench", "admin"), "supply_plan", Path(path).read_bytes(), "plan.xlsx")
    n = r.counts["rows"]
    assert not r.refused, r.refused[:3]
elapsed = time.perf_counter() - t
print(json.dumps({"rows": n, "seconds": elapsed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run(mode: str, path: Path, tmp: Path) -> dict:  # type: ignore[type-arg]
    db = f"sqlite:///{tmp / (path.stem + '.sqlite3')}"
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), db, str(tmp / "data")], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = (2_000, 10_000) if args.quick else (20_000, 100_000)
    print(f"{'rows':>8}{'bare rows/s':>13}{'import rows/s':>15}{'ratio':>7}{'bare MB':>9}{'import MB':>11}")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for n in sizes:
            path = tmp / f"plan-{n}.xlsx"
            make_file(path, n)
            bare, imp = run("bare", path, tmp), run("import", path, tmp)
            assert imp["rows"] == n, imp
            b_rate, i_rate = bare["rows"] / bare["seconds"], imp["rows"] / imp["seconds"]
            print(f"{n:>8}{b_rate:>13.0f}{i_rate:>15.0f}{i_rate / b_rate:>7.3f}{bare['peak_mb']:>9.0f}"
                  f"{imp['peak_mb']:>11.0f}")


if __name__ == "__main__":
    main()
