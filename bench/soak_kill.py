"""kill -9 at random moments (issue 16 "How it will be checked"): a `ymt serve`, a `ymt worker` and a
`ymt import` run against one database while clients register over HTTP and a webhook receiver records what it
is sent; each round picks one of the three at random, kills it with SIGKILL after a random delay and starts it
again (the server on the same port, the import with the same command: it resumes its job). At the end:

- nothing half-written: every project has a ledger event, the ledger's seq is gap-free, every serial scope is
  gap-free, no import job is left half-published (each is done, or failed having published nothing), and
  `ymt ledger verify` passes with nothing queued;
- nothing lost: every registration the server acknowledged (201) is in the library with its event, every
  event fanned out to the subscription reached the receiver at least once, and in order per project.

    .venv/bin/python bench/soak_kill.py [--rounds N] [--seed S] [--pg URL]

The test (tests/e2e/test_kill_soak.py) runs `soak()` with a few rounds; a failure names its seed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import xlsxwriter
from sqlalchemy import create_engine, func, select, text

from yimatong.storage.models import Counter, Delivery, Event, ImportJob, PendingEvent, Project

YMT = str(Path(sys.executable).parent / "ymt")
ENV = {"YMT_DELIVER_WEBHOOKS": "false", "YMT_WEBHOOK_ALLOW": "127.0.0.0/8", "YMT_WEBHOOK_POLL_SECONDS": "0.05",
       "YMT_WEBHOOK_BASE_DELAY_SECONDS": "0.05", "YMT_WEBHOOK_MAX_DELAY_SECONDS": "0.3",
       "YMT_WEBHOOK_TIMEOUT_SECONDS": "3", "YMT_WEBHOOK_BATCH": "10", "YMT_IMPORT_BATCH": "40",
       "YMT_SEQUENCER_POLL_SECONDS": "0.2", "YMT_LOG_LEVEL": "warning"}
WORDS = "东南西北丹阳灌溪柳叶德山善卷桃花源澧阳嘉山皇山白鹤岗市滨湖江北芷兰朗州沅水穿紫河新河护城"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A webhook receiver on loopback answering 200 and recording each event it is sent (repeats included)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with receiver.lock:
                    receiver.events.append(event)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                with contextlib.suppress(OSError):  # the sender was killed meanwhile
                    self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def plan_file(path: Path, rows: int, rng: random.Random, tag: str) -> Path:
    """A supply plan of `rows` new projects of 武陵区 with distinct names of place words (no numbers)."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["序号", "项目名称", "行政区划", "供地方式", "土地用途", "面积（公顷）", "拟供地时间"])
    names = list(dict.fromkeys(f"武陵区{tag}{''.join(rng.choices(WORDS, k=10))}地块" for _ in range(rows * 2)))
    for i in range(rows):
        ws.write_row(i + 1, 0, [i + 1, names[i], "武陵区", "挂牌出让", "城镇住宅用地", 1.5, "2026年6月"])
    wb.close()
    return path


