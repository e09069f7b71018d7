"""Code issuance under load, over real HTTP: distinct codes, consecutive serials, no gaps from failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from conftest import project_body


def test_500_concurrent_registrations_give_500_consecutive_codes(live_server) -> None:
    token = live_server.token("registrar")
    headers = {"Authorization": f"Bearer {token}"}

    def worker(client_no: int) -> list[str]:
        codes = []
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=120) as c:
            for i in range(25):
                r = c.post("/api/v1/projects", json=project_body(name=f"并发项目{client_no}-{i}"))
                assert r.status_code == 201, r.text
                codes.append(r.json()["code"])
        return codes

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = [c for batch in pool.map(worker, range(20)) for c in batch]
    assert len(codes) == 500 and len(set(codes)) == 500
    prefixes = {c[:22] for c in codes}
    assert prefixes == {"CD43070220260102230701"}
    assert sorted(int(c[22:]) for c in codes) == list(range(1, 501))
    verify = live_server.ymt("ledger", "verify", check=False)
    assert verify.returncode == 0, verify.stderr


def test_idempotent_replays_under_concurrency_create_one_project(live_server) -> None:
    headers = {"Authorization": f"Bearer {live_server.token('registrar')}", "Idempotency-Key": "same-key-1"}

    def send(_: int) -> tuple[int, str]:
        r = httpx.post(live_server.url + "/api/v1/projects", json=project_body(), headers=headers, timeout=60)
        return r.status_code, r.json().get("code", "")

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(send, range(10)))
    assert {s for s, _ in results} == {201}
    assert len({c for _, c in results}) == 1
    listing = httpx.get(live_server.url + "/api/v1/projects", headers=headers).json()
    assert len(listing["items"]) == 1
