"""The collector of leftover files (issue 10.8): what a refused request, a failed transaction or a killed process
left behind.

- `.upload-*` / `.seal-*` temp files in the store's spool (a process killed during an upload);
- files in the store that no `blobs` row references (a transaction that failed after its files were put);
- `ymt-export-*` directories of web exports in the system temp dir (a process killed during an export).

Only what is older than YMT_GC_GRACE_SECONDS is taken: a spool or a store shared by several processes or hosts
holds the temp files of uploads still running elsewhere, and a file committed a moment ago is referenced only
when its transaction commits (`BlobStore.commit` refreshes a file it reuses, so its age restarts). Runs at the
start of `ymt serve`, every YMT_GC_INTERVAL_SECONDS inside it, and as `ymt gc`; `ymt check` reports the count.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from yimatong.core.context import App
from yimatong.storage.models import Blob

TEMP_PREFIXES = (".upload-", ".seal-")
EXPORT_PREFIX = "ymt-export-"
log = logging.getLogger("yimatong.gc")


@dataclass
class Leftovers:
    temp_files: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)  # store keys
    export_dirs: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.temp_files) + len(self.unreferenced) + len(self.export_dirs)

    def summary(self) -> str:
        return (f"临时上传文件 {len(self.temp_files)} 个，无引用的文件 {len(self.unreferenced)} 个，"
                f"导出临时目录 {len(self.export_dirs)} 个")


def export_root() -> Path:
    """Where web exports are built (then streamed from an unlinked file, see web/pages.py)."""
    return Path(tempfile.gettempdir())


def _older(path: Path, grace: float, now: float) -> bool:
    try:
        return now - path.stat().st_mtime >= grace
    except OSError:
        return False


def scan(app: App, grace: float | None = None) -> Leftovers:
    grace = app.settings.gc_grace_seconds if grace is None else grace
    now, out = time.time(), Leftovers()
    spool = Path(app.blobs.backend.spool())
    for path in spool.iterdir():
        if path.is_file() and path.name.startswith(TEMP_PREFIXES) and _older(path, grace, now):
            out.temp_files.append(str(path))
    for path in export_root().glob(EXPORT_PREFIX + "*"):
        if path.is_dir() and _older(path, grace, now):
            out.export_dirs.append(str(path))
    out.unreferenced = _unreferenced(app, grace)
    return out


def _unreferenced(app: App, grace: float) -> list[str]:
    """Store keys (`ab/cd/<address>[.sealed]`) whose address no `blobs` row names, older than the grace."""
    backend = app.blobs.backend
    keys = list(backend.keys())
    if not keys:
        return []
    with app.db.read() as session:
        known = set(session.execute(select(Blob.sha256)).scalars())
    out = []
    for key in keys:
        address = key.rsplit("/", 1)[-1].removesuffix(".sealed")
        if address in known:
            continue
        age = backend.age(key)
        if age is not None and age >= grace:
            out.append(key)
    return out


def collect(app: App, grace: float | None = None) -> Leftovers:
    """Remove what `scan` finds; returns what was removed."""
    found = scan(app, grace)
    for name in found.temp_files:
        Path(name).unlink(missing_ok=True)
    for key in found.unreferenced:
        app.blobs.backend.delete(key)
    for name in found.export_dirs:
        shutil.rmtree(name, ignore_errors=True)
    if found.count:
        log.info("gc removed leftovers", extra={"fields": {
            "temp_files": len(found.temp_files), "unreferenced": len(found.unreferenced),
            "export_dirs": len(found.export_dirs)}})
    return found


def safe_collect(app: App) -> None:
    """`collect` for the service's start and schedule: a fault is logged, never stops the service."""
    try:
        collect(app)
    except Exception:  # noqa: BLE001 - an unreachable store or database must not stop serving
        log.exception("gc failed")


def remove_dir(path: str | os.PathLike[str]) -> None:
    shutil.rmtree(path, ignore_errors=True)


def start_in_process(app: App) -> Callable[[], Awaitable[None]]:
    """Collect at start and every YMT_GC_INTERVAL_SECONDS in a thread of `ymt serve`; returns the async stop."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            safe_collect(app)
            interval = app.settings.gc_interval_seconds
            if interval <= 0 or stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name="ymt-gc", daemon=True)
    thread.start()

    async def shutdown() -> None:
        stop.set()
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 15)

    return shutdown
