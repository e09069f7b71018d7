"""`ymt user …`: web accounts for bureau staff. Passwords are read from a prompt (hidden) or, for scripts,
one line of standard input with `--password-stdin` — never from the command line, where `ps` and the shell
history would show them."""

from __future__ import annotations

import getpass
import json
import os
import sys

import typer

from yimatong.accounts import logins, users
from yimatong.accounts.passwords import PasswordPolicy
from yimatong.cli.common import fail, service
from yimatong.domain.localtime import format_local

STDIN_HELP = "从标准输入读取密码（一行），供脚本使用；否则在终端提示输入"


def register(app: typer.Typer) -> None:
    user_app = typer.Typer(help="网页登录账号", no_args_is_help=True)
    for name, fn in (("create", create), ("list", list_users), ("update", update), ("disable", disable),
                     ("enable", enable), ("reset-password", reset_password), ("unlock", unlock),
                     ("logout", logout), ("reset-totp", reset_totp), ("events", events)):
        user_app.command(name)(fn)
    app.add_typer(user_app, name="user")


def cli_actor_name() -> str:
    """Who runs the command, for the record (the OS account; `cli` when it has no name)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail("标准输入中没有密码（--password-stdin 读取一行）")
        return password
    if not sys.stdin.isatty():
        raise fail("无法提示输入密码：请在终端中运行，或用 --password-stdin 从标准输入提供密码")
    first = getpass.getpass("密码：")
    if getpass.getpass("再次输入密码：") != first:
        raise fail("两次输入的密码不一致")
    return first


def create(username: str = typer.Option(..., "--username", help="登录名：字母、数字、下划线或点"),
           role: str = typer.Option("viewer", "--role", help="角色"),
           display_name: str = typer.Option(None, "--display-name", help="显示名称（如姓名）"),
           division: list[str] = typer.Option([], "--division", help="限定的行政区划代码（可重复；不给：全市）"),
           section: list[str] = typer.Option([], "--section", help="所代表的科室（联合审批，可重复）"),
           password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP)) -> None:
    """创建网页登录账号（密码以 argon2 哈希保存；首次登录须修改密码）。"""
    password = read_password(password_stdin)
    with service() as ymt, ymt.db.write() as session:
        users.create(session, username, password, role, display_name, policy=PasswordPolicy.of(ymt.settings),
                     profile=ymt.profile, divisions=division, sections=section, created_by=cli_actor_name())
    typer.echo(f"已创建账号 {username}（{role}）；首次登录时须修改密码")


def list_users(as_json: bool = typer.Option(False, "--json", help="输出 JSON")) -> None:
    """列出账号（角色、范围、状态；不含密码）。"""
    with service() as ymt, ymt.db.read() as session:
        rows = users.listing(session, ymt)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    typer.echo("用户名\t姓名\t角色\t区县\t科室\t状态\t两步验证\t创建时间")
    for u in rows:
        state = "已停用" if u["disabled"] else "已锁定" if u["lock"]["locked"] else \
            "须改密码" if u["must_change_password"] else "正常"
        typer.echo("\t".join([u["username"], u["display_name"], u["role"], "、".join(u["divisions"]) or "全市",
                              "、".join(u["sections"]) or "—", state, "是" if u["totp"] else "否",
                              format_local(u["created_at"], ymt.profile.tz)]))


def update(username: str = typer.Argument(..., help="用户名"),
           role: str = typer.Option(None, "--role", help="新角色"),
           display_name: str = typer.Option(None, "--display-name", help="新显示名称"),
           division: list[str] = typer.Option(None, "--division", help="限定的行政区划代码（可重复，替换原有）"),
           all_divisions: bool = typer.Option(False, "--all-divisions", help="取消区县限定（全市）"),
           section: list[str] = typer.Option(None, "--section", help="所代表的科室（可重复，替换原有）"),
           no_sections: bool = typer.Option(False, "--no-sections", help="取消所代表的科室")) -> None:
    """修改账号的角色、名称、区县范围或科室（对已登录的会话立即生效）。"""
    divisions = [] if all_divisions else (division or None)
    sections = [] if no_sections else (section or None)
    with service() as ymt, ymt.db.write() as session:
        users.update(session, cli_actor_name(), username, profile=ymt.profile, role=role, display_name=display_name,
                     divisions=divisions, sections=sections)
    typer.echo(f"已更新账号 {username}")


def disable(username: str = typer.Argument(..., help="用户名")) -> None:
    """停用账号（其所有会话立即结束）。"""
    with service() as ymt, ymt.db.write() as session:
        users.disable(session, cli_actor_name(), username)
    typer.echo(f"已停用 {username}，其所有登录已结束")


def enable(username: str = typer.Argument(..., help="用户名")) -> None:
    """重新启用账号。"""
    with service() as ymt, ymt.db.write() as session:
        users.enable(session, cli_actor_name(), username)
    typer.echo(f"已启用 {username}")


def reset_password(username: str = typer.Argument(..., help="用户名"),
                   password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP)) -> None:
    """重置密码（用户下次登录时须修改；其所有会话立即结束，锁定解除）。"""
    password = read_password(password_stdin)
    with service() as ymt:
        users.reset_password(ymt, cli_actor_name(), username, password)
    typer.echo(f"已重置 {username} 的密码；下次登录时须修改")


def unlock(username: str = typer.Argument(..., help="用户名")) -> None:
    """解除因连续登录失败造成的锁定。"""
    with service() as ymt, ymt.db.write() as session:
        was = users.unlock(session, cli_actor_name(), username)
    typer.echo(f"已解锁 {username}" if was else f"{username} 未被锁定，已清零失败计数")


def logout(username: str = typer.Argument(..., help="用户名")) -> None:
    """让该账号在所有设备上退出登录。"""
    with service() as ymt, ymt.db.write() as session:
        n = users.logout_everywhere(session, cli_actor_name(), username)
    typer.echo(f"已结束 {username} 的 {n} 个登录会话")


def reset_totp(username: str = typer.Argument(..., help="用户名")) -> None:
    """重置两步验证（丢失手机时）：下次登录时重新启用。"""
    with service() as ymt, ymt.db.write() as session:
        users.reset_totp(session, cli_actor_name(), username)
    typer.echo(f"已重置 {username} 的两步验证")


def events(username: str = typer.Argument(None, help="用户名（不给：全部）"),
           limit: int = typer.Option(50, "--limit", min=1, max=1000, help="条数"),
           as_json: bool = typer.Option(False, "--json", help="输出 JSON")) -> None:
    """登录日志：每次登录尝试、锁定、解锁与账号变更（最新的在前）。"""
    with service() as ymt, ymt.db.read() as session:
        rows = logins.events(session, username, limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for e in rows:
        typer.echo("\t".join([format_local(e["at"], ymt.profile.tz), e["kind"], e["username"], e["address"] or "", e["actor"] or ""]))
