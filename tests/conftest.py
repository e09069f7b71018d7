"""Shared fixtures. The database under test is chosen by YMT_TEST_DATABASE:
`sqlite` (default) or a `postgresql://…` URL of a server where we may create databases."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from yimatong.accounts import tokens
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.profiles.loader import load_profile
from yimatong.storage.migrate import upgrade

TEST_DB = os.environ.get("YMT_TEST_DATABASE", "sqlite")
ROOT = Path(__file__).resolve().parent.parent
YMT = str(Path(sys.executable).parent / "ymt")


def is_pg() -> bool:
    return TEST_DB.startswith("postgres")


def _pg_admin_url() -> str:
    return TEST_DB.replace("postgresql://", "postgresql+psycopg://", 1)


# A test meets the database under test through the `db_url`/`template_db` fixtures, or by reading the choice itself
# (modules that call `is_pg()` or read `TEST_DB`/`YMT_TEST_DATABASE` to make databases of their own). Everything
# else — the pure core, parsers, property tests of codes and geometry — answers the same whatever the database, so the
# PostgreSQL run leaves it to the SQLite run instead of running it twice (the two runs go side by side and the
# PostgreSQL one is the longer: this keeps the test command inside its budget).
_DATABASE_FIXTURES = {"db_url", "template_db"}
_DATABASE_MARKS = ("is_pg(", "TEST_DB", "YMT_TEST_DATABASE")


def _meets_the_database(item: pytest.Item) -> bool:
    if item.get_closest_marker("any_database"):  # its subject answers the same on any database (said per test)
        return False
    if _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    return _module_reads_the_choice(str(item.fspath))


@functools.cache
def _module_reads_the_choice(path: str) -> bool:
    return any(m in Path(path).read_text(encoding="utf-8") for m in _DATABASE_MARKS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not is_pg() or os.environ.get("YMT_TEST_EVERYTHING_ON_PG"):
        return
    same_everywhere = [item for item in items if not _meets_the_database(item)]
    if same_everywhere:
        config.hook.pytest_deselected(items=same_everywhere)
        items[:] = [item for item in items if _meets_the_database(item)]


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database made once; each test gets a fresh copy of it."""
    if is_pg():
        name = f"ymt_tpl_{os.getpid()}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            c.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = TEST_DB.rsplit("/", 1)[0] + "/" + name
        eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        upgrade(eng)
        eng.dispose()
        return name
    path = tmp_path_factory.mktemp("tpl") / "template.sqlite3"
    from yimatong.storage.db import make_engine

    eng = make_engine(f"sqlite:///{path}")  # the service's engine: the copies start in WAL mode
    upgrade(eng)
    eng.dispose()
    return str(path)


@pytest.fixture
def db_url(template_db: str, tmp_path: Path) -> Iterator[str]:
    if is_pg():
        name = f"ymt_t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {name} TEMPLATE {template_db}"))
        yield TEST_DB.rsplit("/", 1)[0] + "/" + name
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    else:
        path = tmp_path / "ymt.sqlite3"
        shutil.copy(template_db, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, deliver_webhooks=False,
                    webhook_allow=LOOPBACK_TARGETS)


@pytest.fixture
def ymt(settings: Settings) -> Iterator[App]:
    app = App(settings, load_profile("changde"))
    yield app
    app.close()


def make_token(ymt: App, role: str, name: str | None = None) -> str:
    with ymt.db.write() as session:
        return tokens.create(session, name or f"{role}-{uuid.uuid4().hex[:6]}", role)


@pytest.fixture
def client(ymt: App) -> Iterator[httpx.Client]:
    """An httpx client bound to the ASGI app in-process (fast API tests); see `live_server` for real HTTP."""
    from fastapi.testclient import TestClient

    from yimatong.api.app import create_app

    with TestClient(create_app(ymt.settings, ymt), raise_server_exceptions=True) as c:
        yield c


@pytest.fixture
def admin_headers(ymt: App) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(ymt, 'admin')}"}


@pytest.fixture
def registrar_headers(ymt: App) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(ymt, 'registrar')}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], env: dict[str, str]) -> None:
        self.url, self.proc, self.env = url, proc, env

    def ymt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([YMT, *args], env=self.env, capture_output=True, text=True, check=check)

    def token(self, role: str, name: str | None = None) -> str:
        out = self.ymt("token", "create", "--name", name or f"{role}-{uuid.uuid4().hex[:6]}", "--role", role)
        return out.stdout.strip().splitlines()[-1]


def start_server(db_url: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    env = {**os.environ, "YMT_DATABASE_URL": db_url, "YMT_DATA_DIR": str(data_dir), **(extra_env or {})}
    log = open(data_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([YMT, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(data_dir.parent / f'server-{port}.log').read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return LiveServer(url, proc, env)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become ready")


def serve(db_url: str, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    data_dir.mkdir()
    server = start_server(db_url, data_dir, env)
    yield server
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    yield from serve(db_url, tmp_path / "live-data")


def project_body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "武陵区示例住宅项目", "division": "430702", "year": 2026, "approval_type": "01", "project_type": "02",
        "supply_type": "23", "land_use": "0701", "builder": "常德建设有限公司", "investment_code": None,
        "sources": [{"kind": "manual", "ref": "T-1"}], "area_m2": 12000.0, "parcels": []}
    body.update(over)
    return body


# Receivers in tests listen on loopback, which webhook targets may not be by default (contract "Webhook targets").
LOOPBACK_TARGETS = "127.0.0.0/8"
FAST_WEBHOOKS = {"YMT_WEBHOOK_BASE_DELAY_SECONDS": "0.05", "YMT_WEBHOOK_MAX_DELAY_SECONDS": "0.3",
                 "YMT_WEBHOOK_POLL_SECONDS": "0.05", "YMT_WEBHOOK_TIMEOUT_SECONDS": "3",
                 "YMT_WEBHOOK_ALLOW": LOOPBACK_TARGETS}


@pytest.fixture
def webhook_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose in-process delivery retries fast (tests must not wait minutes for back-off)."""
    yield from serve(db_url, tmp_path / "hook-data", FAST_WEBHOOKS)


MOTO_SERVER = str(Path(sys.executable).parent / "moto_server")


@dataclass
class S3Server:
    endpoint: str
    bucket: str

    def env(self, prefix: str = "") -> dict[str, str]:
        """The YMT_* settings of a blob store in this server's bucket (under `prefix`)."""
        return {"YMT_BLOB_URL": f"s3://{self.bucket}/{prefix}".rstrip("/"), "YMT_S3_ENDPOINT": self.endpoint,
                "YMT_S3_ACCESS_KEY": "testing", "YMT_S3_SECRET_KEY": "testing", "YMT_S3_REGION": "us-east-1"}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-protocol server (moto's server mode, from the `test` extra) as its own process on loopback."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(endpoint + "/moto-api/", timeout=1)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    server = S3Server(endpoint, "ymt-files")
    server.client().create_bucket(Bucket=server.bucket)
    yield server
    proc.terminate()
    proc.wait(timeout=15)
    log.close()
