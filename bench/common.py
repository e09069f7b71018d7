"""Shared benchmark helpers: a migrated database, a real uvicorn server in a thread, latency statistics."""

from __future__ import annotations

import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import create_engine, text

from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.profiles.loader import load_profile
from yimatong.storage.migrate import upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    eng = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def fresh_app(url: str, data_dir: Path, **settings: Any) -> App:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    upgrade(eng)
    eng.dispose()
    return App(Settings(data_dir=data_dir, database_url=url, deliver_webhooks=False, **settings),
               load_profile("changde"))


class ServerThread:
    """uvicorn serving an ASGI app on loopback in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def latencies(fn: Callable[[], Any], n: int) -> dict[str, float]:
    samples = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - start
    samples.sort()
    return {"p50": statistics.median(samples), "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
            "rps": n / total}


def bare_app() -> Any:
    from fastapi import FastAPI

    bare = FastAPI()

    @bare.get("/const")
    def const() -> dict[str, str]:
        return {"ok": "yes"}

    return bare
