"""GCN Circulars: current text, versions, the number counter and the full-text vector.

Revision ID: circulars1
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import skyalert.broker.core.db

revision = "circulars1"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circulars",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("submitter", sa.String(length=800), nullable=False),
        sa.Column("sub", sa.String(length=40), nullable=True),
        sa.Column("submitted_how", sa.String(length=20), nullable=False),
        sa.Column("created_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("edited_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("edited_by", sa.String(length=800), nullable=True),
        sa.Column(
            "search_vector",
            sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_circulars")),
    )
    op.create_index(op.f("ix_circulars_created_at"), "circulars", ["created_at"], unique=False)
    op.create_index(op.f("ix_circulars_event_id"), "circulars", ["event_id"], unique=False)
    op.create_index(op.f("ix_circulars_sub"), "circulars", ["sub"], unique=False)
    op.create_index(
        "ix_circulars_search_vector",
        "circulars",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_table(
        "circular_versions",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("submitter", sa.String(length=800), nullable=False),
        sa.Column("created_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("edited_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("edited_by", sa.String(length=800), nullable=True),
        sa.Column("alert_id", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(
            ["number"],
            ["circulars.number"],
            name=op.f("fk_circular_versions_number_circulars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", "version", name=op.f("pk_circular_versions")),
    )
    counter = op.create_table(
        "circular_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circular_counter")),
    )
    op.bulk_insert(counter, [{"id": 1, "next_number": 1}])


def downgrade() -> None:
    op.drop_table("circular_counter")
    op.drop_table("circular_versions")
    op.drop_index("ix_circulars_search_vector", table_name="circulars")
    op.drop_index(op.f("ix_circulars_sub"), table_name="circulars")
    op.drop_index(op.f("ix_circulars_event_id"), table_name="circulars")
    op.drop_index(op.f("ix_circulars_created_at"), table_name="circulars")
    op.drop_table("circulars")
