"""The heartbeat: a small JSON message on the heartbeat topic every second, as GCN sends.

Subscribers watch it to know their connection works even when no alert is flowing.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer

from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import producer_config
from skyalert.schemas.catalog import Topic

log = logging.getLogger(__name__)

#: Refresh the database row this often, not every beat.
LIVENESS_EVERY = 10


def heartbeat_message(topic: Topic, now: datetime | None = None) -> bytes:
    when = (now or datetime.now(UTC)).astimezone(UTC)
    body = {
        "$schema": topic.schema_ref,
        "alert_datetime": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _report(error: KafkaError | None, _message: Message) -> None:
    if error is not None:
        log.warning("heartbeat not delivered: %s", error)


def run_heartbeat(
    settings: Settings, topic: Topic, stop: threading.Event, liveness: Liveness | None = None
) -> int:
    """Publish until ``stop`` is set; returns the number of heartbeats sent."""
    producer = Producer(producer_config(settings, linger_ms=0, compression_type="none"))
    headers: list[tuple[str, str | bytes | None]] = [
        ("content-type", b"application/json"),
        ("schema", (topic.schema_ref or "").encode()),
    ]
    sent = 0
    try:
        while not stop.is_set():
            producer.produce(
                topic.name, heartbeat_message(topic), headers=headers, on_delivery=_report
            )
            producer.poll(0)
            sent += 1
            if liveness is not None and sent % LIVENESS_EVERY == 1:
                liveness.beat(f"{sent} heartbeats sent")
            stop.wait(settings.heartbeat_interval)
    finally:
        producer.flush(5)
        if liveness is not None:
            liveness.gone()
    return sent
