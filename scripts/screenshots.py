"""Screenshots of the pages with the demo data, for the README: starts `scripts/demo.sh` on a scratch data
directory, logs in as demo / yimatong-2026 in Debian's headless Chromium and saves docs/screenshots/demo-*.png.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> None:
    port = "8799"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "YMT_DATA_DIR": tmp, "YMT_PORT": port}
        env.pop("YMT_DATABASE_URL", None)
        proc = subprocess.Popen([str(ROOT / "scripts" / "demo.sh")], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            time.sleep(3)  # let the start-up warnings computation finish
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1366, "height": 860}, locale="zh-CN")
                page.goto(url + "/login")
                page.fill("input[name=username]", "demo")
                page.fill("input[name=password]", "yimatong-2026")
                page.click("button[type=submit]")
                page.wait_for_selector("text=按阶段")
                page.screenshot(path=str(OUT / "demo-dashboard.png"))
                page.goto(url + "/map")
                page.wait_for_timeout(2500)
                page.evaluate("void window.ymtMap.jumpTo({center: [111.70, 29.04], zoom: 12})")  # MapLibre: lon, lat
                page.wait_for_timeout(3000)
                box = page.locator("#map").bounding_box()
                assert box is not None
                page.screenshot(path=str(OUT / "demo-map.png"))
                page.goto(url + "/warnings")
                page.screenshot(path=str(OUT / "demo-warnings.png"))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
