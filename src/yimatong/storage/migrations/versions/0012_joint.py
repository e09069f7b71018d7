"""joint review (会签): reviews and their opinions by section; suspensions of a stage's clock (补正, 听证, 公示);
the registration readiness last announced per project (the sections tokens and users carry came with 0005)

Existing data stays valid: no review means a stage is set done as before.

Revision ID: 0012
Revises: 0015
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0015"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "joint_reviews",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("projects.id"),
                  nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sections", sa.JSON, nullable=False),
        sa.Column("due", sa.String(10)),
        sa.Column("due_given", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.Text),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_joint_reviews_project", "joint_reviews", ["project_id", "stage", "status"])
    op.create_table(
        "joint_opinions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("joint_reviews.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("section", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("conditions", sa.Text),
        sa.Column("result_ids", sa.JSON, nullable=False),
        sa.Column("signed_by", sa.String(100)),
        sa.Column("signed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("review_id", "section", name="uq_joint_opinions_section"),
    )
    op.create_table(
        "stage_suspensions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("projects.id"),
                  nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start", sa.String(10), nullable=False),
        sa.Column("end", sa.String(10)),
        sa.Column("note", sa.Text),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stage_suspensions_project", "stage_suspensions", ["project_id", "stage"])
    op.create_table(
        "registration_states",
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("projects.id"),
                  primary_key=True),
        sa.Column("ready", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registration_states")
    op.drop_index("ix_stage_suspensions_project", "stage_suspensions")
    op.drop_table("stage_suspensions")
    op.drop_table("joint_opinions")
    op.drop_index("ix_joint_reviews_project", "joint_reviews")
    op.drop_table("joint_reviews")
