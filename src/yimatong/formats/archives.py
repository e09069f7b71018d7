"""Zip archives from outside (zipped Shapefiles, xlsx workbooks), opened within limits.

A zip says how large its members are before anything is unpacked: a 1 MB upload holding a 1 GiB `.dbf`, or
millions of members, is refused from the central directory alone. Members are then streamed to disk with a
running count, so an archive whose headers lie stops at the limit too (zipfile itself stops at the declared
size and checks the CRC). Nothing here reads a whole member into memory.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK = 1024 * 1024
OVERLAP = 64


class ArchiveError(ValueError):
    """An archive refused: 413 when over a limit, 422 when it is not a readable zip."""

    def __init__(self, message: str, field: str = "file", status: int = 413) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@dataclass(frozen=True)
class ZipLimits:
    members: int = 1_000
    unzipped_bytes: int = 1024 * 1024 * 1024


def open_zip(source: bytes | IO[bytes], name: str, limits: ZipLimits, field: str = "file") -> zipfile.ZipFile:
    """The archive, once its member count and declared sizes are within the limits."""
    try:
        z = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        raise ArchiveError(f"{name}：文件已损坏或不是 zip 格式", field, 422) from None
    infos = z.infolist()
    if len(infos) > limits.members:
        z.close()
        raise ArchiveError(f"{name}：压缩包内有 {len(infos)} 个文件，超过 {limits.members} 个的上限"
                           "（YMT_MAX_ZIP_MEMBERS）", field)
    declared = sum(i.file_size for i in infos)
    if declared > limits.unzipped_bytes:
        z.close()
        raise ArchiveError(f"{name}：解压后共 {declared} 字节，超过 {limits.unzipped_bytes} 字节的上限"
                           "（YMT_MAX_UNZIPPED_BYTES）：压缩包内容过大或是“压缩炸弹”", field)
    return z


class Unpacker:
    """Streams members of one archive to disk, all of them together within `limits.unzipped_bytes`."""

    def __init__(self, z: zipfile.ZipFile, name: str, limits: ZipLimits, field: str = "file") -> None:
        self.z, self.name, self.limits, self.field = z, name, limits, field
        self.written = 0

    def extract(self, member: zipfile.ZipInfo, target: Path) -> Path:
        try:
            with self.z.open(member) as src, open(target, "wb") as dst:
                while chunk := src.read(CHUNK):
                    self.written += len(chunk)
                    if self.written > self.limits.unzipped_bytes:
                        raise ArchiveError(f"{self.name}：解压内容超过 {self.limits.unzipped_bytes} 字节的上限"
                                           "（YMT_MAX_UNZIPPED_BYTES）", self.field)
                    dst.write(chunk)
        except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            target.unlink(missing_ok=True)
            raise ArchiveError(f"{self.name}：无法解压 {member.filename}（{str(exc)[:100]}）", self.field, 422) from None
        except ArchiveError:
            target.unlink(missing_ok=True)
            raise
        return target

    def read(self, member: zipfile.ZipInfo, max_bytes: int) -> bytes:
        """A small member (a .cpg, a .prj) in memory, refused beyond `max_bytes`."""
        with self.z.open(member) as src:
            data = src.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ArchiveError(f"{self.name}：{member.filename} 超过 {max_bytes} 字节", self.field)
        return data


def count_matches(z: zipfile.ZipFile, member: zipfile.ZipInfo, pattern: re.Pattern[bytes], stop_after: int) -> int:
    """How often `pattern` occurs in a member, streamed; counting stops once past `stop_after`. A match must be
    shorter than OVERLAP bytes (one may straddle two chunks: it is counted in the window where it starts)."""
    found, window = 0, b""
    with z.open(member) as src:
        while True:
            chunk = src.read(CHUNK)
            window += chunk
            end = len(window) - OVERLAP if chunk else len(window)
            found += sum(1 for m in pattern.finditer(window) if m.start() < end)
            if found > stop_after or not chunk:
                return found
            window = window[max(end, 0):]
