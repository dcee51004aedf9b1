from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient

from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.liveness import Liveness, last_seen
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.heartbeat import run_heartbeat
from skyalert.broker.kafka.admin import sync_topics
from skyalert.broker.kafka.config import admin_config, consumer_config
from skyalert.schemas.catalog import load_catalog


def test_heartbeats_reach_a_plain_consumer(settings: Settings, unique_name: str) -> None:
    topic = load_catalog().heartbeat.model_copy(update={"name": unique_name})
    sync_topics(AdminClient(admin_config(settings)), [topic])
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    kind = f"hb-{unique_name[-8:]}"
    liveness = Liveness(sessions, kind)
    stop = threading.Event()
    sent: list[int] = []
    worker = threading.Thread(
        target=lambda: sent.append(run_heartbeat(settings, topic, stop, liveness))
    )
    started = datetime.now(UTC)
    worker.start()

    consumer = Consumer(consumer_config(settings, unique_name))
    consumer.subscribe([topic.name])
    received: list[Message] = []
    try:
        while len(received) < 3:
            message = consumer.poll(10)
            assert message is not None, "no heartbeat within 10 s"
            assert message.error() is None
            received.append(message)
        assert last_seen(sessions, kind) is not None
    finally:
        consumer.close()
        stop.set()
        worker.join(10)
    # Stopping takes the worker's row away: the status page must not show it as alive.
    assert last_seen(sessions, kind) is None
    engine.dispose()

    assert not worker.is_alive()
    assert sent[0] >= 3
    bodies = [json.loads(m.value() or b"") for m in received]  # no value: not JSON, fails
    times = [datetime.fromisoformat(b["alert_datetime"]) for b in bodies]
    assert all(b["$schema"] == topic.schema_ref for b in bodies)
    assert times == sorted(times)
    assert times[0] >= started.replace(microsecond=0)
    assert dict(received[0].headers() or [])["content-type"] == b"application/json"
