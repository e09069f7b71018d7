"""verifiable ledger: the hash algorithm recorded per database, the Merkle tree of the events (RFC 9162) built
for the existing events, signing keys, signed tree heads, witnesses and their cosignatures, the blob check
memory and verify cache, and the hash-chained read audit

Existing data keeps verifying: its hash is recorded as sha256 and its events as format 1 (their hash does not
cover confidentiality); events written from now on are format 2.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from yimatong.domain import merkle

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "ledger_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "ledger_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "tree_heads",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
    )
    op.create_table(
        "witnesses",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tree_cosignatures",
        sa.Column("size", sa.BigInteger(), sa.ForeignKey("tree_heads.size"), primary_key=True),
        sa.Column("witness", sa.String(100), sa.ForeignKey("witnesses.name"), primary_key=True),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tree_cosignatures_witness", "tree_cosignatures", ["witness", "size"])
    op.create_table(
        "blob_checks",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(100), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ledger_verify_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("head_seq", sa.BigInteger(), nullable=True),
        sa.Column("head_hash", sa.String(64), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("object", sa.String(300), nullable=False),
        sa.Column("interface", sa.String(16), nullable=False),
        sa.Column("address", sa.String(100), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_actor", "audit_records", ["actor", "seq"])
    op.create_index("ix_audit_action", "audit_records", ["action", "seq"])
    _record_existing()


def _record_existing() -> None:
    """A database with events was written with sha256 and format-1 hashes: record both, and build the tree
    (only subtrees of 4 leaves and more are stored; see ledger/merkle.py)."""
    conn = op.get_bind()
    settings = sa.table("ledger_settings", sa.column("key"), sa.column("value"))
    last = conn.execute(sa.text("SELECT MAX(seq) FROM events")).scalar() or 0
    conn.execute(settings.insert(), [{"key": "event_format_2_from", "value": str(last + 1)}])
    if last:
        conn.execute(settings.insert(), [{"key": "hash_alg", "value": "sha256"}])
    nodes = sa.table("merkle_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    known: dict[tuple[int, int], bytes] = {}
    size, after = 0, 0
    while True:
        rows = conn.execute(sa.text("SELECT seq, hash FROM events WHERE seq > :a ORDER BY seq LIMIT :n"),
                            {"a": after, "n": BATCH}).all()
        if not rows:
            break
        new = merkle.append("sha256", known, size, [merkle.leaf_bytes(h) for _, h in rows])
        # subtrees of 4 leaves and up are stored (ledger/merkle.py STORED_FROM = 2 when this was written)
        stored = [{"level": lv, "idx": i, "hash": h.hex()} for lv, i, h in new if lv >= 2]
        if stored:
            conn.execute(nodes.insert(), stored)
        size += len(rows)
        after = rows[-1][0]
        keep = set(merkle.frontier(size))
        known = {k: v for k, v in known.items() if k in keep}


def downgrade() -> None:
    for index, table in (("ix_audit_action", "audit_records"), ("ix_audit_actor", "audit_records"),
                         ("ix_tree_cosignatures_witness", "tree_cosignatures")):
        op.drop_index(index, table)
    for table in ("audit_records", "ledger_verify_runs", "blob_checks", "tree_cosignatures", "witnesses",
                  "tree_heads", "ledger_keys", "merkle_nodes", "ledger_settings"):
        op.drop_table(table)
