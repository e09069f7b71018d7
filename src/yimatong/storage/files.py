"""Files only the service may read: the data directory and file store (0700), the SQLite database and the
secret and key files (0600). The process umask (often 022) would make them readable by every local user, so
modes are given at creation and tightened when an older installation left them open."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, tighten: bool = True) -> Path:
    """Create `path` (and its missing parents) with mode 0700; with `tighten`, an existing `path` loses its
    group/other bits. Existing parents are left alone (they may be /srv or a home directory)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            p.mkdir(mode=DIR_MODE)
    if tighten:
        _tighten(path, DIR_MODE)
    return path


def private_file_mode(path: Path) -> None:
    """Drop the group/other bits of an existing file (no-op when it does not exist)."""
    _tighten(path, FILE_MODE)


def ensure_private_file(path: Path) -> None:
    """Create an empty file with mode 0600 unless it exists (then tighten it): e.g. a SQLite database before
    SQLite opens it, which would create it with the umask (and its -wal/-shm with the same mode)."""
    private_dir(path.parent, tighten=False)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        private_file_mode(path)


def read_or_create_secret(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of a secret file, created atomically with mode 0600 on first use. Several processes may
    start at once: the first link wins and every process reads the winner's content."""
    if not path.exists():
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(make())
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: keep its secret
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    private_file_mode(path)
    return path.read_bytes()


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        with contextlib.suppress(PermissionError):  # not ours (a shared mount): leave it as it is
            path.chmod(current & mode)
