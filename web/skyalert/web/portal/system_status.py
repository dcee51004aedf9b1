"""The state of a deployment as the public sees it: broker, database, workers, heartbeat age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import KafkaException

from skyalert.broker.core.db import check_database
from skyalert.broker.core.errors import DatabaseError
from skyalert.broker.core.liveness import instances
from skyalert.web.state import AppState

#: A worker that has not reported for this long is shown as stale. Workers report every ~10 s.
STALE_AFTER = 60.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Worker:
    kind: str
    host: str
    pid: int
    started_at: datetime
    age_seconds: float
    detail: str

    @property
    def ok(self) -> bool:
        return self.age_seconds < STALE_AFTER


@dataclass(frozen=True)
class SystemStatus:
    checks: list[Check]
    workers: list[Worker]
    #: Kinds ``skyalert up`` starts that have no live instance.
    missing: list[str]
    heartbeat_age: float | None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.missing and self.heartbeat_ok

    @property
    def heartbeat_ok(self) -> bool:
        return self.heartbeat_age is not None and self.heartbeat_age < STALE_AFTER

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
            "heartbeat_age_seconds": self.heartbeat_age,
            "workers": [
                {
                    "kind": w.kind,
                    "host": w.host,
                    "pid": w.pid,
                    "started_at": w.started_at.isoformat(),
                    "last_seen_seconds_ago": round(w.age_seconds, 1),
                    "ok": w.ok,
                    "detail": w.detail,
                }
                for w in self.workers
            ],
            "missing_workers": self.missing,
        }


def system_status(state: AppState) -> SystemStatus:
    """Ask Kafka and the database; blocking, so call it from a thread."""
    checks: list[Check] = []
    try:
        cluster = state.kafka.cluster_id()
        checks.append(Check("broker", True, f"Kafka cluster {cluster} answers"))
    except KafkaException as exc:
        checks.append(Check("broker", False, f"Kafka does not answer: {exc.args[0]}"))
    workers: list[Worker] = []
    try:
        check_database(state.engine)
        checks.append(Check("database", True, "the database answers"))
        now = datetime.now(UTC)
        workers = [
            Worker(
                kind=row.kind,
                host=row.host,
                pid=row.pid,
                started_at=row.started_at,
                age_seconds=max(0.0, (now - row.last_seen).total_seconds()),
                detail=row.detail,
            )
            for row in instances(state.sessions)
        ]
    except DatabaseError as exc:
        checks.append(Check("database", False, str(exc)))
    live = {w.kind for w in workers if w.ok}
    ages = [w.age_seconds for w in workers if w.kind == "heartbeat"]
    return SystemStatus(
        checks=checks,
        workers=workers,
        missing=[kind for kind in state.workers if kind not in live],
        heartbeat_age=min(ages) if ages else None,
    )
