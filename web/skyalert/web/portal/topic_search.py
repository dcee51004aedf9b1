"""The topic search of the portal's long topic lists (catalog, quickstart, email subscriptions)."""

from __future__ import annotations

from skyalert.schemas.catalog import Topic
from skyalert.schemas.formats import format_of


def search_text(topic: Topic) -> str:
    """What the topic search looks in: name, title, mission, instrument, messenger, format."""
    parts = (topic.name, topic.title, topic.mission, topic.instrument or "", topic.messenger)
    return " ".join((*parts, format_of(topic.content_type).name)).lower()


def topic_matches(topic: Topic, query: str) -> bool:
    """Every word of ``query`` occurs in the topic's search text (topic-search.js does the same)."""
    text = search_text(topic)
    return all(word in text for word in query.lower().split())


def format_label(topic: Topic) -> str:
    """How a topic's format is named on pages: "JSON", "VOEvent XML", "GCN Classic text"…"""
    return format_of(topic.content_type).label
