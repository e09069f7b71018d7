"""Content-addressed file store: each file stored once under its hash, computed here on the server.

Where the bytes live is the backend's business (`blob_backends`: a local directory or S3); the hash is always
computed here on the server, from the bytes received, and the address is that hash.

The address is the hash of the plaintext with the ledger's algorithm (`sha256`, or `sm3` for a database created
with YMT_LEDGER_HASH=sm3; the API's `sha256` fields and the download's ETag carry this address whatever the
algorithm, as the contract fixes their names).

Encryption at rest (optional, GB/T 39786-2021 存储数据机密性): files of restricted results may be sealed with
AES-256-GCM or SM4-GCM (`cryptography`), chunk by chunk in the STREAM construction (each 1 MiB chunk its own
nonce = prefix || counter || last-flag, so no chunk can be dropped, reordered or cut off), the address bound in
as associated data. The key comes from a file or an environment variable, never from the database. A sealed
file keeps its plaintext address: serving and verifying decrypt and hash the plaintext, so the ETag and every
recorded hash stay the plaintext's.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yimatong.domain.ledger import Hasher
from yimatong.storage.blob_backends import Backend, LocalBackend, backend_from, temp_file

CHUNK = 1024 * 1024
MAGIC = b"YMTSEAL1"
TAG = 16
CIPHERS = {"aes-gcm": 1, "sm4-gcm": 2}
KEY_BYTES = {"aes-gcm": 32, "sm4-gcm": 16}
_HEADER = len(MAGIC) + 1 + 7


class TooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file exceeds {limit} bytes")
        self.limit = limit


class SealError(Exception):
    """A sealed file cannot be opened (no key configured, or the file or key is wrong)."""


@dataclass(frozen=True)
class Sealing:
    """The cipher for new sealed files and the keys to open existing ones (by cipher)."""

    cipher: str | None
    keys: dict[str, bytes]

    def key(self, cipher: str) -> bytes:
        key = self.keys.get(cipher)
        if key is None:
            raise SealError(f"没有配置 {cipher} 的文件加密密钥（YMT_BLOB_KEY_FILE 或 YMT_BLOB_KEY），无法读取加密存储的文件")
        return key


def load_key(cipher: str, text: str) -> bytes:
    """A key given as hex or base64 text, or raw bytes of the right length (a key file)."""

    want = KEY_BYTES[cipher]
    raw = text.strip()
    for decode in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True)):
        try:
            key = decode(raw)
        except (ValueError, binascii.Error):
            continue
        if len(key) == want:
            return key
    raise ValueError(f"{cipher} 的密钥应为 {want} 字节（十六进制或 base64）")


class _Gcm:
    """One-shot GCM of either cipher per chunk: AESGCM for AES; Cipher(SM4, GCM) for SM4 (no AEAD class)."""

    def __init__(self, cipher: str, key: bytes) -> None:
        self.cipher, self.key = cipher, key
        self._aes = AESGCM(key) if cipher == "aes-gcm" else None

    def seal(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        if self._aes is not None:
            return self._aes.encrypt(nonce, data, aad)
        enc = Cipher(algorithms.SM4(self.key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        return enc.update(data) + enc.finalize() + enc.tag

    def open(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        try:
            if self._aes is not None:
                return self._aes.decrypt(nonce, data, aad)
            dec = Cipher(algorithms.SM4(self.key), modes.GCM(nonce, data[-TAG:])).decryptor()
            dec.authenticate_additional_data(aad)
            return dec.update(data[:-TAG]) + dec.finalize()
        except InvalidTag:
            raise SealError("加密文件无法通过完整性校验（文件被改动或密钥不对）") from None


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class Staged:
    """An upload hashed into a temp file of the spool, not yet under its address (see BlobStore.stage)."""

    sha256: str
    size: int
    head: bytes  # the first bytes, for sniffing the media type
    tmp: str
    sealed: bool


class BlobStore:
    """Content-addressed files on a backend (local directory or S3), hashed and sealed here on the server."""

    def __init__(self, backend: Backend | Path, hash_alg: str | Callable[[], str] = "sha256",
                 sealing: Sealing | None = None) -> None:
        self.backend: Backend = LocalBackend(backend) if isinstance(backend, Path) else backend
        self._alg = hash_alg
        self.sealing = sealing or Sealing(None, {})

    @property
    def hash_alg(self) -> str:
        return self._alg if isinstance(self._alg, str) else self._alg()

    @property
    def url(self) -> str:
        return self.backend.url

    @staticmethod
    def key(sha256: str) -> str:
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"

    @staticmethod
    def sealed_key(sha256: str) -> str:
        """Where a sealed file lives: beside the plain name, so that no plaintext is ever taken for a sealed one."""
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.sealed"

    def _stored(self, sha256: str) -> str:
        sealed = self.sealed_key(sha256)
        return sealed if self.backend.size(sealed) is not None else self.key(sha256)

    def stage(self, stream: BinaryIO, limit: int, seal: bool = False) -> Staged:
        """Copy a stream into a temp file of the spool, fsync, hash (sealed when asked and a cipher is
        configured: the plaintext is hashed; sealing needs the address, so the sealed copy is made after).
        Nothing is under a real address yet: `commit` puts it there once the request is accepted, `discard`
        drops it (a crash leaves only a `.upload-*` temp file, which `ops.gc` collects)."""
        digest, size, head = Hasher(self.hash_alg), 0, b""
        fd, tmp = temp_file(self.backend, ".upload-")
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
            sealing = seal and self.sealing.cipher is not None
            if sealing and not self.exists(sha):
                self._seal_file(tmp, sha)
            return Staged(sha, size, head, tmp, sealing)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def commit(self, staged: Staged) -> None:
        """Put a staged file under its address in one step (a rename, or one S3 upload): a crash never leaves
        a half-written file under a real address, and the address is always the hash computed here, never one
        a client claims. A file already stored is refreshed instead, so that the collector of unreferenced
        files (older than a grace period) never takes one a request is about to reference."""
        if self.exists(staged.sha256):
            self.backend.touch(self._stored(staged.sha256))
            self.discard(staged)
            return
        if not os.path.exists(staged.tmp):  # committed before (a re-run of the command after a deadlock)
            raise FileNotFoundError(staged.tmp)
        self.backend.store(staged.tmp, self.sealed_key(staged.sha256) if staged.sealed else self.key(staged.sha256))

    @staticmethod
    def discard(staged: Staged) -> None:
        if os.path.exists(staged.tmp):
            os.unlink(staged.tmp)

    def put(self, stream: BinaryIO, limit: int, seal: bool = False) -> tuple[str, int, bytes]:
        """Stage and commit at once (for callers that reference the file in any case, e.g. the demo)."""
        staged = self.stage(stream, limit, seal)
        try:
            self.commit(staged)
        finally:
            self.discard(staged)
        return staged.sha256, staged.size, staged.head

    def delete(self, sha256: str) -> None:
        """Remove a stored file (plain and sealed); for the collector of unreferenced files only."""
        self.backend.delete(self.key(sha256))
        self.backend.delete(self.sealed_key(sha256))

    def _seal_file(self, plain_path: str, address: str) -> None:
        cipher = self.sealing.cipher
        assert cipher is not None
        gcm = _Gcm(cipher, self.sealing.key(cipher))
        prefix = secrets.token_bytes(7)
        header = MAGIC + bytes([CIPHERS[cipher]]) + prefix
        aad = header + address.encode()
        fd, sealed = temp_file(self.backend, ".seal-")
        try:
            with open(plain_path, "rb") as src, os.fdopen(fd, "wb") as out:
                out.write(header)
                chunk, counter = src.read(CHUNK), 0
                while True:
                    nxt = src.read(CHUNK)
                    out.write(gcm.seal(_nonce(prefix, counter, not nxt), chunk, aad))
                    if not nxt:
                        break
                    chunk, counter = nxt, counter + 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(sealed, plain_path)
        except BaseException:
            if os.path.exists(sealed):
                os.unlink(sealed)
            raise

    def exists(self, sha256: str) -> bool:
        return self.backend.size(self.key(sha256)) is not None or self.is_sealed(sha256)

    def is_sealed(self, sha256: str) -> bool:
        return self.backend.size(self.sealed_key(sha256)) is not None

    def _cipher_of(self, header: bytes) -> str:
        if len(header) < _HEADER or not header.startswith(MAGIC):
            raise SealError("加密文件的文件头无效")
        cipher = next((c for c, n in CIPHERS.items() if n == header[len(MAGIC)]), None)
        if cipher is None:
            raise SealError("未知的文件加密算法")
        return cipher

    def check_readable(self, sha256: str) -> None:
        """Raise SealError before any byte is sent when a sealed file's key is not configured."""
        if self.is_sealed(sha256):
            header = b"".join(self.backend.read(self.sealed_key(sha256), 0, _HEADER))
            self.sealing.key(self._cipher_of(header))

    def iter_bytes(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The plaintext from byte `start` up to `end` (exclusive; None: to the end), stored plain or sealed."""
        sealed = self.sealed_key(sha256)
        stored = self.backend.size(sealed)
        if stored is None:
            yield from self.backend.read(self.key(sha256), start, end)
            return
        yield from self._open_sealed(sealed, sha256, stored, start, end)

    def _open_sealed(self, key: str, sha256: str, stored: int, start: int, end: int | None) -> Iterator[bytes]:
        """Decrypt only the chunks a range needs: chunk i is at header + i·(CHUNK+TAG), and the last one is
        known from the stored size (its nonce carries the last-flag, so a cut-off file never opens)."""
        header = b"".join(self.backend.read(key, 0, _HEADER))
        cipher = self._cipher_of(header)
        gcm, prefix = _Gcm(cipher, self.sealing.key(cipher)), header[len(MAGIC) + 1:]
        aad = header + sha256.encode()
        chunks = max(1, -(-(stored - _HEADER) // (CHUNK + TAG)))
        first = start // CHUNK
        if first >= chunks:
            return
        offset, pos = start - first * CHUNK, first * CHUNK
        buffer = b""
        counter = first
        for piece in self.backend.read(key, _HEADER + first * (CHUNK + TAG)):
            buffer += piece
            while len(buffer) >= CHUNK + TAG:
                block, buffer = buffer[:CHUNK + TAG], buffer[CHUNK + TAG:]
                plain = gcm.open(_nonce(prefix, counter, counter == chunks - 1), block, aad)
                out, done = _window(plain, pos, offset, end)
                if out:
                    yield out
                if done:
                    return
                counter, pos, offset = counter + 1, pos + len(plain), 0
        if counter < chunks:  # the last (short) chunk
            plain = gcm.open(_nonce(prefix, counter, True), buffer, aad)
            out, _ = _window(plain, pos, offset, end)
            if out:
                yield out
        elif buffer:
            raise SealError("加密文件无法通过完整性校验（文件被改动或密钥不对）")

    def fingerprint(self, sha256: str) -> str | None:
        """The stored file's identity (local: size, inode, change time; S3: size, ETag, time): unchanged means
        not rewritten since. None: no file."""
        return self.backend.fingerprint(self._stored(sha256))

    def verify(self, sha256: str) -> bool:
        if not self.exists(sha256):
            return False
        digest = Hasher(self.hash_alg)
        try:
            for chunk in self.iter_bytes(sha256):
                digest.update(chunk)
        except SealError:
            return False
        return digest.hexdigest() == sha256


def _window(plain: bytes, pos: int, offset: int, end: int | None) -> tuple[bytes, bool]:
    """The part of one decrypted chunk (at plaintext position `pos`) from `offset` up to `end`; True when done."""
    piece = plain[offset:]
    if end is None:
        return piece, False
    stop = end - (pos + offset)
    return piece[:max(0, stop)], pos + len(plain) >= end


def blob_store_from(settings: object, hash_alg: str | Callable[[], str] = "sha256") -> BlobStore:
    """The file store the settings describe: YMT_BLOB_URL (default the data dir's files/) and sealing."""
    return BlobStore(backend_from(settings), hash_alg, sealing_from(settings))


def sealing_from(settings: object) -> Sealing:
    """Encryption at rest from the settings: YMT_BLOB_ENCRYPTION and the key from YMT_BLOB_KEY_FILE or
    YMT_BLOB_KEY. Without a cipher, sealed files already stored can still be opened when the key is given."""
    cipher = getattr(settings, "blob_encryption", None) or None
    if cipher is not None and cipher not in CIPHERS:
        raise ValueError(f"YMT_BLOB_ENCRYPTION 应为 {'、'.join(CIPHERS)}，收到 {cipher!r}")
    key_file = getattr(settings, "blob_key_file", None)
    text = Path(key_file).read_text(encoding="ascii", errors="replace") if key_file else getattr(settings, "blob_key", None)
    keys = {}
    if text:
        for name in CIPHERS:
            try:
                keys[name] = load_key(name, text)
            except ValueError:
                continue
        if cipher is not None and cipher not in keys:
            raise ValueError(f"{cipher} 的密钥应为 {KEY_BYTES[cipher]} 字节（十六进制或 base64）")
    elif cipher is not None:
        raise ValueError("设置了 YMT_BLOB_ENCRYPTION，但没有给出密钥（YMT_BLOB_KEY_FILE 或 YMT_BLOB_KEY）")
    return Sealing(cipher, keys)
