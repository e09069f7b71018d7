"""accounts: server-side web sessions, login throttle and its log, password history, TOTP, token lifecycle
(owner, expiry, last use, divisions/sections scope, rotation) and user scope

Existing tokens get an expiry one default lifetime (YMT_TOKEN_DEFAULT_DAYS, 365 days) after the upgrade, so
that no neighbour system stops at the upgrade; token names become unique among the tokens not revoked.

Revision ID: 0005
Revises: 0009 (written against 0004; chained after main's 0009 when main was merged into the accounts branch)
Create Date: 2026-12-02
"""

import os
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EMPTY_LIST = sa.text("'[]'")
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    _tokens()
    _users()
    op.create_table(
        "password_history",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_password_history_user", "password_history", ["user_id", "id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("mfa_pending", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id", "revoked_at"])
    op.create_index("ix_web_sessions_created", "web_sessions", ["created_at"])
    op.create_table(
        "login_guards",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "login_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_events_username", "login_events", ["username", "id"])
    op.create_index("ix_login_events_at", "login_events", ["at"])


def _tokens() -> None:
    bind = op.get_bind()
    # PostgreSQL named the UNIQUE(name) of 0001 itself; SQLite left it unnamed (batch mode names it by NAMING)
    names = [c["name"] for c in sa.inspect(bind).get_unique_constraints("api_tokens")
             if c["column_names"] == ["name"]]
    with op.batch_alter_table("api_tokens", naming_convention=NAMING) as batch:
        batch.drop_constraint(names[0] or "uq_api_tokens_name", type_="unique")
        batch.add_column(sa.Column("owner", sa.String(100), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_address", sa.String(64), nullable=True))
        batch.add_column(sa.Column("divisions", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
        batch.add_column(sa.Column("sections", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
        batch.add_column(sa.Column("previous_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    days = int(os.environ.get("YMT_TOKEN_DEFAULT_DAYS", "365"))
    op.execute(tokens.update().values(expires_at=datetime.now(UTC) + timedelta(days=days)))
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index("uq_api_tokens_active_name", ["name"], unique=True,
                           sqlite_where=sa.text("revoked_at IS NULL"), postgresql_where=sa.text("revoked_at IS NULL"))
        batch.create_index("ix_api_tokens_previous_hash", ["previous_hash"])


def _users() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("divisions", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
        batch.add_column(sa.Column("sections", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
        batch.add_column(sa.Column("created_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=True))
        batch.add_column(sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for index, table in (("ix_login_events_at", "login_events"), ("ix_login_events_username", "login_events"),
                         ("ix_web_sessions_created", "web_sessions"), ("ix_web_sessions_user", "web_sessions"),
                         ("ix_password_history_user", "password_history")):
        op.drop_index(index, table)
    for table in ("login_events", "login_guards", "web_sessions", "password_history"):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        for column in ("totp_last_step", "totp_confirmed_at", "totp_secret", "created_by", "sections", "divisions",
                       "password_changed_at", "must_change_password"):
            batch.drop_column(column)
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_previous_hash")
        batch.drop_index("uq_api_tokens_active_name")
        for column in ("rotated_at", "previous_valid_until", "previous_hash", "sections", "divisions",
                       "last_used_address", "last_used_at", "expires_at", "owner"):
            batch.drop_column(column)
        batch.create_unique_constraint("uq_api_tokens_name", ["name"])
