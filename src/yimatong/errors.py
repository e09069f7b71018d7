"""Service-level errors. Adapters turn them into problem+json (REST) or exit codes (CLI)."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 400
    title = "请求有误"

    def __init__(self, detail: str, errors: list[tuple[str, str]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class Invalid(AppError):
    status = 422
    title = "输入数据无效"


class NotFound(AppError):
    status = 404
    title = "资源不存在"


class Conflict(AppError):
    status = 409
    title = "冲突"


class Forbidden(AppError):
    status = 403
    title = "无权操作"


class Unauthorized(AppError):
    status = 401
    title = "未认证"


class TooLarge(AppError):
    status = 413
    title = "内容过大"


def invalid(field: str, message: str) -> Invalid:
    return Invalid(message, [(field, message)])
