"""docs/DEPLOY.md documents every setting, and the files it names exist."""

from __future__ import annotations

from conftest import ROOT
from yimatong.config import Settings

DOC = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    missing = [f"YMT_{name.upper()}" for name in Settings.model_fields if f"`YMT_{name.upper()}`" not in DOC]
    assert missing == [], f"settings missing from docs/DEPLOY.md: {missing}"


def test_the_deployment_files_it_names_exist() -> None:
    for name in ("ymt.service", "ymt-worker@.service", "ymt-backup.service", "ymt-backup.timer"):
        assert name in DOC and (ROOT / "deploy" / "systemd" / name).is_file()
    assert (ROOT / "deploy" / "nginx" / "yimatong.conf").is_file() and "deploy/nginx/yimatong.conf" in DOC
