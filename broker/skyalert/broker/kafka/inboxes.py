"""Kafka inboxes: one topic per producer namespace (``gcn.inbox``, ``igwn.inbox``…).

Publishers that prefer Kafka to HTTP produce there, naming the destination topic in a ``topic``
header; the ingest worker runs each message through the same pipeline as HTTP. Inboxes are
derived from the catalog (every namespace with an alert topic gets one), so ``topics sync``
creates them and a new namespace needs no extra entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.kafka.admin import TopicSpec
from skyalert.schemas.catalog import Catalog

SUFFIX = ".inbox"
#: Seven days: long enough to ride out a long ingest outage.
RETENTION_MS = 7 * 24 * 3600 * 1000
#: Headers an inbox message may carry.
TOPIC_HEADER = "topic"
CONTENT_TYPE_HEADER = "content-type"
IDEMPOTENCY_HEADER = "idempotency-key"


@dataclass(frozen=True)
class InboxTopic:
    namespace: str
    partitions: int

    @property
    def name(self) -> str:
        return inbox_name(self.namespace)

    def kafka_config(self) -> dict[str, str]:
        return {"retention.ms": str(RETENTION_MS), "cleanup.policy": "delete"}


def inbox_name(namespace: str) -> str:
    return namespace + SUFFIX


def namespace_of_inbox(topic: str) -> str | None:
    """``gcn`` for ``gcn.inbox``; None for anything that is not an inbox."""
    if topic.endswith(SUFFIX) and "." not in topic.removesuffix(SUFFIX):
        return topic.removesuffix(SUFFIX)
    return None


def inbox_topics(catalog: Catalog, partitions: int) -> tuple[InboxTopic, ...]:
    """An inbox for every namespace that has alert topics, in a stable order."""
    namespaces = sorted({topic.namespace for topic in catalog.alert_topics})
    clashes = [n for n in namespaces if catalog.get(inbox_name(n)) is not None]
    if clashes:
        raise ConfigError(
            f"catalog topics take the inbox names of {', '.join(clashes)}; rename them"
        )
    return tuple(InboxTopic(namespace, partitions) for namespace in namespaces)


def topics_to_sync(catalog: Catalog, inbox_partitions: int) -> list[TopicSpec]:
    """Every topic ``topics sync`` keeps in Kafka: the catalog's and the inboxes."""
    return [*catalog.topics, *inbox_topics(catalog, inbox_partitions)]
