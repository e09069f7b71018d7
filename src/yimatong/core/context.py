"""What every use case needs: the database, the profile, the settings, the file store; and who acts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property

from yimatong.config import Settings
from yimatong.domain.profile import Profile
from yimatong.storage import ledger_meta
from yimatong.storage.blobs import BlobStore, blob_store_from
from yimatong.storage.db import Database

ROLES = ("admin", "registrar", "approval_system", "registration_platform", "base_platform", "viewer")
WRITE_ROLES = ("admin", "registrar")
PRIVILEGED = ("admin", "registrar")  # see every restricted result


@dataclass(frozen=True)
class Actor:
    """A token's client system or a logged-in person. `name` is recorded on every write.

    `sections`: the bureau sections (科室) it acts for in joint reviews. `divisions`: the divisions (GB/T 2260
    codes) it is limited to; empty means the whole city."""

    name: str
    role: str
    sections: frozenset[str] = frozenset()
    divisions: frozenset[str] = frozenset()

    @property
    def privileged(self) -> bool:
        return self.role in PRIVILEGED


SYSTEM = Actor("system", "admin")


def now() -> datetime:
    return datetime.now(UTC)


def local_now(profile: Profile) -> datetime:
    """Now in the profile's time zone: what a person's clock says (pages, exports, reports, "today" rules)."""
    return now().astimezone(profile.tz)


def local_today(profile: Profile) -> date:
    """Today as people in the city count it: `date.today()` on a UTC server is yesterday before 08:00."""
    return local_now(profile).date()


def aware(dt: datetime) -> datetime:
    """SQLite hands timezone-aware columns back naive (they were stored as UTC): make them aware again."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def rfc3339(dt: datetime) -> str:
    return aware(dt).astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class App:
    """The service container: built once per process by the CLI or the ASGI app."""

    def __init__(self, settings: Settings, profile: Profile) -> None:
        self.settings = settings
        self.profile = profile
        self.db = Database(settings.resolved_database_url(), settings.write_wait_seconds)

    @cached_property
    def blobs(self) -> BlobStore:
        # addressed by the hash the database recorded (sha256 or sm3); restricted files sealed when configured
        # where: YMT_BLOB_URL (local directory by default, or S3)
        return blob_store_from(self.settings, ledger_meta.resolver(self.db))

    def close(self) -> None:
        self.db.dispose()
