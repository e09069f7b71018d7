"""The staff map (一张图, /map) in a real browser at 1 000 000 parcels: Debian's headless Chromium driven by
Playwright against `ymt serve` on loopback, a series of jumps (city → district → street, pans, and back); per
step the time from the jump until MapLibre's `idle` event (every tile of the view loaded and drawn), measured in
the page (`performance.now()`), and checked with `map.loaded()` and `map.areTilesLoaded()`. Baseline in the same
run and browser: the same steps with the parcel layers switched off (districts and the background only) — what
the map costs without parcels — and the login page.

Correctness before timing: at the street view the parcels drawn (`queryRenderedFeatures`, by feature id) are
compared with a brute-force query of the parcels whose geometry meets the view (no cap, none missing); at the
city view the dots' counts `n` are summed.

    .venv/bin/python bench/bench_map.py --pg URL [--n N] [--rounds R] [--sqlite] [--reuse DB-URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_ogc import wait_ready  # noqa: E402
from bench_spatial import load, make_parcels  # noqa: E402
from common import free_port, fresh_app, pg_database  # noqa: E402

from browser.waiting import wait_js as _wait_js  # noqa: E402
from yimatong.accounts import users  # noqa: E402
from yimatong.parcels import cells  # noqa: E402
from yimatong.storage.models import User  # noqa: E402
from yimatong.supervision import stored  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
PASSWORD = "Loadtest-password-1"
C = (111.69, 29.04)  # 武陵区, inside the loaded extent
# (name, lon, lat, zoom): city → district → street → pans → and back (polygons from zoom 13, dots below)
STEPS = [("city z8.5", 111.4, 29.25, 8.5), ("county z10", C[0], C[1], 10), ("district z12 (dots)", C[0], C[1], 12),
         ("district z13 (polygons)", C[0], C[1], 13), ("quarter z14", C[0], C[1], 14),
         ("street z16", C[0], C[1], 16), ("street pan east", C[0] + 0.015, C[1], 16),
         ("street pan north", C[0] + 0.015, C[1] + 0.01, 16), ("back to z14", C[0] + 0.015, C[1] + 0.01, 14),
         ("back to z12", C[0] + 0.015, C[1] + 0.01, 12), ("back to city z8.5", 111.4, 29.25, 8.5),
         ("district z13 again (pan)", C[0] + 0.05, C[1] - 0.03, 13)]
PARCEL_LAYERS = ["parcels-fill", "parcels-line", "parcels-dots"]

JUMP = """([lon, lat, zoom]) => { const m = window.ymtMap; window.__bench = null; const t0 = performance.now();
  m.once('idle', () => { window.__bench = {ms: performance.now() - t0, loaded: m.loaded(),
    tiles: m.areTilesLoaded()}; });
  m.jumpTo({center: [lon, lat], zoom}); }"""
DRAWN = """([pad]) => { const m = window.ymtMap, c = m.getCanvas();
  const w = c.clientWidth, h = c.clientHeight;
  const ids = box => [...new Set(m.queryRenderedFeatures(box, {layers: ['parcels-fill']}).map(f => f.id))];
  const geo = (x0, y0, x1, y1) => { const a = m.unproject([x0, y1]), b = m.unproject([x1, y0]);
    return [a.lng, a.lat, b.lng, b.lat]; };
  return {inner: ids([[pad, pad], [w - pad, h - pad]]), outer: ids([[0, 0], [w, h]]),
          innerBox: geo(2 * pad, 2 * pad, w - 2 * pad, h - 2 * pad), outerBox: geo(-pad, -pad, w + pad, h + pad),
          whole: geo(0, 0, w, h)}; }"""
DOTS = """() => { const seen = new Map();
  for (const f of window.ymtMap.queryRenderedFeatures({layers: ['parcels-dots']})) seen.set(f.id, f.properties.n);
  let n = 0; for (const v of seen.values()) n += v; return {dots: seen.size, parcels: n}; }"""


def wait_js(page: Any, expression: str, timeout: float = 300.0) -> Any:
    """The tests' poll through the DevTools protocol (the page's CSP refuses `wait_for_function`'s eval), with a
    benchmark's patience: a million parcels' first tiles take minutes on a loaded machine."""
    return _wait_js(page, expression, timeout)


def jump(page: Any, lon: float, lat: float, zoom: float) -> dict[str, Any]:
    page.evaluate(JUMP, [lon, lat, zoom])
    return wait_js(page, "window.__bench")  # type: ignore[no-any-return]


WORKERS = 1  # `ymt serve --workers` (the --workers option)


def start_serve(url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "YMT_DATABASE_URL": url, "YMT_DATA_DIR": str(tmp / "ymt-data"), "YMT_DELIVER_WEBHOOKS": "0",
           "YMT_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ymt"), "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", str(WORKERS)], env=env, stdout=subprocess.DEVNULL)
    return proc, wait_ready(proc, f"http://127.0.0.1:{port}", "/readyz", "ymt serve")


def parcels_in(app: Any, box: list[float]) -> set[int]:
    """Brute force: the ids of the parcels whose exact geometry meets `box` (lon/lat)."""
    import shapely
    from shapely import wkb

    minx, miny, maxx, maxy = box
    q = shapely.box(minx, miny, maxx, maxy)
    with app.db.engine.connect() as c:
        rows = c.execute(text("SELECT id, geom_wkb FROM parcels WHERE maxx >= :a AND minx <= :c AND maxy >= :b AND "
                              "miny <= :d"), {"a": minx, "b": miny, "c": maxx, "d": maxy})
        return {i for i, g in rows if wkb.loads(g).intersects(q)}


def run(url: str, n: int, label: str, rounds: int, reuse: bool = False) -> list[str]:
    tmp = Path(tempfile.mkdtemp())
    app = fresh_app(url, tmp)
    if not reuse:  # --reuse: a database this benchmark loaded before (the load takes minutes at 1 000 000)
        t0 = time.perf_counter()
        load(app, make_parcels(n))
        print(f"{label}: {n:,} parcels loaded in {time.perf_counter() - t0:.0f} s", flush=True)
    with app.db.write() as s:
        if s.execute(select(User.id).where(User.username == "bench")).first() is None:
            users.create(s, "bench", PASSWORD, "admin", must_change_password=False)
    # What a running service has ready before anyone opens the map: the stored warnings and the dot cells, each
    # brought up to date once (`ymt serve` starts both in the background). Measuring while they are computed
    # would time two cores shared with that computation, not the map.
    for what, step in (("warnings", lambda: stored.refresh(app)), ("dot cells", lambda: cells.refresh(app))):
        t0 = time.perf_counter()
        step()
        print(f"{label}: {what} brought up to date in {time.perf_counter() - t0:.0f} s", flush=True)
    from playwright.sync_api import sync_playwright

    proc, base = start_serve(url, tmp)
    lines: list[str] = []
    try:
        time.sleep(2)  # its own start-up refreshes find the warnings and cells current
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 860})
            logins = []
            for _ in range(3):
                t = time.perf_counter()
                page.goto(base + "/login")
                page.wait_for_selector("input[name=username]", state="attached")
                logins.append((time.perf_counter() - t) * 1000)
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("text=按阶段")
            t = time.perf_counter()
            page.goto(base + "/map")
            wait_js(page, "window.ymtMap && window.ymtMap.loaded() && window.ymtMap.areTilesLoaded()")
            opened = (time.perf_counter() - t) * 1000
            print(f"  map opened in {opened:.0f} ms", flush=True)
            page.evaluate("void window.ymtMap.once('idle', () => { window.__open = true; })")
            ours: dict[str, list[dict[str, Any]]] = {s[0]: [] for s in STEPS}
            for _ in range(rounds):
                for name, lon, lat, z in STEPS:
                    ours[name].append(jump(page, lon, lat, z))
                    print(f"  parcels on  {name}: {ours[name][-1]}", flush=True)
            # correctness at the street view: every parcel meeting the view is drawn, none that does not
            jump(page, C[0], C[1], 16)
            drawn = page.evaluate(DRAWN, [3])
            inner_truth, outer_truth = parcels_in(app, drawn["innerBox"]), parcels_in(app, drawn["outerBox"])
            view_truth = parcels_in(app, drawn["whole"])
            missing = inner_truth - set(drawn["inner"])
            extra = set(drawn["outer"]) - outer_truth
            jump(page, 111.4, 29.25, 8.5)
            dots = page.evaluate(DOTS)
            city = page.evaluate(DRAWN, [0])["whole"]
            with app.db.engine.connect() as c:  # a parcel's dot sits at the centre of its box
                dots["truth"] = c.execute(text(
                    "SELECT count(*) FROM parcels WHERE (minx + maxx) / 2 BETWEEN :a AND :c AND (miny + maxy) / 2 "
                    "BETWEEN :b AND :d"), dict(zip("abcd", city, strict=True))).scalar_one()
            # baseline: the same steps without the parcel layers (their tiles are then not requested)
            for layer in PARCEL_LAYERS:
                page.evaluate(f"void window.ymtMap.setLayoutProperty('{layer}', 'visibility', 'none')")
            jump(page, 111.7, 29.05, 8.0)
            bare: dict[str, list[dict[str, Any]]] = {s[0]: [] for s in STEPS}
            for _ in range(rounds):
                for name, lon, lat, z in STEPS:
                    bare[name].append(jump(page, lon, lat, z))
                    print(f"  parcels off {name}: {bare[name][-1]}", flush=True)
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # still busy with a tile: the measurements are taken, stop it
            proc.kill()
            proc.wait(20)
    app.close()
    login = min(logins)
    lines.append(f"{label}: login page {login:.0f} ms; map opened (city view, tiles drawn) {opened:.0f} ms")
    lines.append(f"{label} street view z16: {len(view_truth)} parcels meet the view (brute force), "
                 f"{len(set(drawn['outer']))} drawn; inside the view less 6 px: {len(inner_truth)} true, "
                 f"{len(missing)} missing; drawn but not within 3 px of the view: {len(extra)}")
    lines.append(f"{label} city view z8.5: {dots['dots']} dots holding {dots['parcels']:,} parcels; "
                 f"{dots['truth']:,} parcels have their centre in the view (of {n:,} loaded)")
    lines.append("| step | parcels on: first ms | again ms | parcels off (baseline) first ms | again ms | "
                 "ratio (first) |")
    lines.append("|---|---|---|---|---|---|")
    bad = [r for rs in ours.values() for r in rs if not (r["loaded"] and r["tiles"])]
    for name, *_ in STEPS:
        a, b = ours[name], bare[name]
        again_a = statistics.median(r["ms"] for r in a[1:]) if len(a) > 1 else float("nan")
        again_b = statistics.median(r["ms"] for r in b[1:]) if len(b) > 1 else float("nan")
        lines.append(f"| {name} | {a[0]['ms']:.0f} | {again_a:.0f} | {b[0]['ms']:.0f} | {again_b:.0f} | "
                     f"{a[0]['ms'] / max(b[0]['ms'], 1):.1f} |")
    worst = max(r["ms"] for rs in ours.values() for r in rs)
    lines.append(f"{label}: worst step {worst:.0f} ms; steps not loaded at idle: {len(bad)}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg")
    ap.add_argument("--sqlite", action="store_true")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reuse", help="the URL of a database loaded by an earlier run (skips the load)")
    ap.add_argument("--workers", type=int, default=1, help="ymt serve's worker processes")
    args = ap.parse_args()
    global WORKERS  # noqa: PLW0603 - one run, one setting
    WORKERS = args.workers
    print(f"load average at start: {os.getloadavg()}", flush=True)
    out: list[str] = []
    if args.reuse:
        out += run(args.reuse, args.n, "PostGIS", args.rounds, reuse=True)
    elif args.pg:
        out += run(pg_database(args.pg, "ymt_gisbench_map"), args.n, "PostGIS", args.rounds)
    if args.sqlite:
        out += run(f"sqlite:///{tempfile.mkdtemp()}/map.sqlite3", args.n, "SQLite", args.rounds)
    print(f"load average at end: {os.getloadavg()}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
