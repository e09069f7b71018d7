"""`ymt worker`: webhook delivery in a separate process (any number may run against one database), and
`ymt webhook list|pause|resume|purge` to look after subscriptions from the command line."""

from __future__ import annotations

import signal
import threading

import typer
from sqlalchemy import select

from yimatong.cli.common import fail, service
from yimatong.core.context import App
from yimatong.storage.models import Subscription

webhook_app = typer.Typer(help="Webhook 订阅与投递队列", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(webhook_app, name="webhook")


def worker(name: str = typer.Option(None, "--name", help="工作进程名（记录在投递上）")) -> None:
    """运行 webhook 投递进程，直到收到 SIGTERM/SIGINT。"""
    from yimatong.delivery import worker as delivery
    from yimatong.ledger import sequencer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from yimatong.ops import logs

    with service() as ymt:
        logs.configure(ymt.settings.log_format, ymt.settings.log_level)  # the same structured lines as serve
        typer.echo("投递进程已启动", err=True)
        leader = sequencer.start(ymt)  # the ledger sequencer too: any process can lead (PostgreSQL)
        delivery.loop(ymt, stop, name)
        if leader is not None:
            leader()
    typer.echo("投递进程已停止", err=True)


STATES = {"active": "投递中", "paused": "已暂停", "parked": "已挂起", "deleted": "已删除"}


@webhook_app.command("list")
def webhook_list() -> None:
    """列出全部订阅：编号、状态、角色与范围、未送达条数、地址。"""
    from yimatong.api.routes.subscriptions import sub_dict

    with service() as ymt, ymt.db.read() as session:
        subs = [sub_dict(session, s) for s in session.execute(select(Subscription).order_by(Subscription.id))
                .scalars()]
    if not subs:
        typer.echo("没有订阅")
        return
    typer.echo("编号\t状态\t角色\t行政区\t未送达\t事件类型\t创建者\t地址")
    for s in subs:
        typer.echo("\t".join([str(s["id"]), STATES[s["state"]], s["role"], ",".join(s["divisions"]) or "全市",
                              str(s["pending"]), ",".join(s["types"]) or "全部", s["created_by"], s["url"]]))


def _existing(ymt: App, sid: int) -> Subscription:

    with ymt.db.read() as session:
        sub = session.get(Subscription, sid)
    if sub is None:
        raise fail(f"订阅 {sid} 不存在", 1)
    return sub


@webhook_app.command("purge")
def webhook_purge(sid: int = typer.Argument(..., min=1, help="订阅编号")) -> None:
    """丢弃订阅全部未送达的投递（分批提交，不长时间占用写锁）并解除挂起。"""
    from yimatong.delivery import queue

    with service() as ymt:
        _existing(ymt, sid)
        n = queue.purge(ymt, sid, ymt.settings.webhook_purge_batch)
    typer.echo(f"订阅 {sid}：已清除 {n} 条未送达的投递")


def _set_paused(sid: int, paused: bool) -> None:
    with service() as ymt:
        if not _existing(ymt, sid).active:
            raise fail(f"订阅 {sid} 已删除", 1)
        with ymt.db.write(exclusive=False) as session:
            session.get(Subscription, sid).paused = paused  # type: ignore[union-attr]
    typer.echo(f"订阅 {sid} {'已暂停' if paused else '已恢复'}")


@webhook_app.command("pause")
def webhook_pause(sid: int = typer.Argument(..., min=1, help="订阅编号")) -> None:
    """暂停订阅的投递（事件照常排队）。"""
    _set_paused(sid, True)


@webhook_app.command("resume")
def webhook_resume(sid: int = typer.Argument(..., min=1, help="订阅编号")) -> None:
    """恢复暂停的订阅。"""
    _set_paused(sid, False)
