"""Migration 0008 on a library written before editions (revision 0004): every project is recorded as edition
2020 and every code issued under the 2020 table still parses with its 2020 label; `supervision_no` refs become
the contract's kinds and every 不动产单元号 gains its 宗地代码."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from conftest import TEST_DB, _pg_admin_url, is_pg
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.profiles.loader import PROFILES_DIR, load_profile
from yimatong.storage.db import make_engine
from yimatong.storage.migrate import alembic_config, upgrade

PROFILE = load_profile("changde")
TRIAL = {r["code"]: r["name"] for r in csv.DictReader((PROFILES_DIR / "changde" / "land_use_2020_trial.csv").open(
    encoding="utf-8"))}


@pytest.fixture
def new_db(tmp_path) -> Iterator[Callable[[], str]]:  # type: ignore[no-untyped-def]
    """A factory of empty databases (one per hypothesis example), dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        if not is_pg():
            return f"sqlite:///{tmp_path / f'old-{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"ymt_m_{uuid.uuid4().hex[:12]}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        made.append(name)
        return TEST_DB.rsplit("/", 1)[0] + "/" + name

    yield make
    if made:
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            for name in made:
                c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def migrate_to(url: str, revision: str) -> None:
    engine = make_engine(url)
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
    engine.dispose()


def insert_old_project(conn, pid: int, code: str, attrs: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    t = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    conn.execute(text(
        "INSERT INTO projects (id, code, name, name_norm, status, division, year, approval_type, project_type, "
        "supply_type, land_use, current_stage, code_outdated, extra, created_at, updated_at, created_by, updated_by) "
        "VALUES (:id, :code, :name, :name, 'active', :division, :year, :approval_type, :project_type, :supply_type, "
        ":land_use, 'intake', false, '{}', :t, :t, 'old', 'old')"),
        {"id": pid, "code": code, "name": f"旧项目{pid}", "t": t, **attrs, "year": int(attrs["year"])})


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_every_code_issued_under_the_2020_table_still_parses_after_the_migration(
        new_db: Callable[[], str], tmp_path: Path, data: st.DataObject) -> None:
    url = new_db()
    migrate_to(url, "0004")
    engine = make_engine(url)
    codes = {}
    with engine.begin() as conn:
        for pid, land_use in enumerate(sorted(TRIAL), start=1):  # every 2020 value, other segments drawn
            attrs = {"division": data.draw(st.sampled_from(["430702", "430703", "430725", "430781"])),
                     "year": str(data.draw(st.integers(2020, 2026))), "approval_type": data.draw(st.sampled_from(
                         ["00", "01", "02", "03"])), "project_type": data.draw(st.sampled_from(["01", "05", "99"])),
                     "supply_type": data.draw(st.sampled_from(["00", "10", "21", "22", "23", "24", "30", "40", "50"])),
                     "land_use": land_use}
            code = (f"CD{attrs['division']}{attrs['year']}{attrs['approval_type']}{attrs['project_type']}"
                    f"{attrs['supply_type']}{land_use}{pid:06d}")
            insert_old_project(conn, pid, code, attrs)
            codes[code] = land_use
        conn.execute(text("INSERT INTO project_refs (project_id, kind, value) VALUES "
                          "(1, 'supervision_no', '4307022024B00012'), (1, 'supply_supervision_no', '4307022024B00012'), "
                          "(2, 'supervision_no', '4307022024000012345'), (3, 'unit_no', '430702001001GB00012W00000000')"))
    engine.dispose()
    assert upgrade(make_engine(url))  # to head: 0008 and whatever follows
    app = App(Settings(data_dir=tmp_path / uuid.uuid4().hex[:6], database_url=url, deliver_webhooks=False), PROFILE)
    from fastapi.testclient import TestClient

    from yimatong.accounts import tokens
    from yimatong.api.app import create_app

    try:
        with app.db.write() as s:
            token = tokens.create(s, f"t-{uuid.uuid4().hex[:6]}", "viewer")
        h = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(app.settings, app)) as client:
            for code, land_use in codes.items():
                body = client.get(f"/api/v1/codes/{code}", headers=h).json()
                seg = next(s for s in body["segments"] if s["name"] == "land_use")
                assert (seg["label"], seg["edition"], body["edition"]) == (TRIAL[land_use], "2020", "2020"), code
                assert client.get(f"/api/v1/projects/{code}", headers=h).json()["edition"] == "2020"
            first, second, third = (client.get(f"/api/v1/projects/{c}", headers=h).json() for c in list(codes)[:3])
            assert first["refs"] == [{"kind": "supply_supervision_no", "value": "4307022024B00012"}]
            assert second["refs"] == [{"kind": "approval_supervision_no", "value": "4307022024000012345"}]
            assert {"kind": "parcel_code", "value": "430702001001GB00012"} in third["refs"]
            found = client.get("/api/v1/projects", params={"q": "430702001001GB00012"}, headers=h).json()["items"]
            assert [p["code"] for p in found] == [third["code"]]
    finally:
        app.close()
