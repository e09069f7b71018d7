"""`ymt user create`: web accounts for bureau staff."""

from __future__ import annotations

import typer

from yimatong.cli.common import service


def register(app: typer.Typer) -> None:
    user_app = typer.Typer(help="网页登录账号", no_args_is_help=True)
    user_app.command("create")(create)
    app.add_typer(user_app, name="user")


def create(username: str = typer.Option(..., "--username"), password: str = typer.Option(..., "--password"),
           role: str = typer.Option("viewer", "--role"), display_name: str = typer.Option(None, "--display-name"),
           section: list[str] = typer.Option([], "--section", help="代表的科室（联合审查签署意见），可多次给出")
           ) -> None:
    """创建网页登录账号（密码以 argon2 哈希保存）。"""
    from yimatong.accounts import users

    with service(migrate=True) as ymt, ymt.db.write() as session:
        users.create(session, username, password, role, display_name, section,
                     [s.value for s in ymt.profile.sections])
    typer.echo(f"已创建账号 {username}（{role}）")
