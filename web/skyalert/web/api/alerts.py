"""The archive: ``GET /api/v1/alerts`` (search and replay) and ``GET /api/v1/alerts/{id}``.

Alerts of public topics are readable without logging in, as on the portal; restricted topics
need a token whose principal may read them (``read:<group>``, or ``admin``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from skyalert.auth.principal import Principal, may_view
from skyalert.auth.scopes import topic_read_scope
from skyalert.broker.archive import store as archive
from skyalert.broker.archive.alert_ids import is_alert_id
from skyalert.broker.archive.cone import Cone
from skyalert.broker.archive.store import Alert, AlertQuery, CitationLink
from skyalert.broker.ingest.dead_letters import utc_text
from skyalert.schemas.catalog import Topic
from skyalert.schemas.formats import FORMATS, ContentType, format_for_media_type, format_of
from skyalert.web.api.security import current_principal
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/api/v1", tags=["archive"])

JSON_TYPE = ContentType.JSON.value
#: Every media type an alert can be asked for in: JSON (its JSON form), or its own format's.
ANSWER_TYPES = frozenset(media for f in FORMATS for media in f.media_types)


async def optional_principal(request: Request, state: State) -> Principal | None:
    """The caller if credentials were sent (bad ones still answer 401), else None."""
    try:
        return await current_principal(request, state)
    except HTTPException as exc:
        if exc.status_code == 401 and "authorization" not in request.headers:
            return None
        raise


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def readable_topic(state: AppState, name: str, principal: Principal | None) -> Topic:
    topic = state.catalog.get(name)
    if topic is None:
        raise HTTPException(404, f"no topic named {name!r}; see /api/v1/topics")
    if not may_view(principal, topic):
        _forbid(topic, principal)
    return topic


def _forbid(topic: Topic, principal: Principal | None) -> None:
    need = topic_read_scope(topic)
    if principal is None:
        raise HTTPException(
            401,
            f"{topic.name} is restricted: send a bearer token with {need!r}",
            headers={"WWW-Authenticate": 'Bearer realm="skyalert"'},
        )
    raise HTTPException(
        403, f"{topic.name} is restricted to {topic.consumer_group}; your token lacks {need!r}"
    )


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def alert_summary(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "topic": alert.topic,
        "received_at": utc_text(alert.received_at),
        "event_time": utc_text(alert.event_time) if alert.event_time else None,
        "content_type": alert.content_type,
        "schema": alert.schema_id,
        "sender": alert.sender,
        "test": alert.test,
        "ivorn": alert.ivorn,
        "ra": alert.ra,
        "dec": alert.dec,
        "ra_dec_error": alert.ra_dec_error,
        "published": alert.published_at is not None,
        "url": f"/api/v1/alerts/{alert.id}",
        "alert": alert.document,
    }


def link_json(link: CitationLink) -> dict[str, Any]:
    return {
        "ivorn": link.ivorn,
        "cite": link.cite,
        "alert_id": link.alert_id,
        "topic": link.topic,
        "url": f"/api/v1/alerts/{link.alert_id}" if link.alert_id else None,
    }


@router.get("/alerts")
async def search_alerts(
    *,
    state: State,
    principal: MaybePrincipal,
    topic: Annotated[list[str] | None, Query(description="repeat for several topics")] = None,
    since: Annotated[datetime | None, Query(description="received at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="received at or before (ISO 8601)")] = None,
    ra: Annotated[float | None, Query(description="cone centre, ICRS [deg]")] = None,
    dec: Annotated[float | None, Query(description="cone centre, ICRS [deg]")] = None,
    radius: Annotated[float | None, Query(description="cone radius [deg]")] = None,
    test: Annotated[bool | None, Query(description="only test (true) or real (false)")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=archive.MAX_PAGE)] = 50,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    """Archived alerts, newest first (``order=asc`` to replay oldest first), paged by cursor.

    A cone search (``ra``, ``dec``, ``radius``) finds alerts whose error circle reaches the
    cone. Without ``topic``, every topic you may read.
    """
    if topic:
        topics = [readable_topic(state, name, principal).name for name in topic]
    else:
        topics = [t.name for t in state.catalog.alert_topics if may_view(principal, t)]
    cone = None
    if (ra, dec, radius) != (None, None, None):
        if ra is None or dec is None or radius is None:
            raise HTTPException(422, "a cone search needs all of ra, dec and radius")
        try:
            cone = Cone(ra, dec, radius)
        except ValueError as exc:
            raise HTTPException(422, f"invalid cone: {exc}") from exc
    if cursor is not None and not is_alert_id(cursor):
        raise HTTPException(422, "cursor is not an alert id; pass next_cursor unchanged")
    query = AlertQuery(topics, _utc(since), _utc(until), cone, test, cursor, limit, order)

    def run() -> archive.AlertPage:
        with state.sessions() as session:
            return archive.search(session, query)

    page = await run_in_threadpool(run)
    return {"alerts": [alert_summary(a) for a in page.alerts], "next_cursor": page.next_cursor}


def preferred_type(accept: str | None) -> str:
    """JSON, or another format's media type when the Accept header prefers one (q-values, then
    order)."""
    choices = []
    for position, part in enumerate((accept or "").split(",")):
        kind, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind in ("*/*", "application/*"):
            kind = JSON_TYPE
        if kind in ANSWER_TYPES and q > 0:
            choices.append((-q, position, kind))
    return min(choices)[2] if choices else JSON_TYPE


@router.get(
    "/alerts/{alert_id}",
    response_model=None,
    responses={
        200: {"content": {f.content_type.value: {} for f in FORMATS}},
        404: {"content": {"application/problem+json": {}}},
    },
)
async def get_alert(
    alert_id: str, request: Request, state: State, principal: MaybePrincipal
) -> Response | dict[str, Any]:
    """One alert as JSON with its citation links; or, when ``Accept`` asks for the alert's own
    format (``application/x-voevent+xml`` or ``application/xml``, ``text/plain`` for GCN Classic
    text, ``application/octet-stream`` for binary), the alert exactly as published."""

    def load() -> tuple[Alert | None, list[CitationLink], list[CitationLink]]:
        with state.sessions() as session:
            alert = archive.get(session, alert_id)
            if alert is None:
                return None, [], []
            return alert, archive.citations_of(session, alert), archive.cited_by(session, alert)

    alert, cites, cited_by = (
        await run_in_threadpool(load) if is_alert_id(alert_id) else (None, [], [])
    )
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r} in the archive")
    topic = state.catalog.get(alert.topic)
    if topic is not None and not may_view(principal, topic):
        _forbid(topic, principal)
    wanted = preferred_type(request.headers.get("accept"))
    asked = format_for_media_type(wanted)
    if asked is not None and asked.content_type is not ContentType.JSON:
        own = format_of(alert.content_type)
        if asked is not own:
            answers = sorted({own.content_type.value, JSON_TYPE})
            raise HTTPException(
                406, f"{alert.id} is a {own.label} alert; ask for {' or '.join(answers)}"
            )
        return Response(alert.original, media_type=wanted)
    body = alert_summary(alert)
    body["citations"] = [link_json(link) for link in cites]
    body["cited_by"] = [link_json(link) for link in cited_by]
    return body
