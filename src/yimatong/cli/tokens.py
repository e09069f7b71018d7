"""`ymt token …`: API tokens of client systems — create (with expiry and scope), list, revoke, rotate."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import typer

from yimatong.accounts import tokens
from yimatong.accounts.tokens import TokenLimits
from yimatong.cli.common import fail, service
from yimatong.cli.users import cli_actor_name
from yimatong.domain.localtime import format_local

STATES = {"active": "有效", "expired": "已过期", "revoked": "已吊销"}


def register(app: typer.Typer) -> None:
    token_app = typer.Typer(help="API 令牌（每个接入系统一个）", no_args_is_help=True)
    token_app.command("create")(create)
    token_app.command("list")(list_tokens)
    token_app.command("revoke")(revoke)
    token_app.command("rotate")(rotate)
    app.add_typer(token_app, name="token")


def parse_time(text: str, option: str) -> datetime:
    """ISO 8601 (`2027-06-30`, `2027-06-30T18:00`, `…+08:00`, `…Z`); without a zone: Beijing time."""
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{option} 应为 ISO 8601 时间，如 2027-06-30 或 2027-06-30T18:00+08:00，收到 {text!r}") from None


def create(name: str = typer.Option(..., "--name", help="接入系统或使用者名称"),
           role: str = typer.Option(..., "--role", help="角色"),
           expires_in: float = typer.Option(None, "--expires-in", help="有效天数（默认见 YMT_TOKEN_DEFAULT_DAYS）"),
           expires_at: str = typer.Option(None, "--expires-at", help="到期时间（ISO 8601；过去的时间得到已过期的令牌）"),
           division: list[str] = typer.Option([], "--division", help="限定的行政区划代码（可重复；不给：全市）"),
           section: list[str] = typer.Option([], "--section", help="所代表的科室（联合审批，可重复）")) -> None:
    """创建令牌；令牌单独打印在最后一行（只显示一次，库中只存哈希）。"""
    if expires_in is not None and expires_at is not None:
        raise fail("--expires-in 与 --expires-at 只能给一个")
    at = parse_time(expires_at, "--expires-at") if expires_at is not None else None
    with service() as ymt, ymt.db.write() as session:
        limits = TokenLimits.of_app(ymt)
        if expires_in is not None:
            at = tokens.expiry_in_days(expires_in, limits, "expires-in")
        token = tokens.create(session, name, role, owner=cli_actor_name(), expires_at=at, divisions=division,
                              sections=section, limits=limits)
        row = tokens.get(session, name)
        assert row is not None  # just made
        expiry = tokens.describe(row)["expires_at"]
    typer.echo(f"已为 {name}（{role}）创建令牌，有效期至 {format_local(expiry, ymt.profile.tz)}：", err=True)
    typer.echo(token)


def list_tokens(as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
                active_only: bool = typer.Option(False, "--active", help="只列出未吊销的")) -> None:
    """列出令牌：名称、角色、范围、创建、到期、最近使用（从不显示令牌本身）。"""
    with service() as ymt, ymt.db.read() as session:
        rows = tokens.listing(session, include_revoked=not active_only)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    typer.echo("名称\t角色\t区县\t科室\t状态\t创建\t到期\t最近使用\t创建者")
    for t in rows:
        used = f"{format_local(t['last_used_at'], ymt.profile.tz)} {t['last_used_address'] or ''}".strip() if t["last_used_at"] else "从未"
        typer.echo("\t".join([t["name"], t["role"], "、".join(t["divisions"]) or "全市", "、".join(t["sections"]) or "—",
                              STATES[t["state"]], format_local(t["created_at"], ymt.profile.tz), format_local(t["expires_at"], ymt.profile.tz), used,
                              t["owner"] or "（升级前创建）"]))


def revoke(name: str = typer.Argument(None, help="令牌名称"),
           name_option: str = typer.Option(None, "--name", help="令牌名称（旧写法）", hidden=True)) -> None:
    """吊销令牌（立即失效）。"""
    name = name or name_option
    if not name:
        raise fail("请给出令牌名称：ymt token revoke NAME")
    with service() as ymt, ymt.db.write() as session:
        if not tokens.revoke(session, name):
            raise fail(f"令牌 {name} 不存在或已吊销", 1)
    typer.echo(f"已吊销 {name}")


def rotate(name: str = typer.Argument(..., help="令牌名称"),
           overlap_minutes: float = typer.Option(0, "--overlap-minutes", min=0,
                                                 help="旧令牌继续有效的分钟数（默认 0：立即失效）")) -> None:
    """轮换令牌：新令牌（名称、角色、范围、到期不变）单独打印在最后一行；旧令牌立即或在重叠期后失效。"""
    with service() as ymt, ymt.db.write() as session:
        token = tokens.rotate(session, name, timedelta(minutes=overlap_minutes))
    note = f"旧令牌在 {overlap_minutes:g} 分钟后失效" if overlap_minutes else "旧令牌已失效"
    typer.echo(f"已轮换 {name}；{note}。新令牌：", err=True)
    typer.echo(token)
