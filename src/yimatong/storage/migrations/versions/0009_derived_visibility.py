"""derived rows take the confidentiality of their result: project_refs.result_id for references copied from a
result's data, and parcel.attached events of parcels submitted with a result get that result's confidentiality
(they were logged as internal, so a viewer saw a restricted result's parcels in the feed)

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

# the data keys the results service has always copied into references, and the kind each became
REF_KEYS = {"supervision_no": "supervision_no", "unit_no": "unit_no", "certificate_no": "certificate_no",
            "electronic_supervision_no": "supervision_no"}


def upgrade() -> None:
    op.add_column("project_refs", sa.Column("result_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                            nullable=True))
    op.create_index("ix_project_refs_result", "project_refs", ["result_id"])
    conn = op.get_bind()
    _link_refs(conn)
    _fix_parcel_events(conn)


def _link_refs(conn: sa.Connection) -> None:
    results = conn.execute(sa.text("SELECT id, project_id, data FROM results")).all()
    for rid, pid, data in results:
        values = data if isinstance(data, dict) else json.loads(data or "{}")
        for key, kind in REF_KEYS.items():
            raw = values.get(key)
            for v in raw if isinstance(raw, list) else [raw]:
                if isinstance(v, str | int) and str(v).strip():
                    conn.execute(sa.text("UPDATE project_refs SET result_id = :r WHERE project_id = :p AND kind = :k "
                                         "AND value = :v AND result_id IS NULL"),
                                 {"r": rid, "p": pid, "k": kind, "v": str(v).strip()[:100]})


def _fix_parcel_events(conn: sa.Connection) -> None:
    links = conn.execute(sa.text(
        "SELECT pp.parcel_id, r.confidentiality, r.created_role FROM project_parcels pp "
        "JOIN results r ON r.id = pp.result_id")).all()
    by_parcel = {pid: (conf, role) for pid, conf, role in links}
    if not by_parcel:
        return
    rows = conn.execute(sa.text("SELECT seq, data FROM events WHERE type = 'parcel.attached'")).all()
    for seq, data in rows:
        parcel_id = json.loads(data).get("parcel_id")
        if parcel_id in by_parcel:
            conf, role = by_parcel[parcel_id]
            conn.execute(sa.text("UPDATE events SET confidentiality = :c, owner_role = :o WHERE seq = :s"),
                         {"c": conf, "o": role, "s": seq})


def downgrade() -> None:
    op.drop_index("ix_project_refs_result", "project_refs")
    op.drop_column("project_refs", "result_id")
