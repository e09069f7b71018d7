"""Text files from bureaus: UTF-16 with a BOM (what Windows Notepad calls "Unicode"), UTF-8 (with or without
BOM) or GBK/GB18030, tried in that order."""

from __future__ import annotations

import codecs

ENCODINGS = ("utf-8-sig", "gb18030")  # strict UTF-8 first: GB18030 would accept almost any bytes


def decode_text(data: bytes) -> str | None:
    """The text, or None when no encoding fits."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")  # the BOM tells the byte order and is dropped
        except UnicodeDecodeError:
            return None
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return None
