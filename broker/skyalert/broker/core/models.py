"""Tables of the broker side: the processes that make up a running deployment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from skyalert.broker.core.db import Base, UTCDateTime, utcnow


class ServiceInstance(Base):
    """A running worker (heartbeat, ingest, email …) that reports it is alive.

    The status page and ``/readyz`` read it to show each worker's age.
    """

    __tablename__ = "service_instances"
    __table_args__ = (UniqueConstraint("kind", "host", "pid", name="uq_service_instance"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    detail: Mapped[str] = mapped_column(String(500), default="")
