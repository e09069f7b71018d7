"""reviews (candidate_code, state): an import looks up the open reviews of a candidate for every uncertain
row; without the index that is a scan of the whole queue per row (quadratic in a large import)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reviews_candidate", "reviews", ["candidate_code", "state"])


def downgrade() -> None:
    op.drop_index("ix_reviews_candidate", "reviews")
