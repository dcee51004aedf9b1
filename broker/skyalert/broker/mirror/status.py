"""What each configured mirror is doing: its lag upstream and the last alert it brought in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.broker.archive.store import Alert
from skyalert.broker.core.settings import Mirror
from skyalert.broker.mirror.worker import sender_prefix, upstream_config


@dataclass(frozen=True)
class PartitionLag:
    """One upstream partition: how far the mirror's group is behind its high watermark."""

    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    high: int

    @property
    def lag(self) -> int:
        return self.high - (self.committed or 0)


@dataclass(frozen=True)
class LastAlert:
    """The newest alert this mirror put into the archive, and where upstream it came from."""

    id: str
    topic: str
    received_at: datetime
    upstream: str  # ``topic[partition]@offset``


def upstream_lag(mirror: Mirror, timeout: float = 5.0) -> list[PartitionLag]:
    """The mirror's committed offsets against upstream high watermarks, read upstream.

    The consumer only reads its group's offsets (it never subscribes), so the worker's own
    membership and assignment are untouched. Raises KafkaException if upstream cannot answer.
    """
    consumer = Consumer({**upstream_config(mirror), "enable.auto.offset.store": False})
    try:
        listing = consumer.list_topics(timeout=timeout)
        wanted = [
            TopicPartition(topic, p)
            for topic in sorted(mirror.topics)
            if topic in listing.topics and listing.topics[topic].error is None
            for p in sorted(listing.topics[topic].partitions)
        ]
        committed = consumer.committed(wanted, timeout=timeout) if wanted else []
        return [
            PartitionLag(
                tp.topic,
                tp.partition,
                tp.offset if tp.offset >= 0 else None,
                consumer.get_watermark_offsets(tp, timeout=timeout)[1],
            )
            for tp in committed
        ]
    finally:
        consumer.close()


def last_alert(session: Session, *, mirror: Mirror) -> LastAlert | None:
    """The newest archived alert of ``mirror`` (ids grow with time, so by id per topic)."""
    prefix = sender_prefix(mirror)
    row = session.execute(
        select(Alert.id, Alert.topic, Alert.received_at, Alert.sender)
        .where(Alert.topic.in_(set(mirror.topics.values())), Alert.sender.startswith(prefix))
        .order_by(Alert.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LastAlert(row.id, row.topic, row.received_at, row.sender.removeprefix(prefix))
