"""A write that finds what it needs held by another one (SQLite: the database's one write lock; PostgreSQL: the
serial counters a registration takes — there is no library-wide writers' lock there any more) waits a bounded
time and then answers 503 with Retry-After — the neighbour system retries — instead of hanging or failing with a
500."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy import text

from conftest import make_token, project_body
from yimatong.api.app import create_app
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.profiles.loader import load_profile


def test_write_waits_then_answers_503(settings: Settings) -> None:
    impatient = App(settings.model_copy(update={"write_wait_seconds": 1.0}), load_profile("changde"))
    holder = App(settings, load_profile("changde"))
    headers = {"Authorization": f"Bearer {make_token(impatient, 'registrar')}"}
    started, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        with holder.db.write() as session:
            if holder.db.dialect == "postgresql":  # what a registration must lock: its serial scope's counter
                session.execute(text("LOCK TABLE counters IN EXCLUSIVE MODE"))
            else:
                session.execute(text("SELECT 1"))  # the transaction (and the write lock) begins with a statement
            started.set()
            release.wait(10)

    try:
        with TestClient(create_app(impatient.settings, impatient)) as client:
            th = threading.Thread(target=hold_the_writer)
            th.start()
            assert started.wait(10)
            t = time.monotonic()
            r = client.post("/api/v1/projects", json=project_body(name="等待中的项目"), headers=headers)
            waited = time.monotonic() - t
            release.set()
            th.join()
            assert r.status_code == 503 and r.headers["retry-after"] == "10", r.text
            assert "稍后重试" in r.json()["detail"] and waited >= 0.9
            assert client.get("/api/v1/projects", headers=headers).json()["items"] == []  # nothing written
            again = client.post("/api/v1/projects", json=project_body(name="等待中的项目"), headers=headers)
            assert again.status_code == 201
    finally:
        release.set()
        impatient.close()
        holder.close()
