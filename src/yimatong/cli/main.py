"""The `ymt` command."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from yimatong.cli.common import STATE, fail, service, settings

app = typer.Typer(help="一码通 yimatong：项目库与一码通枢纽", no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def main(
    db: str = typer.Option(None, "--db", envvar="YMT_DATABASE_URL", help="数据库 URL：sqlite:///… 或 postgresql://…"),
    data_dir: Path = typer.Option(None, "--data-dir", envvar="YMT_DATA_DIR", help="数据目录（默认 ./ymt-data）"),
    profile: str = typer.Option(None, "--profile", envvar="YMT_PROFILE", help="城市配置（默认 changde）"),
) -> None:
    STATE.update(db=db, data_dir=data_dir, profile=profile)


@app.command()
def init() -> None:
    """创建或升级数据库并校验城市配置（可重复执行）。"""
    with service(migrate=True, create=True) as ymt:
        from yimatong.ledger import keys
        from yimatong.storage import ledger_meta
        from yimatong.storage.files import private_dir
        from yimatong.storage.migrate import current_revision

        # 0700: database, file store, keys and secrets live there (an older installation left them 0755)
        private_dir(ymt.settings.data_dir)
        if (ymt.settings.data_dir / "files").is_dir():
            private_dir(ymt.settings.data_dir / "files")
        with ymt.db.write(exclusive=True) as session:  # the ledger's hash is chosen once, here (YMT_LEDGER_HASH or the profile)
            try:
                alg, note = ledger_meta.choose_hash(session, keys.hash_choice(ymt.settings, ymt.profile))
            except ValueError:
                raise fail("YMT_LEDGER_HASH 应为 sha256 或 sm3") from None
        if note:
            typer.echo(note, err=True)
        typer.echo(f"数据库已就绪：{ymt.db.dialect}，版本 {current_revision(ymt.db.engine)}；"
                   f"配置 {ymt.profile.id}（{ymt.profile.title}）；台账哈希 {alg}")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="监听地址"),
          port: int = typer.Option(8000, min=1, max=65535, help="端口"),
          workers: int = typer.Option(1, min=1, max=64, help="进程数")) -> None:
    """运行服务（REST API、OGC API、网页）。"""
    import uvicorn

    from yimatong.ops import logs

    with service() as ymt:  # structured logs on stderr (YMT_LOG_FORMAT, YMT_LOG_LEVEL)
        try:
            logs.configure(ymt.settings.log_format, ymt.settings.log_level)
        except ValueError as exc:
            raise fail(str(exc)) from None
    from yimatong.api.app import create_app

    if workers > 1:
        import os

        # Worker processes build their own app from YMT_* variables: hand the options over.
        for key, env in (("db", "YMT_DATABASE_URL"), ("data_dir", "YMT_DATA_DIR"), ("profile", "YMT_PROFILE")):
            if STATE.get(key):
                os.environ[env] = str(STATE[key])
        uvicorn.run("yimatong.api.asgi:app", host=host, port=port, workers=workers, log_level="info",
                    proxy_headers=False, log_config=logs.uvicorn_log_config(), access_log=False)
    else:  # the app applies X-Forwarded-* itself, from YMT_TRUSTED_PROXIES only (web/auth.py)
        uvicorn.run(create_app(settings()), host=host, port=port, log_level="info", proxy_headers=False,
                    log_config=logs.uvicorn_log_config(), access_log=False)


# Command groups of other areas, registered when present.
for _name in ("yimatong.cli.data", "yimatong.cli.worker", "yimatong.cli.demo", "yimatong.cli.users",
              "yimatong.cli.ledger", "yimatong.cli.tokens", "yimatong.cli.ops"):
    try:
        importlib.import_module(_name).register(app)
    except ModuleNotFoundError as _exc:
        if not (_exc.name and _name.startswith(_exc.name)):
            raise


GLOBAL_OPTIONS = ("--db", "--data-dir", "--profile")


def hoist_global_options(argv: list[str]) -> list[str]:
    """`ymt init --db URL` and `ymt --db URL init` both work: global options move before the command."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in GLOBAL_OPTIONS and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 2
            continue
        if any(arg.startswith(opt + "=") for opt in GLOBAL_OPTIONS):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def run() -> None:
    import sys

    app(args=hoist_global_options(sys.argv[1:]), prog_name="ymt")
