"""ASGI entry point for multi-worker uvicorn (`ymt serve --workers N`): settings from YMT_* variables."""

from yimatong.api.app import create_app
from yimatong.config import Settings
from yimatong.ops import logs

_settings = Settings()
logs.configure(_settings.log_format, _settings.log_level)  # each worker process logs like `ymt serve`
app = create_app(_settings)
