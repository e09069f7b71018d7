"""Structured logs: one line per record on stderr, JSON (YMT_LOG_FORMAT=json, default) or key=value (text), with
a UTC timestamp, the level, the logger, the message, the request id of the request being served, and the
record's fields (`extra={"fields": {...}}`). Secrets never reach a line: values under secret-sounding keys,
bearer tokens, passwords in URLs and `password=` pairs are replaced by `***` (the filter runs on every handler
this module installs, uvicorn's included)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("ymt_request_id", default=None)
SECRET_KEYS = re.compile(r"(authorization|password|passwd|secret|token|cookie|api[_-]?key|private)", re.I)
SECRET_TEXT = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)\bymt_[A-Za-z0-9_-]{16,}"), "ymt_***"),  # our API tokens, wherever they appear
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),  # postgresql://user:password@host
    (re.compile(r"(?i)((?:password|passwd|secret|token|session)=)[^&\s]+"), r"\1***"),
]
RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "fields"}


def redact_text(text: str) -> str:
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    if key and SECRET_KEYS.search(key):
        return "***"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                           .replace("+00:00", "Z"),
                           "level": record.levelname.lower(), "logger": record.name,
                           "msg": redact_text(record.getMessage())}
    rid = getattr(record, "request_id", None) or REQUEST_ID.get()
    if rid:
        out["request_id"] = rid
    extra = getattr(record, "fields", None)
    if isinstance(extra, dict):
        out.update(redact(extra))
    for key, value in vars(record).items():  # other `extra=` keys
        if key not in RESERVED and key not in out and not key.startswith("_") and key != "color_message":
            out[key] = redact(value, key)
    if record.exc_info:
        out["exc"] = redact_text(logging.Formatter().formatException(record.exc_info))
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """logfmt: key=value, values with spaces or quotes quoted as JSON strings."""

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _fields(record).items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            if not text or re.search(r'[\s"=]', text):
                text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={text}")
        return " ".join(parts)


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in ("json", "text"):
        raise ValueError(f"YMT_LOG_FORMAT 应为 json 或 text，收到 {fmt!r}")
    return JsonFormatter() if fmt == "json" else KeyValueFormatter()


def configure(fmt: str = "json", level: str = "info") -> None:
    """Every logger (ours, uvicorn's, SQLAlchemy's) through one stderr handler with the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line carries the request id instead


def uvicorn_log_config() -> dict[str, Any]:
    """Keep uvicorn from installing its own handlers: records go to the root handler of `configure`."""
    return {"version": 1, "disable_existing_loggers": False,
            "loggers": {"uvicorn": {"level": "INFO"}, "uvicorn.error": {"level": "INFO"},
                        "uvicorn.access": {"level": "WARNING"}}}
