"""The log's signing keys and the witnesses' public keys: Ed25519 (default) or SM2 (国密, GB/T 32918).

The private key lives in the data dir (`ledger-signing-key.pem`, 0600), never in the database; the database
records each key's public half and id (`ledger_keys`), and which one is active. A data dir restored without
its key, or with another key, is refused — never a new key made in silence, since heads signed by an unknown
key prove nothing to the departments holding the old one. `ymt ledger rotate-key` makes a new key on purpose,
and writes that into the ledger (`ledger.key_rotated`).

SM2: `cryptography` has no SM2, so signatures use `gmssl` (pure Python, the SM2/SM3/SM4 package most used on
PyPI; not actively developed since 2023, so it is wrapped narrowly here): SM2 signature with SM3 and the
default user ID 1234567812345678 (GM/T 0009-2012 §10), the signature DER-encoded (r, s) as GB/T 35276-2017 §7.2
says, public keys as SubjectPublicKeyInfo with the SM2 curve OID 1.2.156.10197.1.301 (GB/T 35276 §7.1) so that
OpenSSL reads them. Two gmssl pitfalls are avoided: its nonce comes from `random` (we pass one from `secrets`),
and its constructor strips a leading "04" with `str.lstrip` (we set the 128-digit key ourselves).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from gmssl import sm2 as gm_sm2
from sqlalchemy import select
from sqlalchemy.orm import Session

from yimatong.core.context import now
from yimatong.domain.signatures import _SM2_N, PublicKey, _sm2, load_public_pem
from yimatong.errors import AppError, invalid
from yimatong.storage.models import LedgerKey

KEY_FILE = "ledger-signing-key.pem"
SIGNATURE_ALGS = ("ed25519", "sm2")
_SM2_PEM = "YMT SM2 PRIVATE KEY"


class KeyError_(AppError):
    status = 503
    title = "台账签名密钥异常"


# --- keys ------------------------------------------------------------------------------------------------------


class Signer:
    def __init__(self, alg: str, private: Any, public: PublicKey) -> None:
        self.alg, self._private, self.public = alg, private, public

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        if self.alg == "ed25519":
            return bytes(self._private.sign(message))
        crypt = _sm2(self._private, self.public.raw)
        while True:  # gmssl gives None for the rare k that makes r or s zero: draw again
            k = f"{secrets.randbelow(_SM2_N - 1) + 1:064x}"
            sig = crypt.sign_with_sm3(message, k)
            if sig:
                return bytes(encode_dss_signature(int(sig[:64], 16), int(sig[64:], 16)))

    def private_pem(self) -> bytes:
        if self.alg == "ed25519":
            return bytes(self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
        body = base64.b64encode(bytes.fromhex(self._private)).decode()
        return f"-----BEGIN {_SM2_PEM}-----\n{body}\n-----END {_SM2_PEM}-----\n".encode()


def generate(alg: str) -> Signer:
    if alg not in SIGNATURE_ALGS:
        raise invalid("alg", f"签名算法应为 {'、'.join(SIGNATURE_ALGS)}，收到 {alg!r}")
    if alg == "ed25519":
        key = Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Signer(alg, key, PublicKey(alg, raw))
    d = secrets.randbelow(_SM2_N - 2) + 1  # GB/T 32918.1 §6.1: d in [1, n-2]
    crypt = gm_sm2.CryptSM2(private_key=f"{d:064x}", public_key="")
    xy = crypt._kg(d, gm_sm2.default_ecc_table["g"])  # d·G (gmssl has no key generation of its own)
    return Signer(alg, f"{d:064x}", PublicKey(alg, b"\x04" + bytes.fromhex(xy)))


def load_private(data: bytes) -> Signer:
    text = data.decode("ascii", "replace")
    if _SM2_PEM in text:
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        d = base64.b64decode(body).hex()
        crypt = gm_sm2.CryptSM2(private_key=d, public_key="")
        xy = crypt._kg(int(d, 16), gm_sm2.default_ecc_table["g"])
        return Signer("sm2", d, PublicKey("sm2", b"\x04" + bytes.fromhex(xy)))
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("签名密钥文件不是 Ed25519 或 SM2 私钥")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Signer("ed25519", key, PublicKey("ed25519", raw))


# --- the log's key in the data dir and the database ------------------------------------------------------------


def _write_key_file(path: Path, signer: Signer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(signer.private_pem())
    os.replace(tmp, path)


def active_row(session: Session) -> LedgerKey | None:
    return session.execute(select(LedgerKey).where(LedgerKey.retired_at.is_(None))
                           .order_by(LedgerKey.created_at.desc())).scalars().first()


def _record(session: Session, signer: Signer) -> LedgerKey:
    row = LedgerKey(key_id=signer.key_id, alg=signer.alg, public_key=signer.public.pem, created_at=now())
    session.add(row)
    session.flush()
    return row


def signer(session: Session, data_dir: Path, alg: str = "ed25519") -> Signer:
    """The active signing key. First use: the key file of the data dir is adopted (a data dir from before the
    key registry) or a new key of `alg` is made; either is recorded. Afterwards the file must hold exactly the
    recorded key, or signing stops with a message saying what to do."""
    path = data_dir / KEY_FILE
    row = active_row(session)
    loaded = load_private(path.read_bytes()) if path.is_file() else None
    if row is None:
        if loaded is None:
            loaded = generate(alg)
            _write_key_file(path, loaded)
        _record(session, loaded)
        return loaded
    if loaded is None:
        raise KeyError_(f"数据目录 {data_dir} 中没有台账签名密钥 {KEY_FILE}，而数据库记录的签名密钥为 {row.key_id[:16]}…："
                        "请从备份恢复该密钥文件；密钥确已丢失时，运行 ymt ledger rotate-key 明确启用新密钥（此操作记入台账）",
                        [("key", "签名密钥缺失")], key_id=row.key_id)
    if loaded.key_id != row.key_id:
        raise KeyError_(f"数据目录中的签名密钥 {loaded.key_id[:16]}… 与数据库记录的 {row.key_id[:16]}… 不符："
                        "数据目录与数据库不是同一套（恢复时混用了备份？）；确需更换时运行 ymt ledger rotate-key",
                        [("key", "签名密钥与数据库记录不符")], key_id=row.key_id)
    return loaded


def rotate(session: Session, data_dir: Path, alg: str) -> tuple[Signer, LedgerKey | None]:
    """A new active key; the old one is retired (its public key stays listed; its file is kept beside)."""
    previous = active_row(session)
    path = data_dir / KEY_FILE
    new = generate(alg)
    if path.is_file():
        old = load_private(path.read_bytes())
        os.replace(path, data_dir / f"ledger-signing-key.{old.key_id[:16]}.retired.pem")
    if previous is not None:
        previous.retired_at = now()
    _record(session, new)
    _write_key_file(path, new)
    return new, previous


def listed(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(LedgerKey).order_by(LedgerKey.created_at)).scalars()
    return [{"key_id": r.key_id, "alg": r.alg, "public_key": r.public_key,
             "status": "retired" if r.retired_at else "active"} for r in rows]


def registered(session: Session) -> dict[str, PublicKey]:
    return {r.key_id: load_public_pem(r.public_key) for r in session.execute(select(LedgerKey)).scalars()}


def signature_alg(settings: Any, profile: Any) -> str:
    """The algorithm of a new signing key: YMT_LEDGER_SIGNATURE, else the profile's `ledger.signature`."""
    alg = getattr(settings, "ledger_signature", None) or (getattr(profile, "ledger", None) or {}).get("signature")
    return alg or "ed25519"


def hash_choice(settings: Any, profile: Any) -> str | None:
    """The hash wanted for a new database: YMT_LEDGER_HASH, else the profile's `ledger.hash` (None: default)."""
    return getattr(settings, "ledger_hash", None) or (getattr(profile, "ledger", None) or {}).get("hash")
