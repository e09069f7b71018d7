"""Text files from bureaus: UTF-8 (with or without BOM) or GBK/GB18030, tried in that order."""

from __future__ import annotations

ENCODINGS = ("utf-8-sig", "gb18030")  # strict UTF-8 first: GB18030 would accept almost any bytes


def decode_text(data: bytes) -> str | None:
    """The text, or None when neither encoding fits."""
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return None
