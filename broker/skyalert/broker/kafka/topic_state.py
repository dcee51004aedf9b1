"""How each catalog topic looks in Kafka right now, next to what the catalog asks for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource

from skyalert.schemas.catalog import Topic


@dataclass(frozen=True)
class TopicState:
    """``partitions``/``retention_ms`` are Kafka's; None when the topic does not exist."""

    topic: Topic
    partitions: int | None
    retention_ms: int | None

    @property
    def exists(self) -> bool:
        return self.partitions is not None

    @property
    def in_sync(self) -> bool:
        return self.partitions == self.topic.partitions and (
            self.retention_ms == self.topic.retention_ms
        )


def topic_states(
    admin: AdminClient, topics: Iterable[Topic], timeout: float = 5.0
) -> list[TopicState]:
    """Kafka's partitions and retention of every topic (raises KafkaException if Kafka is down)."""
    wanted = list(topics)
    existing = admin.list_topics(timeout=timeout).topics
    present = [t for t in wanted if t.name in existing]
    retention: dict[str, int] = {}
    if present:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in present]
        for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
            try:
                entries = future.result()
            except KafkaException:
                continue
            if "retention.ms" in entries and entries["retention.ms"].value is not None:
                retention[resource.name] = int(entries["retention.ms"].value)
    return [
        TopicState(
            topic=t,
            partitions=len(existing[t.name].partitions) if t.name in existing else None,
            retention_ms=retention.get(t.name),
        )
        for t in wanted
    ]
