"""Shared CLI plumbing: global options, the service container, and error reporting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.exc import SQLAlchemyError
from xlsxwriter.exceptions import FileCreateError

from yimatong.config import Settings, get_settings
from yimatong.core.context import App
from yimatong.domain.profile import ProfileError
from yimatong.errors import AppError
from yimatong.profiles.loader import load_profile
from yimatong.storage.db import is_busy

STATE: dict[str, Any] = {}


def settings() -> Settings:
    return get_settings(database_url=STATE.get("db"), data_dir=STATE.get("data_dir"), profile=STATE.get("profile"))


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def output_file(path: Path, suffixes: tuple[str, ...]) -> Path:
    """Where a command will write: refused before any work when the folder is missing, the path is a folder or
    the suffix says another format (an .xlsx written into a .csv name helps nobody)."""
    if path.suffix.lower() not in suffixes:
        raise fail(f"输出文件 {path} 的格式应为 {'、'.join(suffixes)}")
    if path.is_dir():
        raise fail(f"输出路径 {path} 是一个目录，请给出文件名")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise fail(f"输出目录 {parent} 不存在")
    if not os.access(parent, os.W_OK):
        raise fail(f"输出目录 {parent} 不可写")
    return path


def input_file(path: Path) -> bytes:
    if not path.exists():
        raise fail(f"文件不存在：{path}")
    if not path.is_file():
        raise fail(f"不是普通文件：{path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"无法读取文件 {path}：{exc.strerror}") from None


def refuse_missing_database(s: Settings) -> None:
    """Only `ymt init` (and `ymt demo`) create a database: a SQLite file that is not there is refused before
    anything would create it (SQLite makes an empty file on the first connection)."""
    url = s.resolved_database_url()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise fail(f"数据库不存在：{path}。请先运行 ymt init 创建数据库（或用 --db / YMT_DATABASE_URL 指向已有的数据库）")


def require_initialised(app: App, any_version: bool = False) -> None:
    """An initialised database at the program's version. Only `ymt init`, `ymt demo` and `ymt upgrade` migrate:
    a server or a command that migrated by itself would skip `ymt upgrade`'s backup, and on several hosts the first
    one started would change the schema under the others still running the old code."""
    from yimatong.storage.migrate import current_revision, head_revision

    current = current_revision(app.db.engine)
    if current is None:
        raise fail("数据库尚未初始化（没有本系统的表）：请先运行 ymt init")
    head = head_revision(app.db.engine)
    if not any_version and current != head:
        raise fail(f"数据库版本 {current} 与程序需要的版本 {head} 不一致：请先运行 ymt upgrade（先备份，再迁移）；"
                   "若数据库比程序新，请换用与之相符的程序版本")


@contextmanager
def service(migrate: bool = False, create: bool = False, any_version: bool = False) -> Iterator[App]:
    """The service container for one command; domain/service errors become clear messages, not tracebacks.
    `create`: only for `ymt init`, `ymt demo` and `ymt restore`; every other command refuses a missing or
    uninitialised database, and one not at the program's version unless `any_version` (backup, upgrade).
    `migrate`: bring the database to the current version first (`ymt init`, `ymt demo`)."""
    s = settings()
    try:
        profile = load_profile(s.profile)
    except ProfileError as exc:
        raise fail(f"配置文件错误：{exc}") from None
    if not create:
        refuse_missing_database(s)
    try:
        app = App(s, profile)
    except (SQLAlchemyError, ValueError) as exc:
        raise fail(f"数据库地址无效：{exc}") from None
    try:
        if not create:
            require_initialised(app, any_version)
        if migrate:
            from yimatong.storage.migrate import upgrade

            upgrade(app.db.engine)
        yield app
        from yimatong.ledger import sequencer

        sequencer.finish(app)  # events this command queued and could not sequence yet (PostgreSQL)
    except AppError as exc:
        fields = "".join(f"\n  {f}: {m}" for f, m in exc.errors)
        raise fail(f"{exc.title}：{exc.detail}{fields}") from None
    except SQLAlchemyError as exc:
        if is_busy(exc):
            raise fail("数据库正忙：另一项写入（例如导入）正在进行，请稍后重试") from None
        raise fail(f"数据库错误：{str(exc).splitlines()[0][:300]}") from None
    except (OSError, FileCreateError) as exc:  # a disk full or a path the checks above could not foresee
        raise fail(f"文件读写失败：{exc}") from None
    finally:
        app.close()
