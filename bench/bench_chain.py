"""One-code query (/chain) and the project list at scale, over real HTTP, against a bare FastAPI endpoint
returning a constant served the same way in the same run. Also prints the query plans (EXPLAIN) of the hot
queries to show none of them scans the projects or events tables.

    .venv/bin/python bench/bench_chain.py [--quick]      (full: 100 000 projects, 1 000 000 events)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from common import ServerThread, bare_app, fresh_app, latencies  # noqa: E402

from yimatong.accounts import tokens  # noqa: E402
from yimatong.api.app import create_app  # noqa: E402


def populate(app, projects: int, events_per: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Bulk rows straight into the tables (the registry path is measured by bench_codes)."""
    now = dt.datetime.now(dt.UTC)
    codes = []
    batch_p, batch_e, batch_s = [], [], []
    seq = 0
    divisions = ["430702", "430703", "430721", "430722", "430723", "430724", "430725", "430726", "430781"]
    with app.db.engine.begin() as c:
        for i in range(1, projects + 1):
            div = divisions[i % len(divisions)]
            code = f"CD{div}2026010223{'0701'}{i:06d}"
            codes.append(code)
            batch_p.append({"id": i, "code": code, "name": f"基准项目{i}", "name_norm": f"基准项目{i}", "div": div,
                            "t": now})
            batch_s.append({"pid": i, "t": now})
            for _ in range(events_per):
                seq += 1
                batch_e.append({"seq": seq, "code": code, "at": now.isoformat(), "h": f"{seq:064x}",
                                "p": f"{seq - 1:064x}"})
            if len(batch_e) >= 50_000 or i == projects:
                c.execute(text("INSERT INTO projects (id, code, name, name_norm, status, division, year, approval_type, "
                               "project_type, supply_type, land_use, current_stage, code_outdated, extra, created_at, "
                               "updated_at, created_by, updated_by) VALUES (:id, :code, :name, :name_norm, 'active', "
                               ":div, 2026, '01', '02', '23', '0701', 'intake', false, '{}', :t, :t, 'bench', 'bench')"),
                          batch_p)
                c.execute(text("INSERT INTO stages (project_id, key, status, updated_by, updated_at) "
                               "VALUES (:pid, 'intake', 'done', 'bench', :t)"), batch_s)
                c.execute(text("INSERT INTO events (seq, type, code, actor, at, data, prev_hash, hash, confidentiality) "
                               "VALUES (:seq, 'stage.changed', :code, 'bench', :at, '{\"stage\": \"intake\"}', :p, :h, "
                               "'internal')"), batch_e)
                batch_p, batch_e, batch_s = [], [], []
        if app.db.dialect == "postgresql":
            c.execute(text("SELECT setval(pg_get_serial_sequence('projects', 'id'), :n)"), {"n": projects})
            c.execute(text("ANALYZE"))
    return codes


def explain(app, code: str) -> list[str]:  # type: ignore[no-untyped-def]
    queries = {
        "chain events": f"SELECT * FROM events WHERE code = '{code}' ORDER BY seq",
        "project by code": f"SELECT * FROM projects WHERE code = '{code}'",
        "list page 2": "SELECT * FROM projects WHERE id > 5000 ORDER BY id LIMIT 51",
        "list by division": "SELECT * FROM projects WHERE division = '430702' AND id > 0 ORDER BY id LIMIT 51",
    }
    prefix = "EXPLAIN QUERY PLAN " if app.db.dialect == "sqlite" else "EXPLAIN "
    out = []
    with app.db.engine.connect() as c:
        for name, q in queries.items():
            plan = " | ".join(str(r[-1]) for r in c.execute(text(prefix + q)))
            out.append(f"  {name}: {plan}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default=None)
    args = ap.parse_args()
    projects, per = (10_000, 10) if args.quick else (100_000, 10)
    n = 300 if args.quick else 2000
    targets = [("SQLite", None)]
    if args.pg:
        targets.append(("PostgreSQL", args.pg))
    with tempfile.TemporaryDirectory() as tmp:
        for label, pg in targets:
            from common import pg_database

            url = pg_database(pg, "ymt_bench_chain") if pg else f"sqlite:///{tmp}/chain.sqlite3"
            app = fresh_app(url, Path(tmp) / label)
            t0 = time.perf_counter()
            codes = populate(app, projects, per)
            print(f"[{label}] populated {projects} projects / {projects * per} events in {time.perf_counter() - t0:.0f}s")
            with app.db.write() as s:
                token = tokens.create(s, "bench", "viewer")
            h = {"Authorization": f"Bearer {token}"}
            rng = random.Random(1)
            with ServerThread(create_app(app.settings, app)) as base, ServerThread(bare_app()) as bare, \
                    httpx.Client(headers=h, timeout=30) as c:
                const = latencies(lambda: c.get(bare + "/const"), n)
                chain = latencies(lambda: c.get(f"{base}/api/v1/projects/{rng.choice(codes)}/chain").raise_for_status(), n)
                cursor = {"v": None}

                def list_page() -> None:
                    r = c.get(f"{base}/api/v1/projects", params={"limit": 50} | ({"cursor": cursor["v"]} if cursor["v"]
                                                                                  else {}))
                    cursor["v"] = r.json()["next_cursor"]

                listing = latencies(list_page, n)
                filtered = latencies(lambda: c.get(f"{base}/api/v1/projects", params={"division": "430725", "limit": 50}),
                                     n)
            print(f"[{label}] {n} requests each, sequential, one client")
            print(f"{'endpoint':<28}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}{'p99 ratio':>11}{'req/s ratio':>12}")
            for name, m in (("bare constant", const), ("/chain", chain), ("/projects (walk pages)", listing),
                            ("/projects?division=", filtered)):
                print(f"{name:<28}{m['p50']:>8.2f}{m['p99']:>8.2f}{m['rps']:>8.0f}{m['p99'] / const['p99']:>11.1f}"
                      f"{m['rps'] / const['rps']:>12.2f}")
            print(f"[{label}] query plans:")
            print("\n".join(explain(app, codes[len(codes) // 2])))
            print(json.dumps({"label": label, "chain": chain, "list": listing, "const": const}))
            app.close()


if __name__ == "__main__":
    main()
