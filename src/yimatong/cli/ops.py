"""Operations commands: `ymt check`, `ymt gc`, `ymt backup`, `ymt restore`, `ymt upgrade` (docs/DEPLOY.md).

Exit codes: 0 done / sound; 1 a check failed or the backup/restore was refused; 2 the command could not start
(configuration, missing database)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from yimatong.cli.common import fail, service, settings


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("gc")(gc)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.command("upgrade")(upgrade)


def check() -> None:
    """检查安装是否正常：配置、数据库（可连接、已初始化、版本最新）、文件存储可写、时钟；并报告遗留文件。"""
    from yimatong.cli.common import refuse_missing_database
    from yimatong.core.context import App
    from yimatong.domain.profile import ProfileError
    from yimatong.ops import check as checks
    from yimatong.profiles.loader import load_profile

    try:
        s = settings()
        profile = load_profile(s.profile)
    except (ProfileError, ValueError) as exc:
        raise fail(f"✗ 配置：{exc}", 1) from None
    try:
        refuse_missing_database(s)
    except typer.Exit:
        raise typer.Exit(1) from None
    try:
        ymt = App(s, profile)
    except ValueError as exc:
        raise fail(f"✗ 配置：数据库地址无效：{exc}", 1) from None
    try:
        findings = checks.run(ymt)
    finally:
        ymt.close()
    for f in findings:
        mark = "✓" if f.ok else ("✗" if f.fatal else "!")
        typer.echo(f"{mark} {f.name}：{f.message}", err=not f.ok)
    if any(not f.ok and f.fatal for f in findings):
        raise typer.Exit(1)
    typer.echo("检查通过")


def gc(grace: float = typer.Option(None, "--grace", min=0, help="只清理早于这么多秒的遗留文件（默认 YMT_GC_GRACE_SECONDS）"),
       dry_run: bool = typer.Option(False, "--dry-run", help="只列出，不删除")) -> None:
    """清理遗留文件：中断上传的临时文件、无引用的文件、导出临时目录。"""
    from yimatong.ops import gc as collector

    with service() as ymt:
        found = collector.scan(ymt, grace) if dry_run else collector.collect(ymt, grace)
    typer.echo(("发现" if dry_run else "已清理") + found.summary())


def backup(directory: Path = typer.Argument(..., help="备份目录（不存在或为空）")) -> None:
    """在服务运行时写出一致的备份：数据库、文件存储、数据目录中的密钥，以及带 sha256 的 manifest.json。"""
    from yimatong.ops.backup import BackupError
    from yimatong.ops.backup import backup as make_backup

    with service(any_version=True) as ymt:  # the backup before an upgrade is taken of the older version
        try:
            manifest = make_backup(ymt, directory)
        except BackupError as exc:
            raise fail(str(exc), 1) from None
    typer.echo(f"备份完成：{directory}（数据库 {manifest['dialect']} 版本 {manifest['revision']}，"
               f"文件 {len(manifest['files'])} 个，密钥与机密 {len(manifest['data'])} 个）")


def restore(directory: Path = typer.Argument(..., help="ymt backup 写出的备份目录")) -> None:
    """把备份恢复到空的数据目录、空的数据库和空的文件存储（先逐项核对 sha256）。"""
    from yimatong.ops.backup import BackupError
    from yimatong.ops.backup import restore as do_restore

    if not directory.is_dir():
        raise fail(f"备份目录不存在：{directory}", 1)
    with service(create=True) as ymt:
        try:
            manifest = do_restore(ymt, directory)
        except BackupError as exc:
            raise fail(str(exc), 1) from None
    typer.echo(f"恢复完成：数据库版本 {manifest['revision']}，文件 {len(manifest['files'])} 个。"
               "请运行 ymt ledger verify 核验，旧版本的备份再运行 ymt upgrade")


def upgrade(backup_dir: Path = typer.Option(None, "--backup-dir",
                                            help="升级前备份写到这里（默认：数据目录旁的 <数据目录>-backups/升级前-时间）")) -> None:
    """升级：先备份，再把数据库迁移到当前版本。"""
    from yimatong.ops.backup import BackupError
    from yimatong.ops.backup import backup as make_backup
    from yimatong.storage.migrate import current_revision, head_revision
    from yimatong.storage.migrate import upgrade as migrate

    with service(any_version=True) as ymt:
        current, head = current_revision(ymt.db.engine), head_revision(ymt.db.engine)
        if current == head:
            typer.echo(f"数据库已是最新版本 {head}，无需升级")
            return
        data_dir = Path(ymt.settings.data_dir).resolve()
        target = backup_dir or data_dir.parent / f"{data_dir.name}-backups" / \
            f"pre-upgrade-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
        try:
            make_backup(ymt, target)
        except BackupError as exc:
            raise fail(f"升级前备份失败，未升级：{exc}", 1) from None
        typer.echo(f"已备份到 {target}", err=True)
        migrate(ymt.db.engine)
    typer.echo(f"已从版本 {current} 升级到 {head}")
