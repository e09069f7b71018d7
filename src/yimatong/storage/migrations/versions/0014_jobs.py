"""import jobs and stored warnings: an import is a job whose rows are staged per batch (`import_job_rows`) and
then published; supervision warnings are stored once per database (`stored_warnings`) with the ledger position
and the day they are current for (`warning_state`), and brought up to date from the events after it.

No existing data changes: the tables start empty (warnings are computed on the first read).

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("lease", sa.String(64), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_to_publish", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_published", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phase_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_import_jobs_file", "import_jobs", ["kind", "sha256", "status"])
    op.create_table(
        "import_job_rows",
        sa.Column("job_id", sa.BigInteger(), sa.ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("row_no", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_import_job_rows_outcome", "import_job_rows", ["job_id", "outcome", "row_no"])
    op.create_table(
        "stored_warnings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("parcel_id", sa.BigInteger(), nullable=True),
        sa.Column("other_parcel_id", sa.BigInteger(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("division", sa.String(16), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("since_order", sa.Date(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("ord", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_stored_warnings_project", "stored_warnings", ["source", "project_id"])
    op.create_index("ix_stored_warnings_parcel", "stored_warnings", ["source", "parcel_id"])
    op.create_index("ix_stored_warnings_other", "stored_warnings", ["other_parcel_id"])
    op.create_index("ix_stored_warnings_code", "stored_warnings", ["source", "code"])
    op.create_index("ix_stored_warnings_kind", "stored_warnings", ["kind", "division"])
    op.create_index("ix_stored_warnings_order", "stored_warnings", ["rank", "since_order", "code", "parcel_id", "ord", "id"])
    op.create_table(
        "warning_state",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    # the rows exist from the start, so that an update locks one (an empty `seq`: never computed yet)
    op.bulk_insert(sa.table("warning_state", sa.column("key", sa.String), sa.column("value", sa.String)),
                   [{"key": k, "value": ""} for k in ("seq", "day", "layers", "config")])


def downgrade() -> None:
    op.drop_table("warning_state")
    op.drop_table("stored_warnings")
    op.drop_table("import_job_rows")
    op.drop_table("import_jobs")
