"""Database tables (SQLAlchemy 2). The same schema on SQLite and PostgreSQL; spatial extras are added
by the migration per dialect (PostGIS geometry + GiST on PostgreSQL, an R*Tree on SQLite)."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Counter(Base):
    """Atomic counters (code serials per scope, ledger head). Never max()+1."""

    __tablename__ = "counters"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


ACTIVE_INVESTMENT = "status = 'active' AND investment_code IS NOT NULL AND parent_code IS NULL"


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_norm: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    merged_into: Mapped[str | None] = mapped_column(String(40))
    parent_code: Mapped[str | None] = mapped_column(String(40))
    void_reason: Mapped[str | None] = mapped_column(Text)
    division: Mapped[str] = mapped_column(String(12), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    approval_type: Mapped[str] = mapped_column(String(8), nullable=False)
    project_type: Mapped[str] = mapped_column(String(8), nullable=False)
    supply_type: Mapped[str] = mapped_column(String(8), nullable=False)
    land_use: Mapped[str] = mapped_column(String(8), nullable=False)
    builder: Mapped[str | None] = mapped_column(String(200))
    investment_code: Mapped[str | None] = mapped_column(String(40))
    area_m2: Mapped[float | None] = mapped_column(Float)
    # A functional zone of the profile (经开区 …): the division stays the GB/T 2260 one the zone belongs to.
    zone: Mapped[str | None] = mapped_column(String(32))
    # The code-table edition the code was issued under: a code keeps it for good. Every registration writes the
    # profile's current edition; the default is for rows written before editions were recorded (2020 tables).
    edition: Mapped[str] = mapped_column(String(16), nullable=False, server_default="2020")
    current_stage: Mapped[str] = mapped_column(String(32), nullable=False, default="intake")
    code_outdated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    extra: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(100), nullable=False)

    __table_args__ = (
        # One active project per investment code; a voided or merged one frees it. Split children share their
        # parent's code (a split does not make new investment projects).
        Index("uq_projects_active_investment_code", "investment_code", unique=True,
              sqlite_where=text(ACTIVE_INVESTMENT), postgresql_where=text(ACTIVE_INVESTMENT)),
        Index("ix_projects_division_year", "division", "year", "id"),
        Index("ix_projects_division_id", "division", "id"),
        Index("ix_projects_year_id", "year", "id"),
        Index("ix_projects_stage", "current_stage", "id"),
        Index("ix_projects_status", "status", "id"),
        Index("ix_projects_updated", "updated_at", "id"),
        Index("ix_projects_name_norm", "division", "name_norm"),
        Index("ix_projects_zone", "zone", "id"),
    )


class ProjectSource(Base):
    __tablename__ = "project_sources"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    ref: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_project_sources_kind", "kind", "project_id"),)


class ProjectRef(Base):
    """Cross-references kept beside the code (domain/refs.py): investment code, 电子监管号 (supply), 报批监管号,
    不动产单元号 and its 宗地代码, certificate and case numbers."""

    __tablename__ = "project_refs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    value: Mapped[str] = mapped_column(String(100), nullable=False)
    # set when the reference was taken from a result's data: it is then as visible as that result
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id"))
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "value", name="uq_project_refs"),
        Index("ix_project_refs_value", "kind", "value"),
    )


class Stage(Base):
    """Current state of one stage of one project; absent row = pending."""

    __tablename__ = "stages"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    case_no: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[str | None] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_stages_key_status", "key", "status"),)


class StageRecord(Base):
    """Every stage change and every inspection record, kept (who changed what and when)."""

    __tablename__ = "stage_records"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    key: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    previous_status: Mapped[str | None] = mapped_column(String(16))
    case_no: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[str | None] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_stage_records_project", "project_id", "key", "id"),)


class Event(Base):
    """The append-only ledger and change feed. `seq` comes from the ledger head counter, gap-free."""

    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    code: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[str] = mapped_column(String(40), nullable=False)  # RFC 3339 text: hashed as stored
    data: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON text: hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Who may see it: public/internal for everyone with a token; restricted only admin/registrar/owner_role.
    confidentiality: Mapped[str] = mapped_column(String(16), nullable=False, default="internal")
    owner_role: Mapped[str | None] = mapped_column(String(40))
    # The project's division when the event was appended (district scope of feeds and webhooks); not hashed.
    division: Mapped[str | None] = mapped_column(String(12))
    __table_args__ = (Index("ix_events_code", "code", "seq"),)


class PendingEvent(Base):
    """An event its writer committed and the sequencer has not yet put into the ledger (PostgreSQL; see
    `ledger.sequencer`). Every column of the event but seq, prev_hash and hash; `data` is already canonical text.
    Readers never read it: what is here is not in the ledger yet."""

    __tablename__ = "pending_events"
    id: Mapped[int] = mapped_column(BigId, Sequence("pending_events_id_seq"), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    code: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[str] = mapped_column(String(40), nullable=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    confidentiality: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_role: Mapped[str | None] = mapped_column(String(40))
    division: Mapped[str | None] = mapped_column(String(12))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Blob(Base):
    """A file in the content-addressed store, by SHA-256 computed on the server."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Result(Base):
    __tablename__ = "results"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    doc_no: Mapped[str | None] = mapped_column(String(100))
    issued_at: Mapped[str | None] = mapped_column(String(40))
    issuer: Mapped[str | None] = mapped_column(String(200))
    confidentiality: Mapped[str] = mapped_column(String(16), nullable=False)
    data: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_role: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_results_project", "project_id", "stage", "id"),)


