"""Content-addressed file store: each file stored once under its hash, computed here on the server.

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
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yimatong.domain.ledger import Hasher
from yimatong.storage.files import private_dir

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


class BlobStore:
    def __init__(self, root: Path, hash_alg: str | Callable[[], str] = "sha256", sealing: Sealing | None = None
                 ) -> None:
        self.root = root
        self._alg = hash_alg
        self.sealing = sealing or Sealing(None, {})

    @property
    def hash_alg(self) -> str:
        return self._alg if isinstance(self._alg, str) else self._alg()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def sealed_path(self, sha256: str) -> Path:
        """Where a sealed file lives: beside the plain name, so that no plaintext is ever taken for a sealed one."""
        return self.root / sha256[:2] / sha256[2:4] / (sha256 + ".sealed")

    def _stored(self, sha256: str) -> Path:
        sealed = self.sealed_path(sha256)
        return sealed if sealed.is_file() else self.path(sha256)

    def put(self, stream: BinaryIO, limit: int, seal: bool = False) -> tuple[str, int, bytes]:
        """Copy a stream into the store atomically; returns (address, size, first bytes for sniffing).
        Write to a temp file in the same directory tree, fsync, then rename: a crash never leaves a
        half-written file under a real address. `seal`: encrypt at rest when a cipher is configured (the
        plaintext is hashed; sealing needs the address, so the sealed copy is written after hashing)."""
        private_dir(self.root)  # 0700: the store holds internal and restricted files
        digest, size, head = Hasher(self.hash_alg), 0, b""
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
            sealing = seal and self.sealing.cipher is not None
            final = self.sealed_path(sha) if sealing else self.path(sha)
            if self.exists(sha):
                os.unlink(tmp)
            else:
                private_dir(final.parent, tighten=False)
                if sealing:
                    self._seal_file(tmp, sha)
                os.replace(tmp, final)
            return sha, size, head
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _seal_file(self, plain_path: str, address: str) -> None:
        cipher = self.sealing.cipher
        assert cipher is not None
        gcm = _Gcm(cipher, self.sealing.key(cipher))
        prefix = secrets.token_bytes(7)
        header = MAGIC + bytes([CIPHERS[cipher]]) + prefix
        aad = header + address.encode()
        fd, sealed = tempfile.mkstemp(dir=self.root, prefix=".seal-")
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
        return self.path(sha256).is_file() or self.sealed_path(sha256).is_file()

    def is_sealed(self, sha256: str) -> bool:
        return self.sealed_path(sha256).is_file()

    def check_readable(self, sha256: str) -> None:
        """Raise SealError before any byte is sent when a sealed file's key is not configured."""
        if self.is_sealed(sha256):
            with open(self.sealed_path(sha256), "rb") as f:
                header = f.read(_HEADER)
            cipher = next((c for c, n in CIPHERS.items() if len(header) == _HEADER and n == header[len(MAGIC)]), None)
            if cipher is None:
                raise SealError("加密文件的文件头无效")
            self.sealing.key(cipher)

    def iter_bytes(self, sha256: str) -> Iterator[bytes]:
        """The plaintext, whether the file is stored plain or sealed."""
        sealed = self.sealed_path(sha256)
        if not sealed.is_file():
            with open(self.path(sha256), "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
            return
        with open(sealed, "rb") as f:
            header = f.read(_HEADER)
            if not header.startswith(MAGIC) or len(header) < _HEADER:
                raise SealError("加密文件的文件头无效")
            cipher = next((c for c, n in CIPHERS.items() if n == header[len(MAGIC)]), None)
            if cipher is None:
                raise SealError("未知的文件加密算法")
            gcm, prefix = _Gcm(cipher, self.sealing.key(cipher)), header[len(MAGIC) + 1:]
            aad = header + sha256.encode()
            block, counter = f.read(CHUNK + TAG), 0
            while True:
                nxt = f.read(CHUNK + TAG)
                yield gcm.open(_nonce(prefix, counter, not nxt), block, aad)
                if not nxt:
                    return
                block, counter = nxt, counter + 1

    def fingerprint(self, sha256: str) -> str | None:
        """The file's identity on disk (size, inode, change time): unchanged means not rewritten since. ctime
        cannot be set back by a program (unlike mtime), so a rewrite always changes it. None: no file."""
        try:
            st = self._stored(sha256).stat()
        except OSError:
            return None
        return f"{st.st_size}:{st.st_ino}:{st.st_ctime_ns}:{st.st_mtime_ns}"

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
