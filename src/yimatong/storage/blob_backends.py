"""Where the file store keeps its objects: a local directory (default) or an S3-compatible object store.

A backend only moves bytes under names (`ab/cd/<address>` and `ab/cd/<address>.sealed`); hashing, sealing and
every check stay in `blobs.BlobStore`, on the server, whatever the backend. Uploads are first written to a local
temporary file (the spool), hashed there, then put under their address in one step: a rename in the same
directory tree, or one S3 PUT (single or multipart upload), which makes the object visible only when complete.

YMT_BLOB_URL chooses: `file:///srv/ymt/files` (a directory that several processes or hosts may share, e.g. over
NFS: names are content addresses and every write is an atomic rename, so writers never collide) or
`s3://bucket/prefix` with YMT_S3_ENDPOINT, YMT_S3_ACCESS_KEY, YMT_S3_SECRET_KEY, YMT_S3_REGION (MinIO, Ceph RGW,
Huawei OBS, Aliyun OSS — the S3 protocol through boto3, AWS's maintained client).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from yimatong.storage.files import private_dir

READ_CHUNK = 1024 * 1024


class BlobStoreError(Exception):
    """The store cannot be reached or refused an operation (message in Chinese, for people)."""


class Backend(Protocol):
    url: str

    def spool(self) -> str: ...
    def size(self, key: str) -> int | None: ...
    def fingerprint(self, key: str) -> str | None: ...
    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...
    def store(self, tmp: str, key: str) -> None: ...
    def touch(self, key: str) -> None: ...
    def age(self, key: str) -> float | None: ...
    def keys(self) -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...


class LocalBackend:
    """A directory. Temporary files live inside it (dot-names), so the final rename never crosses a file system."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.resolve().as_uri()

    def spool(self) -> str:
        private_dir(self.root)  # 0700: the store holds internal and restricted files
        return str(self.root)

    def path(self, key: str) -> Path:
        return self.root / key

    def size(self, key: str) -> int | None:
        try:
            st = self.path(key).stat()
        except OSError:
            return None
        return st.st_size if not _is_dir(st.st_mode) else None

    def fingerprint(self, key: str) -> str | None:
        """(size, inode, change time): ctime cannot be set back by a program, so a rewrite always changes it."""
        try:
            st = self.path(key).stat()
        except OSError:
            return None
        return f"{st.st_size}:{st.st_ino}:{st.st_ctime_ns}:{st.st_mtime_ns}"

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with open(self.path(key), "rb") as f:
            f.seek(start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                chunk = f.read(READ_CHUNK if left is None else min(READ_CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def store(self, tmp: str, key: str) -> None:
        final = self.path(key)
        private_dir(final.parent, tighten=False)
        os.replace(tmp, final)

    def touch(self, key: str) -> None:
        os.utime(self.path(key))

    def age(self, key: str) -> float | None:
        """Seconds since the object was last written or touched (None: no such object)."""
        try:
            return time.time() - self.path(key).stat().st_mtime
        except OSError:
            return None

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield path.relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def _is_dir(mode: int) -> bool:
    return (mode & 0o170000) == 0o040000


class S3Backend:
    """An S3 bucket (and key prefix) through boto3. Reads stream the object body; ranges are S3 Range GETs."""

    def __init__(self, bucket: str, prefix: str, client: Any, spool_dir: Path, display: str) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix, client
        self.spool_dir = spool_dir
        self.url = display

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def spool(self) -> str:
        private_dir(self.spool_dir)  # uploads wait here, plaintext, before they go to the bucket
        return str(self.spool_dir)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except Exception as exc:  # botocore's ClientError: 404 means absent, anything else is a fault
            if _status(exc) == 404:
                return None
            raise _fault(exc, "查询") from exc

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def fingerprint(self, key: str) -> str | None:
        """(size, ETag, last modified): an overwrite gets a new ETag and time, so a rewrite always changes it."""
        head = self._head(key)
        if head is None:
            return None
        return f"{head['ContentLength']}:{head.get('ETag', '')}:{head['LastModified'].isoformat()}"

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            return
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            body = self.client.get_object(**args)["Body"]
        except Exception as exc:
            if _status(exc) == 416:  # a range from the end of an empty object: nothing to read
                return
            raise _fault(exc, "读取") from exc
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def store(self, tmp: str, key: str) -> None:
        try:
            self.client.upload_file(tmp, self.bucket, self._key(key))
        except Exception as exc:
            raise _fault(exc, "写入") from exc
        finally:
            os.unlink(tmp)

    def touch(self, key: str) -> None:
        """S3 has no utime: copying an object onto itself with new metadata renews its LastModified."""
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self._key(key), MetadataDirective="REPLACE",
                                    CopySource={"Bucket": self.bucket, "Key": self._key(key)},
                                    Metadata={"touched": str(int(time.time()))})
        except Exception as exc:
            raise _fault(exc, "写入") from exc

    def age(self, key: str) -> float | None:
        head = self._head(key)
        return None if head is None else time.time() - head["LastModified"].timestamp()

    def keys(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    name = item["Key"][len(start):]
                    if name and not name.rsplit("/", 1)[-1].startswith("."):
                        yield name
        except Exception as exc:
            raise _fault(exc, "列出") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise _fault(exc, "删除") from exc


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code is None and response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
        return 404
    return int(code) if code is not None else None


def _fault(exc: Exception, verb: str) -> BlobStoreError:
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return BlobStoreError(f"对象存储{verb}失败：{text}")


def parse_url(url: str) -> tuple[str, str, str]:
    """(scheme, location, prefix) of YMT_BLOB_URL: ('file', '/abs/dir', '') or ('s3', 'bucket', 'prefix')."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ValueError(f"YMT_BLOB_URL 应为 file:///绝对路径，收到 {url!r}")
        return "file", path, ""
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"YMT_BLOB_URL 缺少存储桶名：应为 s3://存储桶/前缀，收到 {url!r}")
        return "s3", parts.netloc, parts.path.strip("/")
    raise ValueError(f"YMT_BLOB_URL 应以 file:// 或 s3:// 开头，收到 {url!r}")


def backend_from(settings: Any) -> Backend:
    """The backend the settings name (YMT_BLOB_URL; unset: the data dir's `files/`)."""
    url = getattr(settings, "blob_url", None)
    data_dir = Path(settings.data_dir)
    if not url:
        return LocalBackend(data_dir / "files")
    scheme, location, prefix = parse_url(url)
    if scheme == "file":
        return LocalBackend(Path(location))
    return S3Backend(location, prefix, s3_client(settings), data_dir / "spool", url)


def s3_client(settings: Any) -> Any:
    # boto3 takes ~0.3 s to import: loaded only when an S3 store is configured (a documented lazy heavy import)
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    style = getattr(settings, "s3_addressing", "path")
    if style not in ("path", "virtual"):
        raise ValueError(f"YMT_S3_ADDRESSING 应为 path 或 virtual，收到 {style!r}")
    config = Config(s3={"addressing_style": style}, retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5, read_timeout=60)
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.s3_endpoint or None, region_name=settings.s3_region or "us-east-1",
        aws_access_key_id=settings.s3_access_key or None, aws_secret_access_key=settings.s3_secret_key or None,
        config=config)


def temp_file(backend: Backend, prefix: str) -> tuple[int, str]:
    return tempfile.mkstemp(dir=backend.spool(), prefix=prefix)
