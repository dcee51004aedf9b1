"""``/topics``: the topic catalog for people, with the measured alert rate of each topic."""

from __future__ import annotations

import difflib
from itertools import groupby

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from skyalert.broker.kafka.topic_rates import TopicRate
from skyalert.schemas.catalog import Topic
from skyalert.schemas.fields import example_alert, schema_fields
from skyalert.web.portal.archive_views import latest_alerts, readable_topics
from skyalert.web.portal.pages import Viewer, render
from skyalert.web.portal.topic_search import topic_matches
from skyalert.web.state import AppState, State

router = APIRouter(include_in_schema=False)

DAY_MS = 24 * 3600 * 1000


def alert_rates(state: AppState) -> dict[str, TopicRate] | None:
    """Measured rates of every alert topic (cached by the Kafka probe); None if Kafka is down."""
    return state.kafka.rates({t.name: t.retention_ms / DAY_MS for t in state.catalog.topics})


def by_mission(topics: tuple[Topic, ...]) -> list[tuple[str, list[Topic]]]:
    ordered = sorted(topics, key=lambda t: (t.mission.lower(), t.name))
    return [(mission, list(group)) for mission, group in groupby(ordered, key=lambda t: t.mission)]


@router.get("/topics", response_class=HTMLResponse)
async def topic_catalog(
    request: Request, state: State, viewer: Viewer, q: str = ""
) -> HTMLResponse:
    """The catalog by mission; ``q`` narrows it (JavaScript narrows it as you type)."""
    rates = await run_in_threadpool(alert_rates, state)
    topics = tuple(t for t in state.catalog.alert_topics if topic_matches(t, q))
    return render(
        request,
        "topics.html",
        missions=by_mission(topics),
        rates=rates,
        catalog=state.catalog,
        q=q,
        shown=len(topics),
        total=len(state.catalog.alert_topics),
    )


@router.get("/topics/{name}", response_class=HTMLResponse)
async def topic_detail(name: str, request: Request, state: State, viewer: Viewer) -> HTMLResponse:
    topic = state.catalog.get(name)
    if topic is None:
        close = difflib.get_close_matches(name, state.catalog.by_name.keys(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else " See the topic catalog."
        raise HTTPException(404, f"There is no topic named {name!r}.{hint}")
    rates = await run_in_threadpool(alert_rates, state)
    recent = None
    if topic in readable_topics(state, viewer):
        recent = await run_in_threadpool(latest_alerts, state, [topic.name])
    registry = state.ingest.registry
    schema_id = registry.resolve(topic.schema_ref) if topic.schema_ref else None
    fields = schema_fields(registry, schema_id) if schema_id else []
    return render(
        request,
        "topic.html",
        topic=topic,
        rate=None if rates is None else rates.get(topic.name),
        kafka_down=rates is None,
        schema_id=schema_id,
        fields=fields,
        example=example_alert(registry, schema_id) if schema_id else None,
        retention_days=topic.retention_ms / DAY_MS,
        recent=recent,
    )
