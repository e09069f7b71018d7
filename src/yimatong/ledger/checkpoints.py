"""Signed checkpoints of the ledger head: a department keeps one as proof of what it saw; later anyone
can check that the chain still holds that hash at that position (and that our key signed it)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.core.context import now, rfc3339
from yimatong.domain.ledger import canonical
from yimatong.errors import invalid
from yimatong.storage.models import Event

KEY_FILE = "ledger-signing-key.pem"


def signing_key(data_dir: Path) -> Ed25519PrivateKey:
    """The service's Ed25519 key, created on first use in the data directory (mode 0600)."""
    path = data_dir / KEY_FILE
    if path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def create(session: Session, data_dir: Path) -> dict[str, Any]:
    seq = session.execute(select(func.max(Event.seq))).scalar() or 0
    head = session.execute(select(Event.hash).where(Event.seq == seq)).scalar() if seq else None
    body = {"seq": seq, "head": head, "at": rfc3339(now())}
    key = signing_key(data_dir)
    signature = base64.b64encode(key.sign(canonical(body))).decode()
    return body | {"signature": signature, "public_key": public_key_b64(key), "algorithm": "Ed25519"}


def check(session: Session, checkpoint: dict[str, Any]) -> tuple[bool, str]:
    """True when the signature is valid and the chain still has `head` at `seq`."""
    try:
        body = {"seq": int(checkpoint["seq"]), "head": checkpoint["head"], "at": checkpoint["at"]}
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["public_key"]))
        pub.verify(base64.b64decode(checkpoint["signature"]), canonical(body))
    except (KeyError, TypeError, ValueError):
        raise invalid("checkpoint", "检查点格式无效：需要 seq、head、at、signature、public_key") from None
    except InvalidSignature:
        return False, "检查点签名无效"
    if body["seq"] == 0:
        return True, "空台账检查点"
    stored = session.execute(select(Event.hash).where(Event.seq == body["seq"])).scalar()
    if stored != body["head"]:
        return False, f"台账第 {body['seq']} 条事件的哈希与检查点不符：台账在检查点之后被改写"
    return True, f"台账第 {body['seq']} 条事件与检查点一致"


def dumps(checkpoint: dict[str, Any]) -> str:
    return json.dumps(checkpoint, ensure_ascii=False, indent=2)