class ResultFile(Base):
    __tablename__ = "result_files"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), nullable=False)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)


class Parcel(Base):
    """A parcel polygon in EPSG:4490. WKB + bbox on every database; PostGIS `geom` added by migration."""

    __tablename__ = "parcels"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    parcel_no: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    minx: Mapped[float] = mapped_column(Float, nullable=False)
    miny: Mapped[float] = mapped_column(Float, nullable=False)
    maxx: Mapped[float] = mapped_column(Float, nullable=False)
    maxy: Mapped[float] = mapped_column(Float, nullable=False)
    area_m2: Mapped[float] = mapped_column(Float, nullable=False)
    properties: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ProjectParcel(Base):
    __tablename__ = "project_parcels"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), primary_key=True)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id"))
    attached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attached_by: Mapped[str] = mapped_column(String(100), nullable=False)
    __table_args__ = (Index("ix_project_parcels_parcel", "parcel_id", "project_id"),)


class ControlLayerFeature(Base):
    """Control layers the bureau imports: 永久基本农田, 生态保护红线, 城镇开发边界."""

    __tablename__ = "control_features"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    minx: Mapped[float] = mapped_column(Float, nullable=False)
    miny: Mapped[float] = mapped_column(Float, nullable=False)
    maxx: Mapped[float] = mapped_column(Float, nullable=False)
    maxy: Mapped[float] = mapped_column(Float, nullable=False)
    properties: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_control_features_kind", "kind", "minx", "maxx"),)


class ApiToken(Base):
    """A client system's token, stored as SHA-256. Names are unique among the tokens not revoked (a revoked
    token keeps its row and name for the record; a new one may take the name)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str | None] = mapped_column(String(100))  # who created it; None: created before 0005
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_address: Mapped[str | None] = mapped_column(String(64))
    divisions: Mapped[list] = mapped_column(JSON, nullable=False, default=list, server_default=text("'[]'"))
    sections: Mapped[list] = mapped_column(JSON, nullable=False, default=list, server_default=text("'[]'"))
    # the secret before the last rotation, accepted until previous_valid_until (the overlap)
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    previous_valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("uq_api_tokens_active_name", "name", unique=True, sqlite_where=text("revoked_at IS NULL"),
              postgresql_where=text("revoked_at IS NULL")),
        Index("ix_api_tokens_previous_hash", "previous_hash"),
    )


class User(Base):
    """Bureau staff who log in to the web pages (password hashed with argon2)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # set for a password someone else chose (creation, an admin's reset): the user changes it at the next login
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                                       server_default=text("false"))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    divisions: Mapped[list] = mapped_column(JSON, nullable=False, default=list, server_default=text("'[]'"))
    sections: Mapped[list] = mapped_column(JSON, nullable=False, default=list, server_default=text("'[]'"))
    created_by: Mapped[str | None] = mapped_column(String(100))
    # TOTP second factor (RFC 6238), in use once a code from the enrolled app was accepted
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # each code is accepted once


class PasswordHistory(Base):
    """Hashes of a user's passwords (the current one included): a new one may not repeat the last N."""

    __tablename__ = "password_history"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_password_history_user", "user_id", "id"),)


