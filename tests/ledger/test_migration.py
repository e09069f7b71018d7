"""Migration 0007 on a database that already has a ledger: the old events keep verifying (recorded as sha256,
format 1), the Merkle tree is built for them, and events appended afterwards extend the same tree."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from conftest import TEST_DB, _pg_admin_url, is_pg
from ledger import rfc9162
from yimatong.config import Settings
from yimatong.core.context import SYSTEM, App
from yimatong.domain.ledger import GENESIS, canonical, event_hash
from yimatong.ledger import log, merkle
from yimatong.ledger import verify as verification
from yimatong.profiles.loader import load_profile
from yimatong.storage.db import normalize_url
from yimatong.storage.migrate import alembic_config, upgrade


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    if not is_pg():
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    name = f"ymt_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    yield TEST_DB.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_an_existing_ledger_is_migrated_and_keeps_verifying(empty_url, tmp_path) -> None:
    eng = create_engine(normalize_url(empty_url))
    cfg = alembic_config(eng)
    with eng.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        conn.commit()
        prev = GENESIS
        for seq in range(1, 12):  # events as the code before 0007 wrote them (format 1, sha256)
            data = json.loads(canonical({"i": seq}))
            h = event_hash(seq, "import.completed", None, "old", "2026-11-30T00:00:00.000000Z", data, prev)
            conn.execute(text("INSERT INTO events (seq, type, code, actor, at, data, prev_hash, hash, confidentiality) "
                              "VALUES (:s, 'import.completed', NULL, 'old', '2026-11-30T00:00:00.000000Z', :d, :p, :h, "
                              "'internal')"), {"s": seq, "d": canonical(data).decode(), "p": prev, "h": h})
            prev = h
        conn.execute(text("INSERT INTO counters (scope, value) VALUES ('ledger', 11)"))
        conn.commit()
    upgrade(eng)
    eng.dispose()
    app = App(Settings(data_dir=tmp_path / "d", database_url=empty_url, deliver_webhooks=False), load_profile("changde"))
    with app.db.read() as s:
        report = verification.verify(s, app.blobs)
        assert report.ok, report.as_dict()
        old_root = merkle.root(s, 11)
    with app.db.write() as s:
        log.append(s, "import.completed", None, SYSTEM, {"after": "migration"})
    with app.db.read() as s:
        report = verification.verify(s, app.blobs)
        assert report.ok and report.length == 12, report.as_dict()
        hashes = [h for (h,) in s.execute(text("SELECT hash FROM events ORDER BY seq"))]
        proof = merkle.consistency(s, 11, 12)
        settings = dict(s.execute(text("SELECT key, value FROM ledger_settings")).all())
    assert settings == {"hash_alg": "sha256", "event_format_2_from": "12"}
    leaves = [bytes.fromhex(h) for h in hashes]
    assert rfc9162.mth("sha256", leaves[:11]).hex() == old_root
    assert rfc9162.verify_consistency("sha256", 11, 12, bytes.fromhex(old_root), rfc9162.mth("sha256", leaves),
                                      [bytes.fromhex(p) for p in proof["consistency_path"]])
    app.close()
