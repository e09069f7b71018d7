"""The dashboard and the map at scale (default 100 000 projects / 100 000 parcels) in Debian's headless
Chromium: time to first render of the dashboard right after a start (the warnings are still being computed in
the background: the page shows 计算中 and fills the counts in when ready — also measured) and warm, time for the map to draw the parcels of a district view, and time from a click to the project box.
The baseline is the same browser loading the login page (a static-size page) in the same run.

    .venv/bin/python bench/bench_pages.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

from shapely import wkb
from shapely.geometry import box
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from bench_map import jump, wait_js  # noqa: E402 - the map's steps measured as the map benchmark does
from common import ServerThread, fresh_app  # noqa: E402

from yimatong.accounts import users  # noqa: E402
from yimatong.api.app import create_app  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
STAGES = ["intake", "pre_review", "land_approval", "supply", "land_use_permit", "works_permit", "construction",
          "verification", "registration"]


def district_points(app, rng: random.Random):  # type: ignore[no-untyped-def]
    """Random points inside each district's real boundary, so parcels lie in the division of their code."""
    from shapely.geometry import Point
    from shapely.prepared import prep

    from yimatong.parcels.spatial import division_shape

    def sample(div: str) -> tuple[float, float]:
        shape = division_shape(app, div)
        ready, (minx, miny, maxx, maxy) = prep(shape), shape.bounds
        while True:
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if ready.contains(Point(x, y)) and ready.contains(Point(x + 0.002, y + 0.0015)):
                return x, y

    return sample


def populate(app, n: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    point_in = district_points(app, rng)
    now = dt.datetime.now(dt.UTC)
    divisions = ["430702", "430703", "430721", "430722", "430723", "430724", "430725", "430726", "430781"]
    with app.db.engine.begin() as c:
        for start in range(0, n, 20_000):
            projects, parcels, links, stages, events = [], [], [], [], []
            for i in range(start + 1, min(n, start + 20_000) + 1):
                div = divisions[i % 9]
                stage = STAGES[i % len(STAGES)]
                code = f"CD{div}2026010223{'0701'}{i:06d}"
                projects.append({"id": i, "code": code, "n": f"项目{i}", "d": div, "s": stage, "a": 5000.0, "t": now})
                x, y = point_in(div)
                g = box(x, y, x + 0.002, y + 0.0015)
                parcels.append({"id": i, "w": wkb.dumps(g), "a": x, "b": y, "c": x + 0.002, "d": y + 0.0015, "t": now})
                links.append({"p": i, "q": i, "t": now})
                stages.append({"p": i, "k": stage, "t": now})
                events.append({"seq": i, "code": code, "at": now.isoformat(), "h": f"{i:064x}", "ph": f"{i - 1:064x}"})
            c.execute(text("INSERT INTO projects (id, code, name, name_norm, status, division, year, approval_type, "
                           "project_type, supply_type, land_use, current_stage, code_outdated, extra, area_m2, "
                           "created_at, updated_at, created_by, updated_by) VALUES (:id, :code, :n, :n, 'active', :d, "
                           "2026, '01', '02', '23', '0701', :s, false, '{}', :a, :t, :t, 'b', 'b')"), projects)
            c.execute(text("INSERT INTO parcels (id, geom_wkb, minx, miny, maxx, maxy, area_m2, properties, created_by, "
                           "created_at) VALUES (:id, :w, :a, :b, :c, :d, 5000, '{}', 'b', :t)"), parcels)
            c.execute(text("INSERT INTO parcels_rtree (id, minx, maxx, miny, maxy) VALUES (:id, :a, :c, :b, :d)"), parcels)
            c.execute(text("INSERT INTO project_parcels (project_id, parcel_id, attached_at, attached_by) "
                           "VALUES (:p, :q, :t, 'b')"), links)
            c.execute(text("INSERT INTO stages (project_id, key, status, updated_by, updated_at) "
                           "VALUES (:p, :k, 'done', 'b', :t)"), stages)
            c.execute(text("INSERT INTO events (seq, type, code, actor, at, data, prev_hash, hash, confidentiality) "
                           "VALUES (:seq, 'project.registered', :code, 'b', :at, '{}', :ph, :h, 'internal')"), events)
        # the ledger counter where the loaded events end, so that the services can append after them
        c.execute(text("INSERT INTO counters (scope, value) VALUES ('ledger', :n)"), {"n": n})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 10_000 if args.quick else 100_000
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        app = fresh_app(f"sqlite:///{tmp}/pages.sqlite3", Path(tmp))
        t0 = time.perf_counter()
        populate(app, n)
        print(f"{n} projects and parcels loaded in {time.perf_counter() - t0:.0f}s")
        with app.db.write() as s:
            users.create(s, "bench", "Loadtest-password-1", "admin", must_change_password=False)
        with ServerThread(create_app(app.settings, app)) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 860})

            def load(path: str, ready: str) -> float:
                t = time.perf_counter()
                page.goto(url + path)
                page.wait_for_selector(ready, state="attached")
                return time.perf_counter() - t

            baseline = min(load("/login", "input[name=username]") for _ in range(3))
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "Loadtest-password-1")
            t = time.perf_counter()
            page.click("button[type=submit]")
            page.wait_for_selector("text=按阶段")
            cold = time.perf_counter() - t
            page.wait_for_selector("b[data-warning-kind]:not(.pending)", timeout=600_000)
            counts_in = time.perf_counter() - t
            warm = min(load("/", "text=按阶段") for _ in range(3))
            page.goto(url + "/map")  # MapLibre: the view is ready at its `idle` event (every tile drawn)
            wait_js(page, "window.ymtMap && window.ymtMap.loaded()")
            map_draw = jump(page, 111.65, 29.1, 13)["ms"] / 1000
            lon, lat = page.evaluate("""() => { const f = window.ymtMap.queryRenderedFeatures(
                {layers: ['parcels-fill']}).find(f => f.properties.stage);
                const ring = f.geometry.coordinates[0];  // a parcel drawn with a stage: its vertices' mean
                return [ring.reduce((a, c) => a + c[0], 0) / ring.length, ring.reduce((a, c) => a + c[1], 0) / ring.length]; }""")
            jump(page, lon, lat, 17)
            b = page.locator("#map").bounding_box()
            t = time.perf_counter()
            page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
            page.wait_for_selector("#box .box-project")
            box_time = time.perf_counter() - t
            browser.close()
    print(f"{'measure':<40}{'seconds':>9}{'ratio':>8}")
    for name, v in (("login page (baseline)", baseline), ("dashboard, first render after start", cold),
                    ("  … its warning counts filled in", counts_in),
                    ("dashboard, warm", warm), ("map: district view drawn (zoom 13)", map_draw),
                    ("map: click → project box", box_time)):
        print(f"{name:<40}{v:>9.2f}{v / baseline:>8.1f}")


if __name__ == "__main__":
    main()
