"""The pluggable file store: a local directory and an S3-compatible object store (moto's server mode as a real
process on loopback) behave alike; the address is always the hash computed on the server; several service
processes on other data dirs serve the same files."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, S3Server, project_body, serve
from yimatong.config import Settings
from yimatong.storage.blob_backends import LocalBackend, parse_url
from yimatong.storage.blobs import CHUNK, BlobStore, blob_store_from


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    key = secrets.token_hex(32)
    extra: dict[str, str] = {}
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        extra = {k[4:].lower(): v for k, v in s3.env(f"t-{uuid.uuid4().hex[:8]}").items()}
    settings = Settings(data_dir=tmp_path / "data", blob_encryption="aes-gcm", blob_key=key, **extra)
    return blob_store_from(settings)


def test_the_address_is_the_servers_hash_and_ranges_read_plain_and_sealed(store: BlobStore) -> None:
    data = secrets.token_bytes(CHUNK * 2 + 1234)
    for seal in (False, True):
        body = data if not seal else data[::-1]
        sha, size, head = store.put(io.BytesIO(body), 10 * CHUNK, seal=seal)
        assert sha == hashlib.sha256(body).hexdigest() and size == len(body) and head == body[:8192]
        assert store.exists(sha) and store.is_sealed(sha) is seal and store.verify(sha)
        assert b"".join(store.iter_bytes(sha)) == body
        for start, end in ((0, 10), (CHUNK - 3, CHUNK + 5), (CHUNK * 2, None), (5, len(body))):
            assert b"".join(store.iter_bytes(sha, start, end)) == body[start:end], (seal, start, end)
    assert sorted(store.backend.keys()) == sorted([store.key(hashlib.sha256(data).hexdigest()),
                                                   store.sealed_key(hashlib.sha256(data[::-1]).hexdigest())])


def test_a_staged_file_is_nowhere_until_committed_and_a_discard_leaves_nothing(store: BlobStore) -> None:
    staged = store.stage(io.BytesIO(b"not yet"), 1000)
    assert not store.exists(staged.sha256) and list(store.backend.keys()) == []
    store.discard(staged)
    assert not Path(staged.tmp).exists() and not any(Path(store.backend.spool()).iterdir())
    staged = store.stage(io.BytesIO(b"now"), 1000)
    store.commit(staged)
    assert store.exists(staged.sha256) and not Path(staged.tmp).exists()
    again = store.stage(io.BytesIO(b"now"), 1000)  # the same content again: kept once, renewed
    store.commit(again)
    assert list(store.backend.keys()) == [store.key(staged.sha256)] and not Path(again.tmp).exists()


def test_a_changed_object_no_longer_verifies_and_its_fingerprint_changes(store: BlobStore) -> None:
    sha, _, _ = store.put(io.BytesIO(b"original bytes"), 1000)
    before = store.fingerprint(sha)
    tmp = Path(store.backend.spool()) / "evil"
    tmp.write_bytes(b"forged bytes!!")
    store.backend.store(str(tmp), store.key(sha))
    assert store.fingerprint(sha) != before and not store.verify(sha)


def test_blob_url_is_checked() -> None:
    assert parse_url("file:///srv/ymt/files") == ("file", "/srv/ymt/files", "")
    assert parse_url("s3://bucket/a/b/") == ("s3", "bucket", "a/b")
    for bad in ("ftp://x", "file://host/x", "s3:///nobucket", "relative/path"):
        with pytest.raises(ValueError, match="YMT_BLOB_URL"):
            parse_url(bad)
    assert isinstance(blob_store_from(Settings(data_dir=Path("/tmp/x"))).backend, LocalBackend)


def _upload(server: LiveServer, token: str, data: bytes) -> tuple[str, int, int]:
    h = {"Authorization": f"Bearer {token}"}
    r = httpx.post(server.url + "/api/v1/projects", json=project_body(), headers=h)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    r = httpx.post(f"{server.url}/api/v1/projects/{code}/results", headers=h,
                   data={"meta": json.dumps({"stage": "pre_review", "kind": "用地预审意见"})},
                   files=[("files", ("预审.pdf", data, "application/pdf"))])
    assert r.status_code == 201, r.text
    result = r.json()
    assert result["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    return code, result["id"], result["files"][0]["id"]


@pytest.fixture(params=["shared-dir", "s3"])
def two_servers(request: pytest.FixtureRequest, db_url: str, tmp_path: Path
                ) -> Iterator[tuple[LiveServer, LiveServer, dict[str, str]]]:
    if request.param == "s3":
        env = request.getfixturevalue("s3_server").env(f"two-{uuid.uuid4().hex[:8]}")
    else:
        env = {"YMT_BLOB_URL": (tmp_path / "shared-files").as_uri()}
    env["YMT_DELIVER_WEBHOOKS"] = "false"
    first = serve(db_url, tmp_path / "a", env)
    second = serve(db_url, tmp_path / "b", env)
    a, b = next(first), next(second)
    yield a, b, env
    for gen in (first, second):
        next(gen, None)


def test_a_file_uploaded_through_one_process_downloads_through_another(two_servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b, env = two_servers
    data = secrets.token_bytes(3 * 1024 * 1024 + 17)
    _, rid, fid = _upload(a, a.token("admin"), data)
    r = httpx.get(f"{b.url}/api/v1/results/{rid}/files/{fid}", headers={"Authorization": f"Bearer {b.token('admin')}"})
    assert r.status_code == 200 and r.content == data
    assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert not (tmp_path / "a" / "files").exists() and not (tmp_path / "b" / "files").exists()
    assert b.ymt("ledger", "verify").returncode == 0


def test_a_forged_object_in_the_bucket_fails_verification(s3_server: S3Server, db_url: str, tmp_path: Path) -> None:
    env = {**s3_server.env(f"forge-{uuid.uuid4().hex[:8]}"), "YMT_DELIVER_WEBHOOKS": "false"}
    gen = serve(db_url, tmp_path / "srv", env)
    server = next(gen)
    try:
        data = b"%PDF-1.4 the real permit\n"
        _upload(server, server.token("admin"), data)
        sha = hashlib.sha256(data).hexdigest()
        prefix = env["YMT_BLOB_URL"].split("/", 3)[3]
        s3_server.client().put_object(Bucket=s3_server.bucket, Key=f"{prefix}/{sha[:2]}/{sha[2:4]}/{sha}",
                                      Body=b"%PDF-1.4 a forged permit\n")
        out = server.ymt("ledger", "verify", check=False)
        assert out.returncode != 0 and sha in out.stdout + out.stderr
    finally:
        next(gen, None)
