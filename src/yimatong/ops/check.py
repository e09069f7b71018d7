"""`ymt check`: is this installation sound? Configuration, database (reachable, initialised, migrations at head),
file store (writable: a probe object written, read back and removed), clock (against the database's), and
leftover files (reported, not a failure: `ymt gc` or the service's own schedule collects them)."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from yimatong.core.context import App
from yimatong.ops import gc
from yimatong.storage.blob_backends import parse_url
from yimatong.storage.blobs import sealing_from
from yimatong.storage.migrate import current_revision, head_revision

LOG_FORMATS = ("json", "text")


@dataclass
class Finding:
    name: str
    ok: bool
    message: str
    fatal: bool = True  # a failed non-fatal finding is a warning (exit 0)


def run(app: App) -> list[Finding]:
    findings = [_configuration(app)]
    database = _database(app)
    findings += database
    if all(f.ok for f in database):
        findings.append(_clock(app))
    findings.append(_store(app))
    if all(f.ok for f in findings):
        findings.append(_leftovers(app))
    return findings


def _guard(name: str, probe: Callable[[], Finding]) -> Finding:
    try:
        return probe()
    except Exception as exc:  # noqa: BLE001 - any fault is the finding: said, never a traceback
        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return Finding(name, False, text)


def _configuration(app: App) -> Finding:
    def probe() -> Finding:
        s = app.settings
        if s.blob_url:
            parse_url(s.blob_url)
        sealing_from(s)
        if s.log_format not in LOG_FORMATS:
            raise ValueError(f"YMT_LOG_FORMAT 应为 {' 或 '.join(LOG_FORMATS)}，收到 {s.log_format!r}")
        if s.blob_url and s.blob_url.startswith("s3://") and not (s.s3_access_key and s.s3_secret_key):
            raise ValueError("YMT_BLOB_URL 为 s3:// 时需要 YMT_S3_ACCESS_KEY 与 YMT_S3_SECRET_KEY")
        return Finding("配置", True, f"城市配置 {app.profile.id}（{app.profile.title}），设置有效")
    return _guard("配置", probe)


def _database(app: App) -> list[Finding]:
    def reach() -> Finding:
        app.db.ping()
        return Finding("数据库", True, f"{app.db.dialect} 可连接")
    reached = _guard("数据库", reach)
    if not reached.ok:
        reached.message = f"无法连接数据库：{reached.message}"
        return [reached]

    def schema() -> Finding:
        current, head = current_revision(app.db.engine), head_revision(app.db.engine)
        if current is None:
            return Finding("数据库版本", False, "数据库尚未初始化：请运行 ymt init")
        if current != head:
            return Finding("数据库版本", False, f"数据库版本 {current}，程序需要 {head}：请运行 ymt upgrade")
        return Finding("数据库版本", True, f"已是最新版本 {head}")
    return [reached, _guard("数据库版本", schema)]


def _clock(app: App) -> Finding:
    def probe() -> Finding:
        with app.db.read() as session:
            value = session.execute(select(func.now())).scalar_one()
        theirs = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        theirs = theirs if theirs.tzinfo else theirs.replace(tzinfo=UTC)  # SQLite: CURRENT_TIMESTAMP is UTC
        skew = abs((datetime.now(UTC) - theirs).total_seconds())
        limit = app.settings.clock_skew_seconds + (1.0 if app.db.dialect == "sqlite" else 0.0)  # whole seconds
        if skew > limit:
            return Finding("时钟", False, f"本机时钟与数据库相差 {skew:.1f} 秒（上限 {app.settings.clock_skew_seconds} 秒）："
                                          "请校准时间同步（chrony/NTP）")
        return Finding("时钟", True, f"与数据库相差 {skew:.1f} 秒")
    return _guard("时钟", probe)


def _store(app: App) -> Finding:
    def probe() -> Finding:
        backend = app.blobs.backend
        key = f".ymt-check-{secrets.token_hex(8)}"  # a dot-name: never listed as a stored file
        data = secrets.token_bytes(64)
        staged = app.blobs.stage(io.BytesIO(data), 1024)
        try:
            backend.store(staged.tmp, key)
            back = b"".join(backend.read(key))
        finally:
            app.blobs.discard(staged)
            backend.delete(key)
        if back != data:
            raise ValueError(f"{app.blobs.url} 读回的内容与写入的不同")
        return Finding("文件存储", True, f"{app.blobs.url} 可写可读")
    found = _guard("文件存储", probe)
    if not found.ok:
        found.message = f"文件存储不可用：{found.message}"
    return found


def _leftovers(app: App) -> Finding:
    def probe() -> Finding:
        left = gc.scan(app)
        if left.count:
            return Finding("遗留文件", False, f"{left.summary()}：运行 ymt gc 清理", fatal=False)
        return Finding("遗留文件", True, "没有超过保留期的遗留文件")
    found = _guard("遗留文件", probe)
    found.fatal = False
    return found
