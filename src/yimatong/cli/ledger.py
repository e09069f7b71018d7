"""`ymt ledger …` (verify, tree heads, checkpoints, keys, witnesses) and `ymt audit …` (the read audit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from yimatong.cli.common import fail, input_file, output_file, service
from yimatong.domain import signatures
from yimatong.ledger.verify import COVERAGE

ledger_app = typer.Typer(help="台账：哈希链、Merkle 树（RFC 9162）、签名树头与检查点、见证方", no_args_is_help=True)
witness_app = typer.Typer(help="见证方（联署树头的部门）", no_args_is_help=True)
audit_app = typer.Typer(help="访问审计（下载、成果包、导出的记录）", no_args_is_help=True)
ledger_app.add_typer(witness_app, name="witness")


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(audit_app, name="audit")


def _json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(input_file(path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise fail(f"{what}文件 {path} 不是合法的 JSON：{exc}") from None
    if not isinstance(data, dict):
        raise fail(f"{what}文件 {path} 应为 JSON 对象")
    return data


def _pinned(key: Path | None) -> Any:

    if key is None:
        return None
    try:
        return signatures.pinned_from(input_file(key).decode("utf-8", "replace"))
    except ValueError as exc:
        raise fail(f"公钥文件 {key} 无效：{exc}") from None


@ledger_app.command("verify", help="重算并核对台账，完好时退出码 0，否则列出问题并指出第一个异常条目。\n\n" + COVERAGE)
def verify(from_checkpoint: Path = typer.Option(None, "--from-checkpoint", help="较早保存的树头 JSON：核对当前台账是它的延伸"),
           key: Path = typer.Option(None, "--key", help="受信任的公钥（PEM，或 GET /ledger/keys 的 JSON）"),
           quick: bool = typer.Option(False, "--quick", help="只重算上次校验后有变化的文件"),
           pending_after: float = typer.Option(None, "--pending-after", min=0,
                                               help="报告排队超过此秒数仍未记入台账的事件（默认 YMT_LEDGER_PENDING_ALERT_SECONDS）")
           ) -> None:
    from sqlalchemy import select

    from yimatong.ledger import verify as verification
    from yimatong.storage.models import BlobCheck

    head = _json_file(from_checkpoint, "树头") if from_checkpoint else None
    pinned = _pinned(key)
    with service() as ymt:
        with ymt.db.read() as session:
            remembered = dict(session.execute(select(BlobCheck.sha256, BlobCheck.fingerprint)).tuples().all()) \
                if quick else None
            wait = ymt.settings.ledger_pending_alert_seconds if pending_after is None else pending_after
            report = verification.verify(session, ymt.blobs, remembered, pending_after=wait)
            extension = _extension(session, head, pinned, report.root_hash) if head is not None else None
        verification.remember_checks(ymt, report.blob_checks)
    if extension is not None:
        typer.echo(extension[1], err=not extension[0])
    if report.ok and (extension is None or extension[0]):
        typer.echo(f"台账完好：{report.length} 条事件，链头 {report.head}，Merkle 根 {report.root_hash}（{report.hash_alg}）；"
                   f"文件 {report.files_checked} 个（重算 {report.files_rehashed} 个），审计记录 {report.audit_length} 条")
        return
    if not report.ok:
        typer.secho(f"台账校验失败：第一个异常条目 seq={report.first_bad_seq}：{report.reason}", err=True,
                    fg=typer.colors.RED)
        for p in report.problems[1:20]:
            typer.secho(f"  [{p.check}] seq={p.seq}：{p.detail}", err=True, fg=typer.colors.RED)
        for name in report.bad_files[:20]:
            typer.secho(f"  文件 {name}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


def _extension(session: Any, head: dict[str, Any], pinned: Any, root_now: str | None) -> tuple[bool, str]:
    """Is the current log an extension of the saved head? Its signature first (by a trusted key), then a
    consistency proof from its size to now, checked against its root and the root recomputed from the events."""
    from yimatong.domain import merkle as tree
    from yimatong.errors import AppError
    from yimatong.ledger import keys, merkle
    from yimatong.storage import ledger_meta

    trusted = pinned if pinned is not None else keys.registered(session)
    bad = signatures.verify_head(head, trusted)
    if bad:
        return False, f"树头不可信：{bad}"
    size, old_root = int(head["size"]), str(head["root_hash"])
    current = merkle.size(session)
    if size > current:
        return False, f"台账被截断：保存的树头规模为 {size}，当前台账只有 {current} 条事件"
    alg = ledger_meta.hash_alg(session)
    if head.get("hash_alg") not in (None, alg):
        return False, f"树头的哈希算法 {head.get('hash_alg')} 与本台账的 {alg} 不同"
    try:
        new_root = root_now or merkle.root(session, current)
        if size == 0:
            return True, "保存的是空台账的树头"
        proof = merkle.consistency(session, size, current)
    except AppError as exc:
        return False, f"无法生成一致性证明：{exc.detail}"
    ok = tree.verify_consistency(alg, size, current, bytes.fromhex(old_root), bytes.fromhex(new_root),
                                 [bytes.fromhex(h) for h in proof["consistency_path"]])
    if not ok:
        return False, (f"台账已分叉或被改写：当前台账（{current} 条）不是所保存树头（规模 {size}，根 {old_root[:16]}…）的延伸")
    return True, f"当前台账（{current} 条）是所保存树头（规模 {size}）的延伸：一致性证明有效"


@ledger_app.command("sequence")
def sequence() -> None:
    """把已提交但尚未排序的事件记入台账（通常由 ymt serve / ymt worker 自动完成；进程崩溃后可手动运行）。"""
    from yimatong.ledger import sequencer

    with service() as ymt:
        done = sequencer.drain(ymt, wait_ms=int(ymt.settings.write_wait_seconds * 1000))
        with ymt.db.read() as session:
            left, _ = sequencer.pending(session)
    typer.echo(f"已记入台账 {done} 条事件" + (f"；另有 {left} 条正由其他进程处理" if left else "；没有待排序的事件"))


@ledger_app.command("tree-head")
def tree_head(output: Path = typer.Option(None, "--output", "-o", help="写入文件（默认打印）")) -> None:
    """生成（或取出已签发的）当前签名树头 JSON，供各部门保存，之后用 verify --from-checkpoint 核对。"""
    from yimatong.ledger import keys, treeheads

    if output:
        output_file(output, (".json",))
    with service() as ymt, ymt.db.write(exclusive=False) as session:
        head = treeheads.current(session, ymt.settings.data_dir, keys.signature_alg(ymt.settings, ymt.profile))
    text = json.dumps(head, ensure_ascii=False, indent=2)
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"树头已写入 {output}（规模 {head['size']}）")
    else:
        typer.echo(text)


@ledger_app.command("keys")
def list_keys() -> None:
    """打印台账签名公钥（与 GET /api/v1/ledger/keys 相同的 JSON，可作为 --key 文件保存）。"""
    from yimatong.ledger import keys

    with service() as ymt, ymt.db.read() as session:
        typer.echo(json.dumps({"items": keys.listed(session)}, ensure_ascii=False, indent=2))


@ledger_app.command("rotate-key")
def rotate_key(alg: str = typer.Option(None, "--alg", help="ed25519 或 sm2（默认 YMT_LEDGER_SIGNATURE 或 ed25519）"),
               yes: bool = typer.Option(False, "--yes", help="确认更换（旧密钥停用，但仍列出以验证旧树头）")) -> None:
    """启用新的台账签名密钥；旧密钥停用。此操作作为事件 ledger.key_rotated 记入台账。"""
    from yimatong.cli.data import cli_actor
    from yimatong.domain.events import LedgerKeyRotated
    from yimatong.domain.policy import Action
    from yimatong.ledger import keys
    from yimatong.uow import UnitOfWork, run

    if not yes:
        raise fail("更换签名密钥后，各部门须改用新公钥核对新树头：确认请加 --yes")

    def work(uow: UnitOfWork) -> tuple[keys.Signer, Any]:
        uow.allow(Action.LEDGER_ADMIN)
        wanted = alg or keys.signature_alg(ymt.settings, ymt.profile)
        new, previous = keys.rotate(uow.session, ymt.settings.data_dir, wanted)
        uow.emit(LedgerKeyRotated(key_id=new.key_id, alg=new.alg, public_key=new.public.pem,
                                  previous_key_id=previous.key_id if previous else None), None)
        return new, previous

    with service() as ymt:
        new, previous = run(ymt, cli_actor(), work, exclusive=True)  # never two rotations at once
    typer.echo(f"已启用新签名密钥 {new.key_id}（{new.alg}）" + (f"，停用 {previous.key_id}" if previous else ""))


@ledger_app.command("checkpoint")
def checkpoint(output: Path = typer.Option(None, "--output", "-o", help="写入文件（默认打印）")) -> None:
    """生成签名的链头检查点（JSON）。"""
    from yimatong.ledger import checkpoints, keys

    if output:
        output_file(output, (".json",))
    with service() as ymt, ymt.db.write(exclusive=False) as session:
        text = checkpoints.dumps(checkpoints.create(session, ymt.settings.data_dir,
                                                    keys.signature_alg(ymt.settings, ymt.profile)))
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"检查点已写入 {output}")
    else:
        typer.echo(text)


@ledger_app.command("check-checkpoint")
def check_checkpoint(file: Path = typer.Argument(..., help="检查点 JSON 文件"),
                     key: Path = typer.Option(None, "--key", help="受信任的公钥（PEM，或 GET /ledger/keys 的 JSON）；"
                                                                  "缺省用数据库登记的密钥，从不信任检查点文件自带的公钥")) -> None:
    """核对检查点：由受信任的密钥签名，且台账在该位置仍是同一哈希时退出码 0。"""
    from yimatong.ledger import checkpoints

    data = _json_file(file, "检查点")
    pinned = _pinned(key)
    with service() as ymt, ymt.db.read() as session:
        ok, message = checkpoints.check(session, data, pinned)
    if not ok:
        raise fail(message, 1)
    typer.echo(message)


@witness_app.command("add")
def witness_add(name: str = typer.Option(..., "--name", help="见证方名称，如 一体化审批系统"),
                key: Path = typer.Option(..., "--key", help="见证方公钥（PEM，Ed25519 或 SM2）")) -> None:
    """登记（或更新）见证方及其公钥。"""
    from yimatong.ledger import treeheads

    pem = input_file(key).decode("utf-8", "replace")
    with service() as ymt, ymt.db.write(exclusive=False) as session:
        row = treeheads.add_witness(session, name, pem)
        alg = row.alg
    typer.echo(f"已登记见证方 {name}（{alg}）")


@witness_app.command("list")
def witness_list() -> None:
    """列出见证方。"""
    from yimatong.ledger import treeheads

    with service() as ymt, ymt.db.read() as session:
        for w in treeheads.witnesses(session):
            typer.echo(f"{w['name']}\t{w['alg']}\t{w['key_id']}")


@audit_app.command("verify")
def audit_verify() -> None:
    """重算访问审计记录的哈希链；完好时退出码 0。"""
    from yimatong.ledger import audit

    with service() as ymt, ymt.db.read() as session:
        length, bad_seq, reason = audit.verify(session)
    if reason:
        raise fail(f"审计记录校验失败：seq={bad_seq}：{reason}", 1)
    typer.echo(f"审计记录完好：{length} 条")


@audit_app.command("list")
def audit_list(actor: str = typer.Option(None, "--actor"), action: str = typer.Option(None, "--action"),
               after: int = typer.Option(0, "--after", min=0), limit: int = typer.Option(50, "--limit", min=1, max=1000)
               ) -> None:
    """列出访问审计记录（seq 升序）。"""
    from yimatong.ledger import audit

    with service() as ymt, ymt.db.read() as session:
        page = audit.page(session, after, limit, None, audit.Filter(actor=actor, action=action))
    for r in page["items"]:
        typer.echo(f"{r['seq']}\t{r['at']}\t{r['actor']}\t{r['action']}\t{r['object']}\t{r['interface']}\t{r['address'] or ''}")
