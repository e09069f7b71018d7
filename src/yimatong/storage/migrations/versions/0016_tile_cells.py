"""the map's dot cells: per parcel what its dot depends on (`tile_marks`), per grid cell and zoom level the counts
of those dots (`tile_cells`), and the ledger position they are current for (`tile_cell_state`) — kept from the
events after it (parcels/cells.py), so that a city tile reads a few thousand cells instead of every parcel.

No existing data changes: the tables start empty and are filled from the data on first use (`ymt serve` starts
that in the background; until they are current, tiles are computed from the parcels as before).

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tile_marks",
        sa.Column("parcel_id", BigId, primary_key=True, autoincrement=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("plain", sa.Boolean(), nullable=False),
        sa.Column("division", sa.String(16), nullable=False),
        sa.Column("conf", sa.String(16), nullable=False),
        sa.Column("owner_role", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(40), nullable=True),
        sa.Column("m_col", sa.Integer(), nullable=False),
        sa.Column("m_row", sa.Integer(), nullable=False),
        sa.Column("g_col", sa.Integer(), nullable=False),
        sa.Column("g_row", sa.Integer(), nullable=False),
    )
    op.create_index("ix_tile_marks_project", "tile_marks", ["project_id"])
    op.create_index("ix_tile_marks_mixed", "tile_marks", ["plain", "parcel_id"])
    op.create_index("ix_tile_marks_m", "tile_marks", ["m_col", "m_row"])
    op.create_index("ix_tile_marks_g", "tile_marks", ["g_col", "g_row"])
    op.create_table(
        "tile_cells",
        sa.Column("tms", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("col", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("division", sa.String(16), nullable=False),
        sa.Column("conf", sa.String(16), nullable=False),
        sa.Column("owner_role", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("tile_col", sa.Integer(), nullable=False),
        sa.Column("tile_row", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("min_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tms", "level", "col", "row", "division", "conf", "owner_role", "stage"),
    )
    op.create_index("ix_tile_cells_tile", "tile_cells", ["tms", "level", "tile_col", "tile_row"])
    op.create_table(
        "tile_cell_state",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tile_cell_state")
    op.drop_table("tile_cells")
    op.drop_table("tile_marks")
