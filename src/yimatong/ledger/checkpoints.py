"""Signed checkpoints of the ledger head (seq, hash): a department keeps one as proof of what it saw; later
anyone can check that the chain still holds that hash at that position and that *our* key signed it.

The public key inside a checkpoint file is never trusted by itself: a rewritten chain signed with a fresh key
would carry a fresh key too. A checkpoint verifies against pinned keys (`--key FILE`: a PEM public key or the
JSON of `GET /api/v1/ledger/keys`, kept by the department) or, failing those, the keys the database records.
Tree heads (`treeheads`) are the stronger proof (a consistency proof, no replay); checkpoints stay for v1.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.core.context import now, rfc3339
from yimatong.domain.ledger import canonical
from yimatong.errors import invalid
from yimatong.ledger import keys
from yimatong.storage.models import Event


def create(session: Session, data_dir: Path, alg: str = "ed25519") -> dict[str, Any]:
    seq = session.execute(select(func.max(Event.seq))).scalar() or 0
    head = session.execute(select(Event.hash).where(Event.seq == seq)).scalar() if seq else None
    body = {"seq": seq, "head": head, "at": rfc3339(now())}
    signer = keys.signer(session, data_dir, alg)
    signature = base64.b64encode(signer.sign(canonical(body))).decode()
    return body | {"signature": signature, "public_key": base64.b64encode(signer.public.raw).decode(),
                   "key_id": signer.key_id, "algorithm": "Ed25519" if signer.alg == "ed25519" else "SM2"}


def check(session: Session, checkpoint: dict[str, Any], pinned: dict[str, keys.PublicKey] | None = None
          ) -> tuple[bool, str]:
    """True when a trusted key signed it and the chain still has `head` at `seq`."""
    try:
        body = {"seq": int(checkpoint["seq"]), "head": checkpoint["head"], "at": checkpoint["at"]}
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        raw = base64.b64decode(checkpoint["public_key"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise invalid("checkpoint", "检查点格式无效：需要 seq、head、at、signature、public_key") from None
    trusted = pinned if pinned is not None else keys.registered(session)
    key = next((k for k in trusted.values() if k.raw == raw), None)
    if key is None:
        where = "指定的公钥（--key）" if pinned is not None else "本台账登记的签名密钥"
        return False, f"检查点的签名公钥不是{where}：可能是用新密钥伪造的检查点"
    if not key.verify(signature, canonical(body)):
        return False, "检查点签名无效"
    if body["seq"] == 0:
        return True, "空台账检查点"
    stored = session.execute(select(Event.hash).where(Event.seq == body["seq"])).scalar()
    if stored != body["head"]:
        return False, f"台账第 {body['seq']} 条事件的哈希与检查点不符：台账在检查点之后被改写"
    return True, f"台账第 {body['seq']} 条事件与检查点一致（签名密钥 {key.key_id[:16]}…）"


def dumps(checkpoint: dict[str, Any]) -> str:
    return json.dumps(checkpoint, ensure_ascii=False, indent=2)
