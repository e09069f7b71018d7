"""ASGI entry point for multi-worker uvicorn (`ymt serve --workers N`): settings from YMT_* variables."""

from yimatong.api.app import create_app

app = create_app()
