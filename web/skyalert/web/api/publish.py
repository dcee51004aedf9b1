"""Publishing over HTTP: ``POST /api/v1/topics/{topic}/alerts``, and the publisher's rejections."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Annotated, Any

from confluent_kafka import KafkaException
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from skyalert.auth.principal import Principal
from skyalert.auth.scopes import publish_scope
from skyalert.broker.core.db import utcnow
from skyalert.broker.ingest import rejections
from skyalert.broker.ingest.dead_letters import utc_text
from skyalert.broker.ingest.pipeline import Accepted, Refused, Submission
from skyalert.broker.ingest.reasons import Rejected
from skyalert.broker.ingest.rejections import Rejection
from skyalert.schemas.catalog import Role, Topic
from skyalert.schemas.formats import FORMATS, ContentType
from skyalert.web.api.security import CurrentPrincipal
from skyalert.web.errors import problem
from skyalert.web.state import AppState, State

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["publishing"])

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/problem+json": {}}}
    for status, text in (
        (400, "Not well-formed JSON or XML (errors by line), or a bad idempotency key"),
        (401, "No or invalid bearer token"),
        (403, "The token lacks publish:<namespace> for this topic"),
        (404, "No such topic"),
        (409, "The idempotency key was used before for different content"),
        (413, "The alert is larger than SKYALERT_INGEST_MAX_BYTES"),
        (415, "The content type does not match the topic"),
        (422, "The alert breaks the topic's data contract (violations by JSON pointer)"),
        (429, "Too many alerts from this credential; see Retry-After"),
    )
}


async def read_body(request: Request, limit: int) -> tuple[bytes, int | None]:
    """The body, or its first ``limit`` + 1 bytes and its size when it is too long."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", int(declared)  # refused unread
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[: limit + 1], size
    return b"".join(chunks), None


def publishable(state: AppState, name: str, principal: Principal) -> Topic:
    topic = state.catalog.get(name)
    if topic is None:
        raise HTTPException(404, f"no topic named {name!r}; see /api/v1/topics")
    if topic.role is not Role.ALERTS:
        raise HTTPException(403, f"{topic.name} is written by skyalert itself, not by publishers")
    if not principal.may_publish(topic):
        raise HTTPException(
            403,
            f"publishing to {topic.name} needs the scope {publish_scope(topic.namespace)!r} "
            f"(membership of {topic.producer_group}); ask an admin for it",
        )
    return topic


def refused(request: Request, topic: str, outcome: Refused) -> Response:
    rejected = outcome.rejected
    extra: dict[str, object] = {"reason": rejected.reason, "topic": topic}
    if rejected.violations:
        extra["violations"] = rejected.violations_json()
    if rejected.errors:
        extra["errors"] = rejected.errors_json()
    return problem(request, rejected.http_status, rejected.detail, title="Alert refused", **extra)


@router.post(
    "/topics/{topic}/alerts",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                f.content_type.value: {
                    "schema": {"type": "object"}
                    if f.content_type is ContentType.JSON
                    else {"type": "string", "format": "binary"}
                }
                for f in FORMATS
            },
        }
    },
)
async def publish_alert(
    topic: str,
    request: Request,
    principal: CurrentPrincipal,
    state: State,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Publish one alert in its topic's format: JSON, VOEvent 2.0 XML, or a GCN Classic text
    (``text/plain``) or 160-byte binary (``application/octet-stream``) notice.

    Needs a bearer token with ``publish:<namespace>``. Answers 201 with the new alert's id, or
    200 with the original id for a repeat (same ``Idempotency-Key``, same VOEvent IVORN, or same
    content), which creates nothing. A refusal is problem+json listing every violation
    (``violations``: JSON pointer and message) or the syntax errors by line (``errors``).
    """
    found = publishable(state, topic, principal)
    rate = state.settings.rate_limit_publish
    state.auth.limits.hit(f"publish:{principal.subject}", rate, "alerts published")
    received = utcnow()
    payload, size = await read_body(request, state.settings.ingest_max_bytes)
    submission = Submission(
        topic=found.name,
        payload=payload,
        sender=principal.subject,
        source="http",
        content_type=request.headers.get("content-type"),
        idempotency_key=idempotency_key,
        received_at=received,
        size=size,
    )
    outcome = await ingest(state, submission)
    if isinstance(outcome, Refused):
        return refused(request, found.name, outcome)
    url = f"/api/v1/alerts/{outcome.alert_id}"
    body = {
        "id": outcome.alert_id,
        "topic": outcome.topic,
        "created": outcome.created,
        "published": outcome.published,
        "url": url,
    }
    return JSONResponse(
        body, status_code=201 if outcome.created else 200, headers={"Location": url}
    )


async def ingest(state: AppState, submission: Submission) -> Accepted | Refused:
    """Check (in a worker thread), archive (batched with concurrent requests), and wait for
    Kafka's acknowledgement; the ``published_at`` mark follows off the request path."""
    pipeline = state.ingest
    try:
        prepared = await run_in_threadpool(pipeline.prepare, submission)
        outcome = await asyncio.wrap_future(state.writer.submit(prepared))
    except Rejected as rejected:
        return await run_in_threadpool(pipeline.refuse, submission, rejected)
    if outcome.delivery is None:
        return outcome
    try:
        await asyncio.wait_for(
            asyncio.wrap_future(outcome.delivery), timeout=state.settings.kafka_timeout * 2
        )
    except (TimeoutError, KafkaException) as exc:  # archived: the re-publisher sends it later
        log.warning("alert %s not acknowledged by Kafka yet: %s", outcome.alert_id, exc)
        return outcome
    pipeline.marks.add([outcome.alert_id])
    return replace(outcome, published=True)


def rejection_json(row: Rejection) -> dict[str, Any]:
    return {
        "id": row.id,
        "received_at": utc_text(row.received_at),
        "topic": row.topic,
        "sender": row.sender,
        "source": row.source,
        "reason": row.reason,
        "status": row.status,
        "detail": row.detail,
        "violations": row.violations,
        "errors": row.errors,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.content_sha256,
        "idempotency_key": row.idempotency_key,
    }


@router.get("/rejections", responses={403: PROBLEM_RESPONSES[403]})
async def list_rejections(
    principal: CurrentPrincipal,
    state: State,
    topic: str | None = None,
    before: Annotated[int | None, Query(description="page: the last id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=rejections.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Recent refusals of alerts for your namespaces (HTTP and Kafka inbox), newest first.

    Needs ``publish:<namespace>``; shows what every publisher of those namespaces sent.
    """
    namespaces = {t.namespace for t in state.catalog.alert_topics if principal.may_publish(t)}
    if not namespaces:
        raise HTTPException(403, "listing rejections needs a publish:<namespace> scope")
    if topic is not None and topic.split(".", 1)[0] not in namespaces:
        raise HTTPException(403, f"you do not publish to {topic}'s namespace")

    def query() -> list[Rejection]:
        with state.sessions() as session:
            return rejections.recent(session, namespaces, topic, before, limit)

    rows = await run_in_threadpool(query)
    return {
        "rejections": [rejection_json(r) for r in rows],
        "next_before": rows[-1].id if len(rows) == limit else None,
    }
