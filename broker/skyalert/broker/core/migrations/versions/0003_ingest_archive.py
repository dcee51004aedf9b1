"""Ingest and archive: alerts, their citations, refused messages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import skyalert.broker.core.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("schema_id", sa.String(length=255), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("event_time", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("ivorn", sa.String(length=512), nullable=True),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("ra", sa.Float(), nullable=True),
        sa.Column("dec", sa.Float(), nullable=True),
        sa.Column("ra_dec_error", sa.Float(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("original", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("topic", "dedupe_key", name="uq_alerts_dedupe"),
    )
    op.create_index("ix_alerts_topic_id", "alerts", ["topic", "id"], unique=False)
    op.create_index(op.f("ix_alerts_ivorn"), "alerts", ["ivorn"], unique=False)
    op.create_index(op.f("ix_alerts_dec"), "alerts", ["dec"], unique=False)
    op.create_index(op.f("ix_alerts_published_at"), "alerts", ["published_at"], unique=False)
    op.create_table(
        "alert_citations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=26), nullable=False),
        sa.Column("ivorn", sa.String(length=512), nullable=False),
        sa.Column("cite", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_citations_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_citations")),
    )
    op.create_index(
        op.f("ix_alert_citations_alert_id"), "alert_citations", ["alert_id"], unique=False
    )
    op.create_index(op.f("ix_alert_citations_ivorn"), "alert_citations", ["ivorn"], unique=False)
    op.create_table(
        "ingest_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("namespace", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_rejections")),
    )
    op.create_index(
        "ix_ingest_rejections_namespace_id", "ingest_rejections", ["namespace", "id"], unique=False
    )
    op.create_index(
        op.f("ix_ingest_rejections_received_at"),
        "ingest_rejections",
        ["received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ingest_rejections_received_at"), table_name="ingest_rejections")
    op.drop_index("ix_ingest_rejections_namespace_id", table_name="ingest_rejections")
    op.drop_table("ingest_rejections")
    op.drop_index(op.f("ix_alert_citations_ivorn"), table_name="alert_citations")
    op.drop_index(op.f("ix_alert_citations_alert_id"), table_name="alert_citations")
    op.drop_table("alert_citations")
    op.drop_index(op.f("ix_alerts_published_at"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_dec"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_ivorn"), table_name="alerts")
    op.drop_index("ix_alerts_topic_id", table_name="alerts")
    op.drop_table("alerts")
