"""`ymt worker`: webhook delivery in a separate process (several may run against PostgreSQL)."""

from __future__ import annotations

import signal
import threading

import typer

from yimatong.cli.common import service


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(name: str = typer.Option(None, "--name", help="工作进程名（记录在投递上）")) -> None:
    """运行 webhook 投递进程，直到收到 SIGTERM/SIGINT。"""
    from yimatong.delivery import worker as delivery

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with service(migrate=True) as ymt:
        typer.echo("投递进程已启动", err=True)
        delivery.loop(ymt, stop, name)
    typer.echo("投递进程已停止", err=True)
