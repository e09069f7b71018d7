"""Request ids (accepted or generated, echoed in headers and problem bodies), structured logs with timestamps and
no secrets, and the Prometheus figures of requests, database, delivery queue and imports."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from conftest import LiveServer, project_body, serve
from web.test_auth import csrf_of


def test_request_ids_are_kept_or_generated_and_named_in_problems(client, registrar_headers) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/healthz", headers={"X-Request-Id": "nginx-7f3a.42"})
    assert r.headers["x-request-id"] == "nginx-7f3a.42"
    generated = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    for bad in ("two words", "x" * 200, "<script>"):
        assert client.get("/healthz", headers={"X-Request-Id": bad}).headers["x-request-id"] != bad
    missing = client.get("/api/v1/projects/CD0000", headers={**registrar_headers, "X-Request-Id": "trace-1"})
    assert missing.status_code in (404, 422) and missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["request_id"] == "trace-1" == missing.headers["x-request-id"]
    unauth = client.get("/api/v1/projects")
    assert unauth.status_code == 401 and unauth.json()["request_id"] == unauth.headers["x-request-id"]


def test_metrics_carry_requests_database_queue_and_imports(client, registrar_headers) -> None:  # type: ignore[no-untyped-def]
    client.post("/api/v1/projects", json=project_body(), headers=registrar_headers)
    text = client.get("/metrics").text
    for needle in ("ymt_http_requests_total{", "ymt_db_up 1.0", 'ymt_projects{status="active"} 1.0', "ymt_blobs ",
                   "ymt_db_pool_checked_out", "ymt_webhook_subscriptions", "ymt_import_last_timestamp_seconds"):
        assert needle in text, needle


def _log_of(server: LiveServer) -> Path:
    port = server.url.rsplit(":", 1)[1]
    return next(Path(server.env["YMT_DATA_DIR"]).parent.glob(f"server-{port}.log"))


def test_logs_are_json_lines_with_time_and_request_id_and_no_secrets(db_url: str, tmp_path: Path) -> None:
    gen = serve(db_url, tmp_path / "srv", {"YMT_LOG_FORMAT": "json", "YMT_DELIVER_WEBHOOKS": "false"})
    server = next(gen)
    try:
        token = server.token("registrar")
        h = {"Authorization": f"Bearer {token}", "X-Request-Id": "req-audit-1"}
        assert httpx.post(server.url + "/api/v1/projects", json=project_body(), headers=h).status_code == 201
        with httpx.Client(base_url=server.url) as web:
            page = web.get("/login")
            web.post("/login", data={"username": "nobody", "password": "Hunter2-secret-pw", "csrf": csrf_of(page.text)})
        httpx.get(server.url + "/api/v1/projects?q=x", headers={"Authorization": "Bearer ymt_wrongtoken0123456789abcdef"})
        log = _log_of(server)
        deadline = time.monotonic() + 30
        while "req-audit-1" not in log.read_text(encoding="utf-8") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        next(gen, None)
    text = log.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all("ts" in line and "level" in line for line in lines)
    access = [line for line in lines if line.get("request_id") == "req-audit-1" and line["msg"] == "request"]
    assert access and access[0]["status"] == 201 and access[0]["path"] == "/api/v1/projects"
    for secret in (token, "Hunter2-secret-pw", "ymt_wrongtoken0123456789abcdef"):
        assert secret not in text


def test_an_unhandled_error_is_a_problem_naming_the_request_and_logged(caplog) -> None:  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from yimatong.api.request_context import RequestContext

    def boom(_request):  # type: ignore[no-untyped-def]
        raise RuntimeError("database password=hunter2 exploded")

    caplog.set_level("INFO", logger="yimatong.access")
    app = Starlette(routes=[Route("/boom", boom)])
    app.add_middleware(RequestContext)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom", headers={"X-Request-Id": "r-500"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["request_id"] == "r-500" and "r-500" in r.json()["detail"] and "hunter2" not in r.text
    from yimatong.ops.logs import JsonFormatter

    lines = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records if rec.name == "yimatong.access"]
    assert any(x["msg"] == "unhandled error" and "RuntimeError" in x["exc"] and "hunter2" not in x["exc"]
               for x in lines)
    assert any(x["msg"] == "request" and x["status"] == 500 and x["request_id"] == "r-500" for x in lines)
