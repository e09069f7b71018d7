"""Settings from the environment (YMT_*) and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YMT_", extra="ignore")

    data_dir: Path = Path("./ymt-data")
    database_url: str | None = None
    profile: str = "changde"
    max_upload_bytes: int = 100 * 1024 * 1024      # one result file / import file
    max_json_bytes: int = 5 * 1024 * 1024           # a JSON body
    public_base_url: str | None = None              # overrides the profile's, for QR codes
    tile_url: str | None = None                     # optional base map tiles (e.g. 天地图 with the bureau's key)
    tile_attribution: str | None = None
    # vector tiles (OGC API - Tiles): below this zoom a parcel is a point at its box centre, merged per 8-unit
    # cell with a count (every parcel still shows); from it on, its simplified polygon
    tile_polygon_zoom: int = 13
    deliver_webhooks: bool = True                   # run the delivery loop inside `ymt serve`
    webhook_horizon_seconds: float = 24 * 3600      # retry up to this long, then park
    webhook_timeout_seconds: float = 10.0
    webhook_base_delay_seconds: float = 2.0         # first retry after up to this long (full jitter)
    webhook_max_delay_seconds: float = 900.0        # back-off cap
    webhook_poll_seconds: float = 0.5               # how often an idle worker looks for due deliveries
    webhook_batch: int = 50                         # deliveries claimed at once
    webhook_concurrency: int = 8                    # parallel POSTs per worker
    webhook_allow: str = ""                         # CIDRs or host names permitted as targets despite the rules
    webhook_max_subscriptions: int = 50             # live subscriptions one token (or user) may hold
    webhook_purge_batch: int = 1000                 # deliveries dropped per transaction by a purge
    session_secret: str | None = None               # web login cookies; generated into data_dir if unset
    write_wait_seconds: float = 30.0                # a write waits this long for another (an import), then 503
    # The ledger sequencer (PostgreSQL; docs/ARCHITECTURE.md "The ledger sequencer")
    sequence_after_commit: bool = True              # a writer sequences its own events right after its commit
    sequencer_wait_seconds: float = 2.0             # … waiting for the sequencer's lock at most this long in all
    sequencer_poll_seconds: float = 1.0             # the background sequencer of serve/worker; 0: none in this process
    sequencer_batch: int = 500                      # events sequenced per transaction
    ledger_pending_alert_seconds: float = 60.0      # `ledger verify` reports events queued longer than this
    # Geometries from outside (files, GeoJSON, results' meta.parcels): bounded before any quadratic work, then
    # validated and repaired in a worker process with a deadline and an address-space limit.
    max_vertices_per_geometry: int = 100_000
    max_parts_per_geometry: int = 1_000             # rings (outer rings and holes) of one geometry
    max_vertices_per_request: int = 1_000_000       # all geometries of one request or file
    geometry_seconds: float = 10.0                  # validating and repairing one geometry
    geometry_request_seconds: float = 120.0         # … all geometries of one request
    geometry_memory_mb: int = 1024                  # address space the validation worker may add
    # Archives we open (Shapefile zips, xlsx, which are zips too): refused before anything is unpacked.
    max_zip_members: int = 1_000
    max_unzipped_bytes: int = 1024 * 1024 * 1024    # all members together, as declared and as actually unpacked
    max_shared_strings: int = 1_000_000             # xlsx shared-string table (held in memory by the reader)
    import_batch: int = 500                         # rows per staging / publishing transaction of an import job
    import_batch_seconds: float = 0.25              # … at most: a publishing batch is sized to hold the lock this long
    report_rows: int = 200                          # rows of each kind in an import report answered by the API
    # Verifiable ledger and 国密 (GB/T 39786-2021). The hash is recorded in the database by `ymt init` and only
    # matters there: a database keeps the hash it was created with. Unset: the profile's `ledger.hash`, or sha256.
    ledger_hash: str | None = None                  # sha256 | sm3 (ledger, Merkle tree and file store)
    ledger_signature: str | None = None             # ed25519 | sm2: the first signing key, and rotate-key's default
    blob_encryption: str | None = None              # aes-gcm | sm4-gcm: seal restricted results' files at rest
    blob_key: str | None = None                     # that key (hex or base64); or YMT_BLOB_KEY_FILE
    blob_key_file: Path | None = None
    # --- accounts, sessions, tokens (等保 2.0 level-3 practice; see accounts/) ---
    session_idle_minutes: float = 30.0              # a web session ends after this long without a request
    session_max_hours: float = 8.0                  # and this long after the login, whatever happens
    cookie_secure: Literal["auto", "always", "never"] = "auto"  # auto: Secure when the request came over TLS
    trusted_proxies: str = "127.0.0.1,::1"          # peers whose X-Forwarded-For/-Proto count (CIDRs, comma-separated)
    login_max_failures: int = 5                     # consecutive failures that lock an account …
    login_lock_minutes: float = 15.0                # … for this long (from any address)
    login_address_max_failures: int = 20            # failures from one address (across accounts) that throttle it …
    login_address_window_minutes: float = 15.0      # … within this window
    password_min_length: int = 10
    password_min_classes: int = 3                   # of lower case, upper case, digits, other characters
    password_history: int = 5                       # a new password may not be one of the last N
    admin_totp: Literal["optional", "required"] = "optional"  # second factor (TOTP) for the admin role
    token_default_days: int = 365                   # API token lifetime when none is given …
    token_max_days: int = 1095                      # … and the longest one may ask for
    # --- operations (docs/DEPLOY.md) ---
    # Result files: file:///path (a directory, may be shared by several processes or hosts) or s3://bucket/prefix.
    # Unset: the data dir's files/.
    blob_url: str | None = None
    s3_endpoint: str | None = None                  # e.g. https://minio.internal:9000 (unset: AWS)
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    s3_addressing: str = "path"                     # path (MinIO, Ceph, OBS) | virtual (Aliyun OSS needs it)
    log_format: str = "json"                        # json | text (key=value): the service's log lines on stderr
    log_level: str = "info"
    request_id_header: str = "X-Request-Id"         # a well-formed one from the client is kept, else generated
    pg_bin_dir: Path | None = None                  # where pg_dump/pg_restore are (unset: PATH, then the newest
                                                    # /usr/lib/postgresql/*/bin)
    gc_grace_seconds: float = 3600.0                # leftover temp files and unreferenced files older than this
    gc_interval_seconds: float = 3600.0             # … are collected at start and this often (0: only at start)
    clock_skew_seconds: float = 5.0                 # `ymt check`: the largest difference to the database's clock

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ymt.sqlite3').resolve()}"


def get_settings(**overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
