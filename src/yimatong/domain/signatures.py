"""Signatures outsiders check: the public keys of the log (Ed25519, or SM2 under GB/T 39786-2021), the signed
text of a tree head (API.md, "Verifiable ledger"), and verifying a head against trusted keys. Pure: the server
(ledger/keys, ledger/treeheads) and the SDK neighbours run use the same code."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl import sm2 as gm_sm2

PREFIX = "yimatong-tree-head"
# SubjectPublicKeyInfo of an SM2 key up to its BIT STRING: SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING
_SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
_SM2_N = int(gm_sm2.default_ecc_table["n"], 16)


@dataclass(frozen=True)
class PublicKey:
    alg: str
    raw: bytes  # Ed25519: 32 bytes; SM2: 04 || x || y (65 bytes)

    @property
    def der(self) -> bytes:
        if self.alg == "sm2":
            return _SM2_SPKI_PREFIX + self.raw
        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def key_id(self) -> str:
        """The SHA-256 of the DER SubjectPublicKeyInfo (as a CT log id, RFC 9162 §4.4), whatever the ledger hash."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def pem(self) -> str:
        body = base64.encodebytes(self.der).decode().replace("\n", "")
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"

    def verify(self, signature: bytes, message: bytes) -> bool:
        if self.alg == "ed25519":
            try:
                Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
                return True
            except InvalidSignature:
                return False
        try:
            r, s = decode_dss_signature(signature)
        except ValueError:
            return False
        if not (0 < r < _SM2_N and 0 < s < _SM2_N):
            return False
        return bool(_sm2(None, self.raw).verify_with_sm3(f"{r:064x}{s:064x}", message))


def _sm2(private_hex: str | None, public_raw: bytes) -> Any:
    crypt = gm_sm2.CryptSM2(private_key=private_hex, public_key="")
    crypt.public_key = public_raw[1:].hex()  # x || y, without the 04 that gmssl's lstrip would mangle
    return crypt


def load_public_pem(text: str | bytes) -> PublicKey:
    """A PEM SubjectPublicKeyInfo of an Ed25519 or SM2 key."""
    data = text.encode() if isinstance(text, str) else text
    try:
        der = base64.b64decode(b"".join(line for line in data.strip().splitlines() if not line.startswith(b"-----")))
    except ValueError:
        raise ValueError("不是 PEM 公钥") from None
    if der.startswith(_SM2_SPKI_PREFIX) and len(der) == len(_SM2_SPKI_PREFIX) + 65:
        return PublicKey("sm2", der[len(_SM2_SPKI_PREFIX):])
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        raise ValueError("无法识别的公钥（需要 Ed25519 或 SM2 的 PEM 公钥）") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("公钥算法不受支持（需要 Ed25519 或 SM2）")
    return PublicKey("ed25519", key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def pinned_from(text: str) -> dict[str, PublicKey]:
    """Keys a verifier trusts, from a file: a PEM public key, or the JSON of `GET /ledger/keys`."""

    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            items = json.loads(stripped)["items"]
            keys = [load_public_pem(i["public_key"]) for i in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"密钥 JSON 无效：{exc}") from None
    else:
        keys = [load_public_pem(stripped)]
    return {k.key_id: k for k in keys}


def signed_text(size: int, root_hash: str, timestamp: str) -> bytes:
    return f"{PREFIX}\n{size}\n{root_hash}\n{timestamp}\n".encode()


def verify_head(head: dict[str, Any], trusted: dict[str, PublicKey]) -> str | None:
    """None when `head` is well-formed and signed by one of the trusted keys, else why not."""
    try:
        size, root_hash, timestamp = int(head["size"]), str(head["root_hash"]), str(head["timestamp"])
        signature = base64.b64decode(head["signature"], validate=True)
        key_id = str(head["key_id"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return "树头格式无效：需要 size、root_hash、timestamp、signature、key_id"
    key = trusted.get(key_id)
    if key is None:
        return f"树头的签名密钥 {key_id[:16]}… 不是受信任的密钥"
    if not key.verify(signature, signed_text(size, root_hash, timestamp)):
        return "树头签名无效"
    return None