@dataclass
class Soak:
    url: str                       # the database
    data: Path
    rng: random.Random
    log: Path
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    files: list[Path] = field(default_factory=list)
    current: int = 0               # the file the import slot is on

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **ENV, "YMT_DATABASE_URL": self.url, "YMT_DATA_DIR": str(self.data)}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ymt(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([YMT, *args], env=self.env, capture_output=True, text=True, timeout=600)

    def start(self, what: str) -> None:
        args = {"server": ["serve", "--host", "127.0.0.1", "--port", str(self.port)],
                "worker": ["worker", "--name", f"soak-{uuid.uuid4().hex[:6]}"],
                "import": ["import", "supply_plan", str(self.files[self.current])]}[what]
        out = open(self.log, "ab")  # noqa: SIM115 - inherited by the child
        self.procs[what] = subprocess.Popen([YMT, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        if what == "server":
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    time.sleep(0.1)
            raise RuntimeError("ymt serve did not become ready")

    def import_slot(self) -> None:
        """Keep an import running: the next file once one has finished (exit 0)."""
        proc = self.procs.get("import")
        if proc is not None and proc.poll() is None:
            return
        if proc is not None and proc.returncode == 0:
            self.current += 1
        if self.current < len(self.files):
            self.start("import")

    def kill(self, what: str) -> None:
        proc = self.procs[what]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def register(self, token: str, stop: threading.Event, k: int) -> None:
        body = {"division": "430702", "year": 2026, "approval_type": "01", "project_type": "01",
                "supply_type": "23", "land_use": "0701", "sources": []}
        i = 0
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post(self.base + "/api/v1/projects", json=body | {"name": f"断电登记{k}号{i}期"})
                    self.answers[str(r.status_code)] += 1
                    if r.status_code == 201:
                        self.acknowledged.append(r.json()["code"])
                except httpx.HTTPError:  # the server is down or was killed mid-request: not acknowledged
                    self.answers["no answer"] += 1
                    time.sleep(0.05)
                i += 1


def soak(url: str, tmp: Path, rounds: int, seed: int, rows: int = 200, clients: int = 2,
         say: Any = print, init: bool = True) -> dict[str, Any]:
    """Run `rounds` kill-and-restart rounds and check the invariants; raises AssertionError naming the seed."""
    rng = random.Random(seed)
    t0 = time.perf_counter()
    data = tmp / "data"
    data.mkdir()
    s = Soak(url, data, rng, tmp / "processes.log")
    if init:
        assert s.ymt("init").returncode == 0
    s.files = [plan_file(tmp / f"plan{n}.xlsx", rows, rng, "ABCDEFGHIJ"[n % 10]) for n in range(rounds + 1)]
    rx = Receiver()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        s.start("worker")  # (each process start is seconds of imports on a busy machine: side by side)
        made = subprocess.Popen([YMT, "token", "create", "--name", "soak-admin", "--role", "admin"], env=s.env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        s.start("server")
        token = admin = made.communicate(timeout=300)[0].split()[-1]
        sub = httpx.post(s.base + "/api/v1/subscriptions", headers={"Authorization": f"Bearer {admin}"},
                         json={"url": rx.url, "secret": "s" * 32, "types": []}, timeout=30)
        assert sub.status_code == 201, sub.text
        say(f"  started at {time.perf_counter() - t0:.0f} s")
        s.import_slot()
        threads = [threading.Thread(target=s.register, args=(token, stop, k), daemon=True) for k in range(clients)]
        for t in threads:
            t.start()
        victims = ["server", "worker", "import"]
        for n in range(rounds):
            what = victims[n % 3] if n < 3 else rng.choice(victims)  # each at least once, then at random
            if what == "import":
                s.import_slot()
            delay = rng.uniform(0.2, 2.5)
            time.sleep(delay)
            say(f"  round {n + 1} at {time.perf_counter() - t0:.0f} s: kill -9 {what} after {delay:.2f} s")
            s.kill(what)
            s.start(what)
            s.import_slot()
        stop.set()
        for t in threads:
            t.join(60)
        # the import that was running runs to its end (resumed if it was just killed), then everything is
        # sequenced and delivered
        while s.procs["import"].wait(600) != 0:
            s.start("import")
        say(f"  import done at {time.perf_counter() - t0:.0f} s")
        result = check(s, rx, int(sub.json()["id"]), seed)
        say(f"  checked at {time.perf_counter() - t0:.0f} s")
        result["answers"] = dict(s.answers)
        return result
    finally:
        stop.set()
        for proc in s.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        rx.close()


def check(s: Soak, rx: Receiver, sub_id: int, seed: int) -> dict[str, Any]:
    why = f"(seed {seed})"
    eng = create_engine(s.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the server's background sequencer integrates what was left queued
            with eng.connect() as c:
                if not c.execute(select(func.count()).select_from(PendingEvent)).scalar():
                    break
            time.sleep(0.2)
        with eng.connect() as c:
            codes = set(c.execute(select(Project.code)).scalars())
            registered = set(c.execute(select(Event.code).where(Event.type == "project.registered")).scalars())
            seqs = list(c.execute(select(Event.seq).order_by(Event.seq)).scalars())
            pending = c.execute(select(func.count()).select_from(PendingEvent)).scalar()
            jobs = c.execute(select(ImportJob.id, ImportJob.status, ImportJob.rows_published,
                                    ImportJob.rows_to_publish)).all()
            serials = {scope: value for scope, value in c.execute(
                select(Counter.scope, Counter.value).where(Counter.scope.like("serial:%")))}
        assert set(s.acknowledged) <= codes, f"acknowledged registrations lost {why}"
        assert codes <= registered, f"projects without their ledger event {why}: {sorted(codes - registered)[:5]}"
        assert seqs == list(range(1, len(seqs) + 1)), f"gap in the ledger's seq {why}"
        assert pending == 0, f"events left unsequenced {why}"
        for scope, value in serials.items():
            prefix = scope.removeprefix("serial:").replace("-", "")
            got = sorted(int(code[-6:]) for code in codes if code.startswith(prefix))
            assert got == list(range(1, value + 1)), f"gap in serial scope {scope} {why}"
        for job_id, status, published, to_publish in jobs:
            assert status == "done" and published == to_publish, f"import job {job_id} half-published {why}"
        verify = s.ymt("ledger", "verify", "--pending-after", "0")
        assert verify.returncode == 0, f"ymt ledger verify failed {why}: {verify.stdout}{verify.stderr}"
        deadline = time.monotonic() + 300
        while True:  # every delivery made at sequencing reaches the receiver (the restarted worker sends it)
            with eng.connect() as c:
                wanted = set(c.execute(select(Delivery.seq).where(Delivery.subscription_id == sub_id)).scalars())
            with rx.lock:
                got = [(e["seq"], e.get("code")) for e in rx.events]
            if wanted <= {q for q, _ in got} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        missing = wanted - {q for q, _ in got}
        assert not missing, f"{len(missing)} events never delivered {why}"
        with eng.connect() as c:
            acked = set(c.execute(select(Event.seq).where(Event.type == "project.registered",
                                                          Event.code.in_(s.acknowledged))).scalars())
        assert acked <= wanted, f"registrations not fanned out to the subscription {why}"
        first: dict[str, list[int]] = collections.defaultdict(list)
        for q, code in got:
            if code and q not in first[code]:
                first[code].append(q)
        assert all(v == sorted(v) for v in first.values()), f"a project's events arrived out of order {why}"
        return {"projects": len(codes), "acknowledged": len(s.acknowledged), "events": len(seqs),
                "deliveries": len(got), "repeats": len(got) - len(set(got)), "jobs": len(jobs)}
    finally:
        eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rows", type=int, default=300, help="rows of each import file")
    ap.add_argument("--pg", help="PostgreSQL admin URL (a database is created for the run)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"seed {seed}, {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if args.pg:
            name = f"soak_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg.replace("postgresql://", "postgresql+psycopg://", 1),
                                  isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f"CREATE DATABASE {name}"))
            admin.dispose()
            url = args.pg.rsplit("/", 1)[0] + "/" + name
        else:
            url = f"sqlite:///{tmp / 'soak.sqlite3'}"
        t0 = time.perf_counter()
        result = soak(url, tmp, args.rounds, seed, rows=args.rows,
                      say=lambda m: print(m, flush=True))
        print(f"ok in {time.perf_counter() - t0:.0f} s: {result}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
