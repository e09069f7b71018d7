"""The ledger outsiders can verify: chain verification, signed tree heads, keys, Merkle proofs, cosigning."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from yimatong.api.deps import get_app, requires
from yimatong.api.problems import problem
from yimatong.api.schemas import responses
from yimatong.core.context import Actor, App
from yimatong.domain.policy import Action
from yimatong.ledger import checkpoints, keys, merkle, treeheads
from yimatong.ledger import verify as verification

router = APIRouter(prefix="/api/v1/ledger", tags=["台账 Ledger"])
admin_only = requires(Action.LEDGER_ADMIN)
RETRY_AFTER = "30"


def signature_alg(app: App) -> str:
    return keys.signature_alg(app.settings, app.profile)


@router.get("/verify", responses=responses(401, 403) | {503: {"description": "另一次校验正在进行（Retry-After）"}},
            summary="校验台账（仅管理员）",
            description="重算事件哈希链、计数器、Merkle 树、台账所推出的当前状态（项目、阶段、成果与文件清单、地块挂接）、"
                        "全部被引用文件的哈希与审计链；返回 ok、length、head、first_bad_seq 及 problems。"
                        + verification.COVERAGE +
                        " 仅 admin。同一时刻只运行一次：另一次校验进行中时返回 503 并带 Retry-After（秒）。"
                        "结果按链头缓存：链头未变时直接返回上次结果（cached=true）；文件只在上次校验后有变化时重新计算哈希。")
def verify_ledger(app: App = Depends(get_app), _: Actor = Depends(admin_only)) -> Any:
    try:
        return verification.cached_or_run(app)
    except verification.Busy:
        return problem(503, "另一次台账校验正在进行，请稍后重试", [("ledger", "校验进行中")],
                       headers={"Retry-After": RETRY_AFTER})


@router.get("/checkpoint", responses=responses(401), summary="签名的台账检查点",
            description="当前链头（seq、hash、时间）及服务端签名与 key_id；核对时应使用自己保存的公钥"
                        "（GET /api/v1/ledger/keys），而不是检查点文件里附带的公钥。")
def ledger_checkpoint(app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:  # a read unless the key is still to be recorded (first use)
        if keys.active_row(session) is not None:
            return checkpoints.create(session, app.settings.data_dir, signature_alg(app))
    with app.db.write(exclusive=False) as session:
        return checkpoints.create(session, app.settings.data_dir, signature_alg(app))


class TreeHeadOut(BaseModel):
    size: int
    root_hash: str
    hash_alg: str
    signature: str
    key_id: str
    timestamp: str
    cosignatures: list[dict[str, Any]]


@router.get("/tree-head", response_model=TreeHeadOut, responses=responses(401, 404, 422), summary="签名树头",
            description="台账作为 RFC 9162 Merkle 树的当前树头：size、root_hash（十六进制）、hash_alg（sha256 或 sm3）、"
                        "signature（base64，对 UTF-8 文本 `yimatong-tree-head\\n{size}\\n{root_hash}\\n{timestamp}\\n` 的签名，"
                        "公钥见 /ledger/keys）、key_id、timestamp 与见证方联署 cosignatures。叶子为各事件 hash 的 32 字节原始值"
                        "（十六进制解码），叶哈希 H(0x00||叶)，节点哈希 H(0x01||左||右)。"
                        "带 size 参数时返回该规模已签发的树头（未签发过为 404）。")
def tree_head(size: int | None = Query(None, ge=0, le=2**62, description="已签发树头的规模"),
              app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        if size is not None:
            return treeheads.at_size(session, size)
        issued = treeheads.issued(session)
        if issued is not None:  # the head of this size exists: a plain read, no writer's lock
            return issued
    with app.db.write(exclusive=False) as session:
        return treeheads.current(session, app.settings.data_dir, signature_alg(app))


@router.get("/keys", responses=responses(401), summary="台账签名公钥",
            description="签署树头与检查点的公钥（PEM），含已轮换停用的（status=retired），以便旧树头仍可验证。"
                        "各部门应保存一份，核对时以此为准。")
def ledger_keys(app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return {"items": keys.listed(session)}


@router.get("/proof/inclusion", responses=responses(401, 422), summary="包含证明",
            description="事件 seq 在规模 size 的树中的审计路径（RFC 9162 §2.1.3）：leaf_index = seq - 1，"
                        "audit_path 自叶向根。size 缺省为当前规模。")
def inclusion(seq: int = Query(..., ge=1, le=2**62, description="事件序号"),
              size: int | None = Query(None, ge=1, le=2**62, description="树的规模"),
              app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return merkle.inclusion(session, seq, size)


@router.get("/proof/consistency", responses=responses(401, 422), summary="一致性证明",
            description="规模 second 的树是规模 first 的树的延伸（RFC 9162 §2.1.4）。second 缺省为当前规模。")
def consistency(first: int = Query(..., ge=1, le=2**62, description="较早树头的规模"),
                second: int | None = Query(None, ge=1, le=2**62, description="较新树头的规模"),
                app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return merkle.consistency(session, first, second)


class CosignIn(BaseModel):
    size: int = Field(ge=0, le=2**62, description="树头规模")
    root_hash: str = Field(min_length=1, max_length=128, description="树头根哈希（十六进制）")
    witness: str = Field(min_length=1, max_length=100, description="见证方名称（已登记）")
    signature: str = Field(min_length=1, max_length=4096, description="见证方对树头签名文本的签名（base64）")


@router.post("/tree-head/cosign", status_code=201, response_model=TreeHeadOut,
             responses=responses(400, 401, 422), summary="见证方联署树头",
             description="见证方（已用 `ymt ledger witness add` 登记公钥）对一个已签发的树头签名：签名文本与台账签名相同"
                         "（含该树头的 timestamp）。未登记的见证方、未签发的规模、不同的根哈希（分叉）或无效签名均为 422。")
def cosign(body: CosignIn = Body(...), app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> JSONResponse:
    with app.db.write(exclusive=False) as session:
        head = treeheads.cosign(session, body.model_dump())
    return JSONResponse(head, status_code=201)


@router.get("/witnesses", responses=responses(401), summary="见证方",
            description="登记的见证方及其公钥。")
def witnesses(app: App = Depends(get_app), _: Actor = Depends(requires(Action.READ))) -> dict[str, Any]:
    with app.db.read() as session:
        return {"items": treeheads.witnesses(session)}
