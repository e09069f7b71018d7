"""A server killed (kill -9) after a writer's commit and before its events were sequenced: nothing is lost — the
event is not in the feed meanwhile (nor anywhere a reader looks), `ymt ledger verify` reports it queued, and the
restarted server's sequencer puts it into the ledger."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from conftest import is_pg, project_body, start_server

# The window between commit and sequencing, held open: the writer does not sequence and no background one runs.
NO_SEQUENCER = {"YMT_SEQUENCE_AFTER_COMMIT": "false", "YMT_SEQUENCER_POLL_SECONDS": "0", "YMT_DELIVER_WEBHOOKS": "false"}


@pytest.mark.skipif(not is_pg(), reason="SQLite appends in the writer's transaction: there is no such window")
def test_a_kill_between_commit_and_sequencing_loses_nothing(db_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(db_url, data, NO_SEQUENCER)
    try:
        headers = {"Authorization": f"Bearer {server.token('registrar')}"}
        before = httpx.get(server.url + "/api/v1/events", params={"limit": 1000}, headers=headers).json()["items"]
        r = httpx.post(server.url + "/api/v1/projects", json=project_body(name="崩溃前登记"), headers=headers,
                       timeout=60)
        assert r.status_code == 201, r.text
        code = r.json()["code"]
        feed = httpx.get(server.url + "/api/v1/events", params={"code": code}, headers=headers).json()["items"]
        assert feed == []  # committed, not yet in the ledger: readers do not see it
        queued = server.ymt("ledger", "verify", "--pending-after", "0", check=False)
        assert queued.returncode == 1 and "未记入台账" in queued.stderr, queued.stderr
    finally:
        server.proc.kill()  # kill -9
        server.proc.wait(timeout=30)
    restarted = start_server(db_url, data)  # the defaults: a background sequencer in the server
    try:
        deadline = time.monotonic() + 120
        feed = []
        while not feed and time.monotonic() < deadline:
            feed = httpx.get(restarted.url + "/api/v1/events", params={"code": code}, headers=headers).json()["items"]
            time.sleep(0.2)
        assert [(e["type"], e["seq"]) for e in feed] == [("project.registered", len(before) + 1)]
        verify = restarted.ymt("ledger", "verify", "--pending-after", "0", check=False)
        assert verify.returncode == 0, verify.stderr
    finally:
        restarted.proc.terminate()
        restarted.proc.wait(timeout=30)
