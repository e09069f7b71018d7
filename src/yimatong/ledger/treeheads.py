"""Signed tree heads (RFC 9162 §4.10 in spirit) and their cosignatures by witnesses.

The log signs the UTF-8 text `yimatong-tree-head\\n{size}\\n{root_hash}\\n{timestamp}\\n` (the contract). A head is
kept once issued, so that a witness can co-sign exactly what it was shown: a witness checks the log's signature
and that the head extends the last one it saw (a consistency proof), then signs the same text with its own key
and posts it (`POST /ledger/tree-head/cosign`). Two departments holding heads co-signed by witnesses can prove a
fork: two heads of the log that no consistency proof joins.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yimatong.core.context import now, rfc3339
from yimatong.domain import merkle as tree
from yimatong.domain.signatures import signed_text
from yimatong.errors import NotFound, invalid
from yimatong.ledger import keys, merkle
from yimatong.storage import ledger_meta
from yimatong.storage.models import Cosignature, Event, TreeHead, Witness


def _as_dict(session: Session, head: TreeHead) -> dict[str, Any]:
    cos = session.execute(select(Cosignature, Witness.alg).join(Witness, Witness.name == Cosignature.witness)
                          .where(Cosignature.size == head.size).order_by(Cosignature.signed_at)).all()
    return {"size": head.size, "root_hash": head.root_hash, "hash_alg": ledger_meta.hash_alg(session),
            "signature": head.signature, "key_id": head.key_id, "timestamp": head.timestamp,
            "cosignatures": [{"witness": c.witness, "alg": alg, "signature": c.signature,
                              "signed_at": rfc3339(c.signed_at)} for c, alg in cos]}


def current(session: Session, data_dir: Path, alg: str = "ed25519") -> dict[str, Any]:
    """The signed head of the log as it is now: the one already issued for this size, or a new one. Runs in a
    write transaction (it may record the head and, on first use, the key)."""
    size = merkle.size(session)
    head = session.get(TreeHead, size)
    if head is None:
        signer = keys.signer(session, data_dir, alg)
        root_hash = merkle.root(session, size)
        timestamp = rfc3339(now())
        signature = base64.b64encode(signer.sign(signed_text(size, root_hash, timestamp))).decode()
        head = TreeHead(size=size, root_hash=root_hash, timestamp=timestamp, key_id=signer.key_id,
                        signature=signature)
        try:
            with session.begin_nested():
                session.add(head)
        except IntegrityError:  # another request issued this size just now: serve that one
            head = session.get(TreeHead, size, populate_existing=True)
            assert head is not None
    return _as_dict(session, head)


def issued(session: Session) -> dict[str, Any] | None:
    """The head already issued for the log's current size, if any."""
    head = session.get(TreeHead, merkle.size(session))
    return None if head is None else _as_dict(session, head)


def at_size(session: Session, size: int) -> dict[str, Any]:
    head = session.get(TreeHead, size)
    if head is None:
        raise NotFound(f"规模 {size} 的树头未签发过", [("size", "没有该规模的已签发树头")])
    return _as_dict(session, head)


def latest_witnessed(session: Session) -> dict[str, Any] | None:
    size = session.execute(select(Cosignature.size).order_by(Cosignature.size.desc()).limit(1)).scalar()
    return None if size is None else at_size(session, size)


# --- witnesses --------------------------------------------------------------------------------------------------


def add_witness(session: Session, name: str, public_pem: str) -> Witness:
    name = name.strip()
    if not name or len(name) > 100:
        raise invalid("name", "见证方名称必填，且不超过 100 个字符")
    try:
        key = keys.load_public_pem(public_pem)
    except ValueError as exc:
        raise invalid("key", str(exc)) from None
    row = session.get(Witness, name)
    if row is None:
        row = Witness(name=name, alg=key.alg, public_key=key.pem, created_at=now())
        session.add(row)
    else:
        row.alg, row.public_key = key.alg, key.pem
    session.flush()
    return row


def witnesses(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Witness).order_by(Witness.name)).scalars()
    return [{"name": w.name, "alg": w.alg, "public_key": w.public_key, "key_id": keys.load_public_pem(w.public_key).key_id}
            for w in rows]


def cosign(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """Record a witness's signature over a head the log issued. Anything that does not check out is 422 naming
    the field: an unknown witness, a size never issued, another root (a fork!), a bad signature."""
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise invalid("size", "size 应为非负整数")
    root_hash = body.get("root_hash")
    if not isinstance(root_hash, str):
        raise invalid("root_hash", "root_hash 应为十六进制字符串")
    name = body.get("witness")
    witness = session.get(Witness, name) if isinstance(name, str) else None
    if witness is None:
        raise invalid("witness", f"见证方 {name!r} 未登记（ymt ledger witness add）")
    head = session.get(TreeHead, size)
    if head is None:
        raise invalid("size", f"规模 {size} 的树头未签发过：请对 GET /api/v1/ledger/tree-head 返回的树头联署")
    if root_hash != head.root_hash:
        raise invalid("root_hash", f"规模 {size} 的根哈希不是 {root_hash}：见证方所见与本台账不一致")
    try:
        signature = base64.b64decode(body.get("signature") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise invalid("signature", "signature 应为 base64") from None
    key = keys.load_public_pem(witness.public_key)
    if not key.verify(signature, signed_text(size, head.root_hash, head.timestamp)):
        raise invalid("signature", "联署签名无效：应为见证方私钥对该树头签名文本的签名")
    row = session.get(Cosignature, (size, witness.name))
    encoded = base64.b64encode(signature).decode()
    if row is None:
        session.add(Cosignature(size=size, witness=witness.name, signature=encoded, signed_at=now()))
    else:
        row.signature, row.signed_at = encoded, now()
    session.flush()
    return _as_dict(session, head)


def witnessed_inclusion(session: Session, code: str) -> dict[str, Any] | None:
    """For the public page: is the project's latest (non-restricted) record inside the latest head that a
    witness co-signed? The inclusion proof is built and checked here, server-side. None: no witnessed head."""
    head = latest_witnessed(session)
    if head is None:
        return None
    last = session.execute(select(Event.seq, Event.hash).where(Event.code == code, Event.confidentiality != "restricted")
                           .order_by(Event.seq.desc()).limit(1)).first()
    if last is None:
        return None
    seq, event_hash = last
    out = {"seq": seq, "size": head["size"], "timestamp": head["timestamp"],
           "witnesses": [c["witness"] for c in head["cosignatures"]], "included": False}
    if seq <= head["size"]:
        alg = head["hash_alg"]
        proof = merkle.inclusion(session, seq, head["size"])
        out["included"] = tree.verify_inclusion(alg, seq - 1, head["size"], tree.leaf_hash(alg, tree.leaf_bytes(event_hash)),
                                                [bytes.fromhex(p) for p in proof["audit_path"]],
                                                bytes.fromhex(head["root_hash"]))
    return out
