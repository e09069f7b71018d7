"""projects (division, id): the list filtered by division walks keyset pages without a sort

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_projects_division_id", "projects", ["division", "id"])
    op.create_index("ix_projects_year_id", "projects", ["year", "id"])


def downgrade() -> None:
    op.drop_index("ix_projects_year_id", "projects")
    op.drop_index("ix_projects_division_id", "projects")
