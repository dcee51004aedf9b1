"""Liveness and readiness probes for load balancers and ``skyalert up``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from skyalert.broker.core.db import check_database
from skyalert.broker.core.errors import DatabaseError
from skyalert.broker.core.liveness import last_seen
from skyalert.web.state import AppState, State

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving. Says nothing about its dependencies."""
    return {"status": "ok"}


def readiness(state: AppState) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        check_database(state.engine)
        checks["database"] = {"ok": True}
    except DatabaseError as exc:
        checks["database"] = {"ok": False, "error": str(exc)}
    try:
        checks["kafka"] = {"ok": True, "cluster_id": state.kafka.cluster_id()}
    except KafkaException as exc:
        checks["kafka"] = {
            "ok": False,
            "error": f"Kafka at {state.settings.kafka_bootstrap} does not answer: {exc}",
        }
    if checks["database"]["ok"]:
        seen = last_seen(state.sessions, "heartbeat")
        age = (datetime.now(UTC) - seen).total_seconds() if seen else None
        # Informational: the heartbeat worker is not needed to serve requests.
        checks["heartbeat"] = {"last_seen_seconds_ago": age}
    return checks


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """Ready when the database and Kafka both answer; 503 with the reason otherwise."""
    checks = await run_in_threadpool(readiness, state)
    ok = checks["database"]["ok"] and checks["kafka"]["ok"]
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