class WebSession(Base):
    """A web login, referenced by a signed cookie holding a random id whose SHA-256 is stored here: ending
    the row ends the session in every server process at once."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    mfa_pending: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # password ok, TOTP due
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (Index("ix_web_sessions_user", "user_id", "revoked_at"),
                      Index("ix_web_sessions_created", "created_at"))


class LoginGuard(Base):
    """Failure counters of the login throttle, counted before any password is hashed: `u:<username>`
    (consecutive failures; the lock) and `a:<address>` (failures across accounts within a window)."""

    __tablename__ = "login_guards"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LoginEvent(Base):
    """Every login attempt, lock and unlock: who, from where, what happened."""

    __tablename__ = "login_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    username: Mapped[str] = mapped_column(String(200), nullable=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str | None] = mapped_column(String(100))  # who unlocked, reset, …
    __table_args__ = (Index("ix_login_events_username", "username", "id"), Index("ix_login_events_at", "at"))


class IdempotencyRecord(Base):
    """The first response to a write with an Idempotency-Key, stored in the same transaction as the write."""

    __tablename__ = "idempotency_keys"
    actor: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(100), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Subscription(Base):
    """Who gets which events. It sees exactly what its creator may see: the creator's role, sections and
    divisions are stored with it (an admin may narrow them). `active` False = deleted; `paused` = stopped by
    hand (events still queue); `parked` = stopped after a delivery ran out of retries."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    types: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    # during a rotation's overlap window deliveries are signed with the previous secret too
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    role: Mapped[str] = mapped_column(String(40), nullable=False, default="viewer")
    sections: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    divisions: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # empty: the whole city
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    parked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_subscriptions_ready", "active", "paused", "parked", "id"),)


class Delivery(Base):
    """Transactional outbox: one row per (subscription, event), written with the event."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    code: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending/done/parked
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (
        UniqueConstraint("subscription_id", "seq", name="uq_deliveries_sub_seq"),
        # the next delivery of an ordering key after its head: one index step
        Index("ix_deliveries_sub_code", "subscription_id", "code", "seq"),
        # a subscription's pending/parked deliveries (purge, list by state, queue metrics)
        Index("ix_deliveries_sub_state", "subscription_id", "state", "seq"),
    )


class DeliveryHead(Base):
    """The next due delivery of one ordering key of one subscription: the key is the project code ('' for
    events without one). It points at the oldest undelivered delivery of that key, so only heads are ever
    claimable and per-project order holds; a claim reads due heads through `ix_delivery_heads_due`, whatever
    the backlog behind them. The row exists while the key has undelivered deliveries. While a worker holds it,
    `next_attempt_at` is the lease's end."""

    __tablename__ = "delivery_heads"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), nullable=False)
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (
        UniqueConstraint("subscription_id", "key", name="uq_delivery_heads_key"),
        Index("ix_delivery_heads_due", "subscription_id", "next_attempt_at"),
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)


class Review(Base):
    """An uncertain duplicate found on import, waiting for a person to merge or keep separate."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_code: Mapped[str] = mapped_column(String(40), nullable=False)
    candidate_code: Mapped[str] = mapped_column(String(40), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="open")  # open/merged/kept
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_reviews_state", "state", "id"),
                      Index("ix_reviews_candidate", "candidate_code", "state"))


class ImportRun(Base):
    """One import of one file: its hash makes a second import of the same file a no-op."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    report: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_import_runs_sha", "kind", "sha256"),)


