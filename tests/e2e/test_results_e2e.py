"""Results over real HTTP: bytes in equal bytes out, and `ymt ledger verify` notices a changed file on disk."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import httpx

from conftest import project_body


def test_upload_download_package_and_tamper_detection(live_server) -> None:
    h = {"Authorization": f"Bearer {live_server.token('registrar')}"}
    with httpx.Client(base_url=live_server.url, headers=h, timeout=60) as c:
        code = c.post("/api/v1/projects", json=project_body()).json()["code"]
        payload = bytes(range(256)) * 4096  # 1 MiB of binary
        r = c.post(f"/api/v1/projects/{code}/results",
                   data={"meta": json.dumps({"stage": "pre_review", "kind": "测绘成果"})},
                   files=[("files", ("测绘报告.bin", payload, "application/pdf"))])
        assert r.status_code == 201, r.text
        res = r.json()
        f = res["files"][0]
        assert f["sha256"] == hashlib.sha256(payload).hexdigest() and f["size"] == len(payload)
        assert f["media_type"] == "application/octet-stream"  # sniffed, not the client's claim
        body = c.get(f"/api/v1/results/{res['id']}/files/{f['id']}").content
        assert hashlib.sha256(body).hexdigest() == f["sha256"]
        z = zipfile.ZipFile(io.BytesIO(c.get(f"/api/v1/projects/{code}/package",
                                             params={"purpose": "archive"}).content))
        assert json.loads(z.read("manifest.json"))["results"][0]["files"][0]["sha256"] == f["sha256"]
        assert live_server.ymt("ledger", "verify").returncode == 0
        stored = Path(live_server.env["YMT_DATA_DIR"]) / "files" / f["sha256"][:2] / f["sha256"][2:4] / f["sha256"]
        stored.write_bytes(payload[:-1] + b"X")
        bad = live_server.ymt("ledger", "verify", check=False)
        assert bad.returncode == 1 and f["sha256"] in bad.stderr
        admin = {"Authorization": f"Bearer {live_server.token('admin')}"}  # verify is admin only (issue 10.10)
        verify = c.get("/api/v1/ledger/verify", headers=admin).json()
        assert verify["ok"] is False
