"""Login throttling happens before hashing: a throttled or locked attempt must cost a small fraction of an
attempt that hashes (argon2: 64 MiB and a good fraction of a second), or the login stays a denial-of-service
lever. Real HTTP (uvicorn on loopback), SQLite; ratios against the hashing attempts measured in the same run.

    .venv/bin/python bench/bench_login.py [--quick]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from common import ServerThread, fresh_app

from yimatong.accounts import users
from yimatong.api.app import create_app


def attempt(c: httpx.Client, username: str, password: str, address: str) -> tuple[float, str]:
    c.cookies.clear()
    page = c.get("/login", headers={"X-Forwarded-For": address})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    t = time.perf_counter()
    r = c.post("/login", data={"username": username, "password": password, "csrf": csrf},
               headers={"X-Forwarded-For": address})
    return time.perf_counter() - t, r.text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    n = 10 if ap.parse_args().quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        app = fresh_app(f"sqlite:///{tmp}/login.sqlite3", Path(tmp), trusted_proxies="127.0.0.1",
                        login_address_max_failures=n, login_max_failures=10**6)
        with app.db.write() as s:
            users.create(s, "bench", "Loadtest-password-1", "viewer", must_change_password=False)
        with ServerThread(create_app(app.settings, app)) as url, httpx.Client(base_url=url, timeout=60) as c:
            hashing = [attempt(c, f"user{i}", "Wrong-password-1", "10.0.0.1") for i in range(n)]  # counted, hashed
            throttled = [attempt(c, f"user{i}", "Wrong-password-1", "10.0.0.1") for i in range(n)]
            assert all("用户名或密码错误" in text for _, text in hashing)
            assert all("此地址登录失败次数过多" in text for _, text in throttled)
            good = [attempt(c, "bench", "Loadtest-password-1", f"10.0.1.{i}") for i in range(min(n, 10))]
        app.close()
    h, t, g = (statistics.median(x for x, _ in runs) * 1000 for runs in (hashing, throttled, good))
    print(f"{n} attempts each, median ms: hashing failure {h:.1f}, throttled {t:.1f}, success {g:.1f}")
    print(f"throttled / hashing = {t / h:.3f}  (aim: < 0.2)")


if __name__ == "__main__":
    main()
