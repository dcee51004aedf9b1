"""Workers record that they are alive, so ``/readyz`` and the status page can tell their age."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.db import utcnow
from skyalert.broker.core.models import ServiceInstance


@dataclass
class Liveness:
    """One process's row in ``service_instances``; ``beat`` refreshes it."""

    sessions: sessionmaker[Session]
    kind: str
    host: str = socket.gethostname()
    pid: int = os.getpid()

    def beat(self, detail: str = "") -> None:
        with self.sessions.begin() as session:
            row = session.scalar(
                select(ServiceInstance).where(
                    ServiceInstance.kind == self.kind,
                    ServiceInstance.host == self.host,
                    ServiceInstance.pid == self.pid,
                )
            )
            if row is None:
                session.add(
                    ServiceInstance(kind=self.kind, host=self.host, pid=self.pid, detail=detail)
                )
            else:
                row.last_seen = utcnow()
                row.detail = detail

    def gone(self) -> None:
        with self.sessions.begin() as session:
            session.execute(
                delete(ServiceInstance).where(
                    ServiceInstance.kind == self.kind,
                    ServiceInstance.host == self.host,
                    ServiceInstance.pid == self.pid,
                )
            )


def last_seen(sessions: sessionmaker[Session], kind: str) -> datetime | None:
    """When any instance of ``kind`` last reported, or None if none ever did."""
    with sessions() as session:
        rows = session.scalars(
            select(ServiceInstance.last_seen)
            .where(ServiceInstance.kind == kind)
            .order_by(ServiceInstance.last_seen.desc())
            .limit(1)
        ).all()
    return rows[0] if rows else None


def forget_stale(sessions: sessionmaker[Session], older_than: timedelta) -> int:
    """Remove rows of processes that stopped reporting (crashed without saying goodbye)."""
    with sessions.begin() as session:
        result = session.execute(
            delete(ServiceInstance).where(ServiceInstance.last_seen < utcnow() - older_than)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def instances(sessions: sessionmaker[Session]) -> list[ServiceInstance]:
    """Every process that reports, by kind then host and pid (for the status page)."""
    with sessions() as session:
        rows = session.scalars(
            select(ServiceInstance).order_by(
                ServiceInstance.kind, ServiceInstance.host, ServiceInstance.pid
            )
        ).all()
        session.expunge_all()
    return list(rows)
