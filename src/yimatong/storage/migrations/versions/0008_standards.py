"""The bureau's standards: projects record the code-table edition their code was issued under (every existing
project: 2020, the tables the first version shipped) and their functional zone; cross-reference kinds of the
contract (`supervision_no` becomes `supply_supervision_no`, or `approval_supervision_no` for a 19-character
approval-batch number); every 不动产单元号 gets its 19-character 宗地代码 as a `parcel_code` ref, so that `q` finds the
project by it. Split children keep their parent's investment code: the unique index of active investment codes
excludes them.

Revision ID: 0008
Revises: 0009 (written on 0004; chained after main's 0009 when main was merged in)
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("zone", sa.String(32), nullable=True))
    op.add_column("projects", sa.Column("edition", sa.String(16), nullable=False, server_default="2020"))
    op.execute("UPDATE projects SET edition = '2020'")
    op.create_index("ix_projects_zone", "projects", ["zone", "id"])
    # split children keep their parent's investment code: the one-active-project rule excludes them
    op.drop_index("uq_projects_active_investment_code", "projects")
    _investment_index("status = 'active' AND investment_code IS NOT NULL AND parent_code IS NULL")
    _rename_kind("supervision_no", "approval_supervision_no", "length(value) = 19")
    _rename_kind("supervision_no", "supply_supervision_no", "1 = 1")
    op.execute("""
        INSERT INTO project_refs (project_id, kind, value)
        SELECT DISTINCT r.project_id, 'parcel_code', substr(r.value, 1, 19) FROM project_refs r
        WHERE r.kind = 'unit_no' AND length(r.value) = 28 AND NOT EXISTS (
            SELECT 1 FROM project_refs p WHERE p.project_id = r.project_id AND p.kind = 'parcel_code'
              AND p.value = substr(r.value, 1, 19))""")


def _investment_index(where: str) -> None:
    op.create_index("uq_projects_active_investment_code", "projects", ["investment_code"], unique=True,
                    sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def _rename_kind(old: str, new: str, condition: str) -> None:
    """Rename a ref kind; a row whose renamed twin exists already is dropped (the pair is unique)."""
    op.execute(f"""
        DELETE FROM project_refs WHERE kind = '{old}' AND {condition} AND EXISTS (
            SELECT 1 FROM project_refs t WHERE t.project_id = project_refs.project_id AND t.kind = '{new}'
              AND t.value = project_refs.value)""")
    op.execute(f"UPDATE project_refs SET kind = '{new}' WHERE kind = '{old}' AND {condition}")


def downgrade() -> None:
    op.execute("DELETE FROM project_refs WHERE kind = 'parcel_code'")
    for kind in ("supply_supervision_no", "approval_supervision_no"):
        op.execute(f"UPDATE project_refs SET kind = 'supervision_no' WHERE kind = '{kind}'")
    op.drop_index("ix_projects_zone", "projects")
    op.drop_index("uq_projects_active_investment_code", "projects")
    _investment_index("status = 'active' AND investment_code IS NOT NULL")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("edition")
        batch.drop_column("zone")