class ImportJob(Base):
    """An import as a job (migration 0014): the file is kept until the job ends, so that a crashed job resumes;
    its rows are staged in `import_job_rows` per batch, then published. `lease` names the runner that owns it
    now (a resumed job takes it over: the previous runner stops at its next batch)."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    options: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    actor: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    phase: Mapped[str] = mapped_column(String(16), nullable=False)
    lease: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rows_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows_read: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_to_publish: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_published: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    meta: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    phase_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (Index("ix_import_jobs_file", "kind", "sha256", "status"),)


class ImportJobRow(Base):
    """One staged row of an import job: its outcome (taken, merged, review, refused, unchanged), what publishing
    it does (`plan`) and its line of the report (`result`)."""

    __tablename__ = "import_job_rows"
    job_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("import_jobs.id", ondelete="CASCADE"),
                                        primary_key=True, autoincrement=False)
    row_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    plan: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    __table_args__ = (Index("ix_import_job_rows_outcome", "job_id", "outcome", "row_no"),)


class StoredWarning(Base):
    """A supervision warning as stored for every process (migration 0014): `source` is `rules` (one project's
    facts) or `spatial` (one parcel's conflicts); `ord` keeps a parcel's issues in the order they were found."""

    __tablename__ = "stored_warnings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    project_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    parcel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    other_parcel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # an overlap's other parcel
    rank: Mapped[int] = mapped_column(Integer, nullable=False)  # the list's order: kind, then level (higher first)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(500), nullable=False)
    division: Mapped[str] = mapped_column(String(16), nullable=False)
    since: Mapped[date | None] = mapped_column(Date, nullable=True)
    since_order: Mapped[date] = mapped_column(Date, nullable=False)  # `since`, or the last day: sorts it last
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    area_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    ord: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    __table_args__ = (Index("ix_stored_warnings_project", "source", "project_id"),
                      Index("ix_stored_warnings_parcel", "source", "parcel_id"),
                      Index("ix_stored_warnings_other", "other_parcel_id"),
                      Index("ix_stored_warnings_code", "source", "code"),
                      Index("ix_stored_warnings_kind", "kind", "division"),
                      Index("ix_stored_warnings_order", "rank", "since_order", "code", "parcel_id", "ord", "id"))


class WarningState(Base):
    """What the stored warnings are current for: `seq` (the last ledger event applied), `day`, `layers`."""

    __tablename__ = "warning_state"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), nullable=False)


# --- The map's dot cells (migration 0016, parcels/cells.py) ------------------------------------------------------


class TileMark(Base):
    """What the dot of one linked parcel depends on, kept from the ledger: its latest project (`project_id`,
    `stage`, `division`), the confidentiality of its links (`conf`, with the submitting role of a restricted
    result in `owner_role`) and its cell at the finest stored level of each tile matrix set. `plain`: all its
    links share one division and one confidentiality, so any reader sees all of them or none — the only parcels
    counted in `tile_cells`; the others are read with the full visibility rules for every tile."""

    __tablename__ = "tile_marks"
    parcel_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    plain: Mapped[bool] = mapped_column(Boolean, nullable=False)
    division: Mapped[str] = mapped_column(String(16), nullable=False)
    conf: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_role: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    stage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    m_col: Mapped[int] = mapped_column(Integer, nullable=False)  # WebMercatorQuad cell at the finest level
    m_row: Mapped[int] = mapped_column(Integer, nullable=False)
    g_col: Mapped[int] = mapped_column(Integer, nullable=False)  # CGCS2000Quad cell at the finest level
    g_row: Mapped[int] = mapped_column(Integer, nullable=False)
    __table_args__ = (Index("ix_tile_marks_project", "project_id"),
                      Index("ix_tile_marks_mixed", "plain", "parcel_id"),
                      Index("ix_tile_marks_m", "m_col", "m_row"),
                      Index("ix_tile_marks_g", "g_col", "g_row"))


class TileCell(Base):
    """The plain parcels of one grid cell (`domain/tilegrid.py`) that share division, confidentiality and stage:
    their count `n` and lowest parcel id (the dot's feature id). `tile_col`/`tile_row`: the zoom-(level - 6) tile
    the cell lies in, for the tile's lookup."""

    __tablename__ = "tile_cells"
    tms: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    col: Mapped[int] = mapped_column(Integer, primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    division: Mapped[str] = mapped_column(String(16), primary_key=True)
    conf: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_role: Mapped[str] = mapped_column(String(40), primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), primary_key=True)  # "" for a project without a stage
    tile_col: Mapped[int] = mapped_column(Integer, nullable=False)
    tile_row: Mapped[int] = mapped_column(Integer, nullable=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False)
    min_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    __table_args__ = (Index("ix_tile_cells_tile", "tms", "level", "tile_col", "tile_row"),)


class TileCellState(Base):
    """What the cells are current for: `seq`, the last ledger event applied."""

    __tablename__ = "tile_cell_state"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), nullable=False)


# --- Verifiable ledger (migration 0007) ---------------------------------------------------------------------------


