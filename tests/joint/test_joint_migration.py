"""Migration 0012 on a database with data from before it: the tables of joint review appear, existing rows are
untouched, and the migration goes down and up again (SQLite)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, text

from yimatong.storage.migrate import alembic_config


def test_0012_upgrades_existing_data_and_goes_back(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with engine.connect() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0015")
        conn.execute(text("INSERT INTO api_tokens (name, role, token_hash, prefix, created_at, expires_at) "
                          "VALUES ('old', 'viewer', 'h', 'ymt_x', '2026-01-01 00:00:00', '2027-01-01 00:00:00')"))
        conn.commit()
        command.upgrade(cfg, "0012")
        conn.commit()
        assert conn.execute(text("SELECT name FROM api_tokens")).all() == [("old",)]
        tables = set(inspect(conn).get_table_names())
        assert {"joint_reviews", "joint_opinions", "stage_suspensions", "registration_states"} <= tables
        command.downgrade(cfg, "0015")
        conn.commit()
        assert "joint_reviews" not in set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT name FROM api_tokens")).all() == [("old",)]
        command.upgrade(cfg, "head")
        conn.commit()
    engine.dispose()
