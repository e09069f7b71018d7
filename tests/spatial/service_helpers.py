"""The API in-process with settings of a test's own (limits small enough to reach with small files)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from conftest import make_token
from yimatong.config import Settings
from yimatong.core.context import App
from yimatong.profiles.loader import load_profile


@contextmanager
def configured(db_url: str, tmp_path: Path, **settings: Any) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """(client, registrar headers) of a service whose Settings carry `settings`."""
    from fastapi.testclient import TestClient

    from yimatong.api.app import create_app

    s = Settings(data_dir=tmp_path / "data", database_url=db_url, deliver_webhooks=False, **settings)
    app = App(s, load_profile("changde"))
    try:
        with TestClient(create_app(s, app)) as client:
            yield client, {"Authorization": f"Bearer {make_token(app, 'registrar')}"}
    finally:
        app.close()
