"""How many alerts a topic carries per day, measured from Kafka's offsets and timestamps.

No message is read: for each partition, the offset of the first message at or after a moment
(``offsets_for_times``) subtracted from the high watermark counts the messages since then.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

DAY_MS = 24 * 3600 * 1000
#: The rate per day is the mean over this many days (or over the topic's retention if shorter).
WEEK_DAYS = 7


@dataclass(frozen=True)
class TopicRate:
    """Alerts in the last day, and the mean per day over the last week."""

    last_day: int
    per_day: float


def _since(
    consumer: Consumer, partitions: list[TopicPartition], since_ms: int, timeout: float
) -> int:
    asked = [TopicPartition(p.topic, p.partition, since_ms) for p in partitions]
    found = consumer.offsets_for_times(asked, timeout=timeout)
    total = 0
    for partition, start in zip(partitions, found, strict=True):
        # -1: no message at or after the moment; everything is older.
        if start.offset >= 0:
            total += max(0, partition.offset - start.offset)
    return total


def topic_rates(
    consumer: Consumer,
    topics: Iterable[str],
    retention_days: dict[str, float],
    timeout: float = 5.0,
    now_ms: int | None = None,
) -> dict[str, TopicRate]:
    """Rates of the topics that exist in the cluster; missing ones are left out."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    metadata = consumer.list_topics(timeout=timeout).topics
    rates: dict[str, TopicRate] = {}
    for name in topics:
        if name not in metadata or metadata[name].error is not None:
            continue
        partitions = []
        for number in metadata[name].partitions:
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(name, number), timeout=timeout, cached=False
            )
            partitions.append(TopicPartition(name, number, high))
        days = max(1.0, min(float(WEEK_DAYS), retention_days.get(name, WEEK_DAYS)))
        last_day = _since(consumer, partitions, now_ms - DAY_MS, timeout)
        last_week = _since(consumer, partitions, now_ms - int(days * DAY_MS), timeout)
        rates[name] = TopicRate(last_day=last_day, per_day=last_week / days)
    return rates