class LedgerSetting(Base):
    """Facts about the ledger fixed when the database was created: `hash_alg` (sha256 | sm3, for the ledger and
    the file store), `event_format_2_from` (the first seq whose hash also covers confidentiality/owner_role)."""

    __tablename__ = "ledger_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), nullable=False)


class MerkleNode(Base):
    """The RFC 9162 tree over the events' hashes, stored as its complete aligned subtrees: node (level, idx) is
    MTH(D[idx·2^level : (idx+1)·2^level]); level 0 holds the leaf hashes. Appended with the events, so that any
    root, inclusion or consistency proof needs O(log n) rows."""

    __tablename__ = "merkle_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class LedgerKey(Base):
    """The log's signing keys (public halves; the private key stays in the data dir). One active key: the
    one with `retired_at` null. Retired keys stay listed, so that old heads and checkpoints keep verifying."""

    __tablename__ = "ledger_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16), nullable=False)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)  # PEM (SubjectPublicKeyInfo)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TreeHead(Base):
    """A signed tree head as issued (the timestamp is part of the signed text, so it is kept as text)."""

    __tablename__ = "tree_heads"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    timestamp: Mapped[str] = mapped_column(String(40), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)


class Witness(Base):
    """A department that co-signs tree heads (审批系统, 登记平台…) and its public key."""

    __tablename__ = "witnesses"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16), nullable=False)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Cosignature(Base):
    __tablename__ = "tree_cosignatures"
    size: Mapped[int] = mapped_column(ForeignKey("tree_heads.size"), primary_key=True)
    witness: Mapped[str] = mapped_column(ForeignKey("witnesses.name"), primary_key=True)
    signature: Mapped[str] = mapped_column(Text, nullable=False)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_tree_cosignatures_witness", "witness", "size"),)


class BlobCheck(Base):
    """When a stored file last hashed to its address, and the file's identity then (size, ctime): verify
    re-hashes only files that changed since (or were never checked)."""

    __tablename__ = "blob_checks"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(100), nullable=False)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class VerifyRun(Base):
    """The last verification report per head (the API's cache) and the one-at-a-time claim (`running_since`)."""

    __tablename__ = "ledger_verify_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 1: the single slot
    running_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    head_seq: Mapped[int | None] = mapped_column(BigInteger)
    head_hash: Mapped[str | None] = mapped_column(String(64))
    report: Mapped[dict | None] = mapped_column(JSON)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditRecord(Base):
    """Who read what (downloads of internal/restricted files, packages, exports), hash-chained like the ledger."""

    __tablename__ = "audit_records"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40), nullable=False)  # RFC 3339 text: hashed as stored
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    object: Mapped[str] = mapped_column(String(300), nullable=False)
    interface: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str | None] = mapped_column(String(100))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    __table_args__ = (Index("ix_audit_actor", "actor", "seq"), Index("ix_audit_action", "action", "seq"))


def table(model: type[Base]) -> Table:
    """The Core table of a mapped class, typed (`Model.__table__` is typed as a plain FromClause)."""
    return cast(Table, model.__table__)


# --- joint review (会签), suspensions, registration readiness (migration 0012) ------------------------------------

class JointReview(Base):
    """A joint review of one stage of one project: open until every section named agrees or one refuses."""

    __tablename__ = "joint_reviews"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    sections: Mapped[list] = mapped_column(JSON, nullable=False)
    due: Mapped[str | None] = mapped_column(String(10))
    due_given: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # else from the profile's limit
    note: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(100), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_joint_reviews_project", "project_id", "stage", "status"),)


class JointOpinion(Base):
    """One section's opinion in a joint review (pending until signed)."""

    __tablename__ = "joint_opinions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("joint_reviews.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    section: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    text: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[str | None] = mapped_column(Text)
    result_ids: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    signed_by: Mapped[str | None] = mapped_column(String(100))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("review_id", "section", name="uq_joint_opinions_section"),)


class StageSuspension(Base):
    """A stop of a stage's clock (补正, 听证, 公示 …): its days do not count towards the time limit."""

    __tablename__ = "stage_suspensions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    start: Mapped[str] = mapped_column(String(10), nullable=False)
    end: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_stage_suspensions_project", "project_id", "stage"),)


class RegistrationState(Base):
    """The registration readiness last announced for a project (`registration.ready` when it becomes true)."""

    __tablename__ = "registration_states"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    ready: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
