"""Shared CLI plumbing: global options, the service container, and error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from yimatong.config import Settings, get_settings
from yimatong.domain.profile import ProfileError
from yimatong.errors import AppError
from yimatong.profiles.loader import load_profile
from yimatong.services.context import App

STATE: dict[str, Any] = {}


def settings() -> Settings:
    return get_settings(database_url=STATE.get("db"), data_dir=STATE.get("data_dir"), profile=STATE.get("profile"))


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def service(migrate: bool = False) -> Iterator[App]:
    """The service container for one command; domain/service errors become clear messages, not tracebacks."""
    s = settings()
    try:
        profile = load_profile(s.profile)
    except ProfileError as exc:
        raise fail(f"配置文件错误：{exc}") from None
    try:
        app = App(s, profile)
    except (SQLAlchemyError, ValueError) as exc:
        raise fail(f"数据库地址无效：{exc}") from None
    try:
        if migrate:
            from yimatong.storage.migrate import upgrade

            upgrade(app.db.engine)
        yield app
    except AppError as exc:
        fields = "".join(f"\n  {f}: {m}" for f, m in exc.errors)
        raise fail(f"{exc.title}：{exc.detail}{fields}") from None
    except SQLAlchemyError as exc:
        raise fail(f"数据库错误：{str(exc).splitlines()[0][:300]}") from None
    finally:
        app.close()
