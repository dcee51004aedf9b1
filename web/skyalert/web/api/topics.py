"""``/api/v1/topics``: the topic catalog as JSON, open to everyone."""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import APIRouter, HTTPException

from skyalert.schemas.catalog import Topic
from skyalert.schemas.validation import SchemaRegistry
from skyalert.web.state import State

router = APIRouter(prefix="/api/v1", tags=["catalog"])


def topic_json(topic: Topic, registry: SchemaRegistry) -> dict[str, Any]:
    """The catalog entry, plus ``schema_id``: the ``$id`` new alerts are checked against."""
    schema_id = registry.resolve(topic.schema_ref) if topic.schema_ref else None
    return {**topic.model_dump(mode="json"), "namespace": topic.namespace, "schema_id": schema_id}


@router.get("/topics")
async def list_topics(state: State) -> dict[str, list[dict[str, Any]]]:
    """Every topic: name, title, mission, content type, schema, visibility, retention."""
    return {"topics": [topic_json(t, state.ingest.registry) for t in state.catalog.topics]}


@router.get("/topics/{topic}")
async def get_topic(topic: str, state: State) -> dict[str, Any]:
    """One topic; an unknown name answers 404 with the closest catalog names."""
    found = state.catalog.get(topic)
    if found is None:
        close = difflib.get_close_matches(topic, state.catalog.by_name.keys(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see /api/v1/topics"
        raise HTTPException(404, f"no topic named {topic!r}{hint}")
    return topic_json(found, state.ingest.registry)
