"""Content-addressed file store: each file stored once under its SHA-256, computed here on the server."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from yimatong.storage.files import private_dir

CHUNK = 1024 * 1024


class TooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file exceeds {limit} bytes")
        self.limit = limit


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO, limit: int) -> tuple[str, int, bytes]:
        """Copy a stream into the store atomically; returns (sha256, size, first bytes for sniffing).
        Write to a temp file in the same directory tree, fsync, then rename: a crash never leaves a
        half-written file under a real hash."""
        private_dir(self.root)  # 0700: the store holds internal and restricted files
        digest, size, head = hashlib.sha256(), 0, b""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise TooLargeError(limit)
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            if final.exists():
                os.unlink(tmp)
            else:
                private_dir(final.parent, tighten=False)
                os.replace(tmp, final)
            return sha, size, head
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def iter_bytes(self, sha256: str) -> Iterator[bytes]:
        with open(self.path(sha256), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def verify(self, sha256: str) -> bool:
        p = self.path(sha256)
        if not p.is_file():
            return False
        digest = hashlib.sha256()
        for chunk in self.iter_bytes(sha256):
            digest.update(chunk)
        return digest.hexdigest() == sha256
