"""`ymt backup DIR` and `ymt restore DIR` (docs/API.md "Operations", docs/DEPLOY.md).

A backup is a directory:

    manifest.json        what is there, with the sha256 of every part (checked before a restore writes anything)
    database.sqlite3     SQLite: the online backup API (`sqlite3.Connection.backup`), consistent while writers run
    database.dump        PostgreSQL: `pg_dump --format=custom` (one snapshot transaction)
    files/ab/cd/<addr>   every file the database references, as stored (a sealed file stays sealed)
    data/…               the data dir's keys and secrets (ledger signing keys, the session secret)

Consistency: the database is copied first. Files are content-addressed and only unreferenced ones are ever
removed (ops.gc), so every file the snapshot references is still in the store afterwards; the files copied are
those referenced when the copy of the database has finished (a superset: later uploads are harmless extras).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from yimatong.core.context import App
from yimatong.storage.migrate import current_revision
from yimatong.storage.models import Blob

FORMAT = 1
MANIFEST = "manifest.json"
# what of the data dir is not a key or secret: the database, the file store and its spool, temp files
DATA_SKIP = ("ymt.sqlite3", "files", "spool")
# tables a fresh PostGIS database holds before `ymt init` (the extension's own)
POSTGIS_TABLES = {"spatial_ref_sys", "geography_columns", "geometry_columns", "raster_columns",
                  "raster_overviews", "topology", "layer"}


class BackupError(Exception):
    """A backup or restore that cannot be made (message in Chinese, for people)."""


@dataclass
class Part:
    path: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


def _digest(path: Path) -> Part:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
    return Part("", h.hexdigest(), size)


def _part(root: Path, path: Path) -> Part:
    part = _digest(path)
    part.path = path.relative_to(root).as_posix()
    return part


def _empty_target(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(f"备份目录 {directory} 已存在且不是空目录：请给出一个不存在的或空的目录")


# ---------------------------------------------------------------- backup


def backup(app: App, directory: Path) -> dict[str, Any]:
    """Write a consistent snapshot into `directory` (absent or empty); returns the manifest."""
    _empty_target(directory)
    directory.mkdir(parents=True, exist_ok=True)
    revision = current_revision(app.db.engine)
    if revision is None:
        raise BackupError("数据库尚未初始化，没有可备份的内容：请先运行 ymt init")
    database = _dump_database(app, directory)
    files = list(_copy_files(app, directory))
    data = list(_copy_data_dir(app, directory))
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "dialect": app.db.dialect, "revision": revision, "hash_alg": app.blobs.hash_alg,
                "blob_url": app.blobs.url, "database": database.as_dict(),
                "files": [f.as_dict() for f in files], "data": [d.as_dict() for d in data]}
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, directory / MANIFEST)  # the manifest last: a backup without one is incomplete
    return manifest


def _dump_database(app: App, directory: Path) -> Part:
    if app.db.dialect == "sqlite":
        target = directory / "database.sqlite3"
        source_path = make_url(app.db.url).database
        src = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # the online backup API: a consistent copy while the service writes
        finally:
            dst.close()
            src.close()
        return _part(directory, target)
    target = directory / "database.dump"
    _pg_run("pg_dump", app, ["--format=custom", "--no-owner", "--no-privileges", "--file", str(target)])
    return _part(directory, target)


def _copy_files(app: App, directory: Path) -> Iterator[Part]:
    with app.db.read() as session:
        addresses = list(session.execute(select(Blob.sha256).order_by(Blob.sha256)).scalars())
    store = app.blobs
    for address in addresses:
        key = store.sealed_key(address) if store.is_sealed(address) else store.key(address)
        if store.backend.size(key) is None:
            raise BackupError(f"文件 {address} 在文件存储中缺失：请先运行 ymt ledger verify 查明原因")
        target = directory / "files" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in store.backend.read(key):
                out.write(chunk)
        yield _part(directory, target)


def _copy_data_dir(app: App, directory: Path) -> Iterator[Part]:
    root = Path(app.settings.data_dir)
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0].startswith(DATA_SKIP) or path.name.startswith("."):
            continue
        target = directory / "data" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        os.chmod(target, 0o600)  # keys and secrets
        yield _part(directory, target)


# ---------------------------------------------------------------- restore


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} 不是完整的备份：缺少 {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{path} 不是有效的 JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} 的格式不受支持（应为 format {FORMAT}）")
    return manifest


def check_backup(directory: Path, manifest: dict[str, Any]) -> None:
    """Every part is present with the sha256 the manifest recorded (before anything is written)."""
    root = directory.resolve()
    for part in [manifest["database"], *manifest["files"], *manifest["data"]]:
        path = (root / part["path"]).resolve()
        if root not in path.parents:
            raise BackupError(f"清单中的路径 {part['path']} 不在备份目录内")
        if not path.is_file():
            raise BackupError(f"备份不完整：缺少 {part['path']}")
        if _digest(path).sha256 != part["sha256"]:
            raise BackupError(f"备份已损坏：{part['path']} 的 sha256 与清单不符")


def restore(app: App, directory: Path) -> dict[str, Any]:
    """Restore into an empty data dir, an empty database and an empty file store; returns the manifest."""
    manifest = read_manifest(directory)
    if manifest.get("dialect") != app.db.dialect:
        raise BackupError(f"备份来自 {manifest.get('dialect')} 数据库，目标是 {app.db.dialect}：请恢复到同类数据库")
    check_backup(directory, manifest)
    _check_empty_target(app)
    _restore_database(app, directory, manifest)
    store = app.blobs.backend
    for part in manifest["files"]:
        key = part["path"].removeprefix("files/")
        fd, tmp = tempfile.mkstemp(dir=store.spool(), prefix=".upload-")
        with os.fdopen(fd, "wb") as out, (directory / part["path"]).open("rb") as src:
            shutil.copyfileobj(src, out, 1024 * 1024)
        store.store(tmp, key)
    data_dir = Path(app.settings.data_dir)
    for part in manifest["data"]:
        target = data_dir / part["path"].removeprefix("data/")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(directory / part["path"], target)
        os.chmod(target, 0o600)
    return manifest


def _check_empty_target(app: App) -> None:
    data_dir = Path(app.settings.data_dir)
    if data_dir.exists():
        # an empty spool, or the empty database file opening the service made (mode 0600), hold nothing
        held = [p.name for p in data_dir.iterdir()
                if p.name != "spool" and not (p.is_file() and p.stat().st_size == 0)]
        if held:
            raise BackupError(f"数据目录 {data_dir} 不是空的（有 {'、'.join(sorted(held)[:5])}）：请恢复到空的数据目录")
    if app.db.dialect == "sqlite":
        path = make_url(app.db.url).database
        if path and Path(path).is_file() and Path(path).stat().st_size > 0:
            raise BackupError(f"目标数据库 {path} 已存在：请恢复到新的数据库文件")
    else:
        tables = set(inspect(app.db.engine).get_table_names()) - POSTGIS_TABLES
        if tables:
            raise BackupError(f"目标数据库不是空的（有表 {'、'.join(sorted(tables)[:5])}）：请恢复到空数据库")
    if next(iter(app.blobs.backend.keys()), None) is not None:
        raise BackupError(f"目标文件存储 {app.blobs.url} 不是空的：请恢复到空的文件存储")


def _restore_database(app: App, directory: Path, manifest: dict[str, Any]) -> None:
    source = directory / manifest["database"]["path"]
    if app.db.dialect == "sqlite":
        path = Path(make_url(app.db.url).database or "")
        app.db.dispose()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        os.chmod(path, 0o600)
        return
    # PostGIS may already be installed in the target (its table is there): then restore everything but the
    # extensions, else pg_restore creates them as the dump says
    listing = _pg_run("pg_restore", app, ["--list", str(source)], with_db=False).stdout
    installed = "spatial_ref_sys" in inspect(app.db.engine).get_table_names()
    keep = [line for line in listing.splitlines()
            if not installed or (" EXTENSION " not in line and "COMMENT - EXTENSION" not in line)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False, encoding="utf-8") as f:
        f.write("\n".join(keep) + "\n")
    app.db.dispose()
    try:
        _pg_run("pg_restore", app, ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                                     "--use-list", f.name, str(source)])
    finally:
        os.unlink(f.name)


# ---------------------------------------------------------------- PostgreSQL tools


def pg_tool(app: App, name: str) -> str:
    """pg_dump / pg_restore: YMT_PG_BIN_DIR, else the newest /usr/lib/postgresql/*/bin, else PATH (a tool older
    than the server refuses to dump it)."""
    if app.settings.pg_bin_dir is not None:
        candidates = [Path(app.settings.pg_bin_dir) / name]
    else:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                          if p.parent.name.isdigit() else 0)
        candidates = [v / name for v in reversed(versions)]
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端，或用 YMT_PG_BIN_DIR 指出其所在目录")


def _pg_env(app: App) -> dict[str, str]:
    """Connection settings as libpq variables: the password never appears on a command line (ps)."""
    url = make_url(app.db.url)
    env = {**os.environ, "PGHOST": url.host or "", "PGPORT": str(url.port or 5432), "PGUSER": url.username or "",
           "PGDATABASE": url.database or ""}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    sslmode = url.query.get("sslmode")
    if isinstance(sslmode, str):
        env["PGSSLMODE"] = sslmode
    return env


def _pg_run(name: str, app: App, args: list[str], with_db: bool = True) -> subprocess.CompletedProcess[str]:
    command = [pg_tool(app, name), *args]
    if with_db and name == "pg_restore":
        command[1:1] = ["--dbname", make_url(app.db.url).database or ""]
    done = subprocess.run(command, env=_pg_env(app), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{name} 失败：{done.stderr.strip()[:500]}")
    return done
