"""Webhook delivery that scales: a head per (subscription, ordering key) so that a claim reads only due heads
(the correlated NOT EXISTS claim was quadratic in the backlog), pause and secret rotation on subscriptions, the
creator's scope (sections, divisions) stored with a subscription, and the project's division on events for
district scope.

Existing data: every subscription keeps its role and gets an empty scope (the whole city), existing pending or
parked deliveries get their heads (the oldest undelivered delivery of each key), and events take the division of
their project by code.

Revision ID: 0006
Revises: 0009 (written on 0004)
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
# Written on 0004 as assigned; main meanwhile has 0009 on 0004, so on this branch (main merged in) it follows
# 0009 to keep one head. The lead re-chains the migrations of all branches at merge.
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE … ADD COLUMN, no batch copy: SQLite cannot drop (for a copy) a table that deliveries
    # reference while foreign keys are enforced, and copying the large tables would take long.
    op.add_column("subscriptions", sa.Column("previous_secret", sa.String(length=200), nullable=True))
    op.add_column("subscriptions", sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("subscriptions", sa.Column("sections", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column("subscriptions", sa.Column("divisions", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column("subscriptions", sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_subscriptions_ready", "subscriptions", ["active", "paused", "parked", "id"])

    op.create_table(
        "delivery_heads",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("subscription_id", BigId, nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "key", name="uq_delivery_heads_key"),
    )
    op.create_index("ix_delivery_heads_due", "delivery_heads", ["subscription_id", "next_attempt_at"])

    op.drop_index("ix_deliveries_due", "deliveries")  # claims no longer scan deliveries by state and time
    op.create_index("ix_deliveries_sub_state", "deliveries", ["subscription_id", "state", "seq"])
    # the head of each key: its oldest delivery not yet done
    op.execute(sa.text(
        "INSERT INTO delivery_heads (subscription_id, key, seq, next_attempt_at) "
        "SELECT d.subscription_id, COALESCE(d.code, ''), d.seq, d.next_attempt_at FROM deliveries d "
        "JOIN (SELECT subscription_id, COALESCE(code, '') AS k, MIN(seq) AS s FROM deliveries "
        "      WHERE state IN ('pending', 'parked') GROUP BY subscription_id, COALESCE(code, '')) m "
        "ON m.subscription_id = d.subscription_id AND m.s = d.seq"))

    op.add_column("events", sa.Column("division", sa.String(length=12), nullable=True))
    op.execute(sa.text("UPDATE events SET division = (SELECT projects.division FROM projects "
                       "WHERE projects.code = events.code) WHERE code IS NOT NULL"))


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 has it), no batch copy, for the same reasons.
    op.drop_column("events", "division")
    op.drop_index("ix_deliveries_sub_state", "deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.drop_index("ix_delivery_heads_due", "delivery_heads")
    op.drop_table("delivery_heads")
    op.drop_index("ix_subscriptions_ready", "subscriptions")
    for column in ("paused", "divisions", "sections", "previous_secret_until", "previous_secret"):
        op.drop_column("subscriptions", column)
