"""Refused messages (over HTTP or from an inbox), kept so publishers can see what went wrong."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from skyalert.broker.core.db import Base, UTCDateTime, utcnow
from skyalert.broker.ingest.reasons import Rejected

MAX_PAGE = 500


class Rejection(Base):
    __tablename__ = "ingest_rejections"
    __table_args__ = (Index("ix_ingest_rejections_namespace_id", "namespace", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: The namespace whose publishers see this rejection.
    namespace: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str] = mapped_column(String(249))
    sender: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


@dataclass(frozen=True)
class RefusedMessage:
    """What was refused, by whom, and where it was headed."""

    namespace: str
    topic: str
    sender: str
    source: str
    content_type: str
    size: int
    content_sha256: str
    received_at: datetime
    idempotency_key: str | None = None


def _text(value: str, limit: int | None = None) -> str:
    """Printable text for a column: headers may hold anything, and PostgreSQL refuses NUL."""
    clean = "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in value)
    return clean[:limit] if limit is not None else clean


def record(session: Session, message: RefusedMessage, rejected: Rejected) -> Rejection:
    row = Rejection(
        received_at=message.received_at,
        namespace=_text(message.namespace, 100),
        topic=_text(message.topic, 249),
        sender=_text(message.sender, 320),
        source=message.source,
        reason=rejected.reason,
        status=rejected.http_status,
        detail=_text(rejected.detail),
        violations=rejected.violations_json(),
        errors=rejected.errors_json(),
        content_type=_text(message.content_type, 100),
        size=message.size,
        content_sha256=message.content_sha256,
        idempotency_key=None
        if message.idempotency_key is None
        else _text(message.idempotency_key, 200),
    )
    session.add(row)
    return row


def recent(
    session: Session,
    namespaces: Collection[str],
    topic: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[Rejection]:
    """The newest rejections for these namespaces, optionally for one topic, before an id."""
    statement = select(Rejection).where(Rejection.namespace.in_(list(namespaces)))
    if topic is not None:
        statement = statement.where(Rejection.topic == topic)
    if before is not None:
        statement = statement.where(Rejection.id < before)
    limit = max(1, min(limit, MAX_PAGE))
    return list(session.scalars(statement.order_by(Rejection.id.desc()).limit(limit)))


def forget_older_than(session: Session, age: timedelta) -> int:
    result = session.execute(delete(Rejection).where(Rejection.received_at < utcnow() - age))
    return int(getattr(result, "rowcount", 0) or 0)
