"""The ledger sequencer: writers queue their events in `pending_events` (PostgreSQL), a single sequencer gives
them seq, prev_hash and hash in commit order and moves them into `events` (see docs/ARCHITECTURE.md, "The ledger
sequencer"). SQLite keeps its single writer and appends directly; the table exists there too (one schema).

Existing data: nothing to move — every existing event is sequenced already.

Revision ID: 0015
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # ids are reserved by the writer from this sequence (in emit order) before the insert: the order of one
    # transaction's events is then the order of their ids, whatever order a multi-row INSERT evaluates defaults in
    postgres = op.get_bind().dialect.name == "postgresql"  # SQLite has no sequences (and queues nothing)
    if postgres:
        op.execute(sa.schema.CreateSequence(sa.Sequence("pending_events_id_seq")))
    op.create_table(
        "pending_events",
        sa.Column("id", BigId, sa.Sequence("pending_events_id_seq"), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("confidentiality", sa.String(length=16), nullable=False),
        sa.Column("owner_role", sa.String(length=40), nullable=True),
        sa.Column("division", sa.String(length=12), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("pending_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("pending_events_id_seq")))
