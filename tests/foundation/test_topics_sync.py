"""`topics sync` against the real Apache Kafka: creates, reconfigures, and is idempotent."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.admin import SyncReport, message_counts, sync_topics
from skyalert.broker.kafka.config import admin_config, base_config, consumer_config
from skyalert.schemas.catalog import Topic
from skyalert.schemas.formats import ContentType


def make_topic(name: str, **changes: object) -> Topic:
    fields: dict[str, object] = {
        "name": name,
        "title": "t",
        "description": "d",
        "mission": "Test",
        "messenger": "none",
        "content_type": ContentType.VOEVENT,
        "producer_group": "producers.test",
        "partitions": 2,
        "retention_ms": 3_600_000,
    }
    fields.update(changes)
    return Topic.model_validate(fields)


def retention(admin: AdminClient, name: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result()
    return str(config["retention.ms"].value)


def test_sync_creates_then_changes_nothing(kafka_settings: Settings, unique_name: str) -> None:
    admin = AdminClient(admin_config(kafka_settings))
    topics = [make_topic(f"{unique_name}.a"), make_topic(f"{unique_name}.b", partitions=1)]

    first = sync_topics(admin, topics)
    assert sorted(first.created) == sorted(t.name for t in topics)
    assert first.changed
    metadata = admin.list_topics(timeout=10).topics
    assert len(metadata[f"{unique_name}.a"].partitions) == 2
    assert retention(admin, f"{unique_name}.a") == "3600000"

    second = sync_topics(admin, topics)
    assert not second.changed
    assert sorted(second.unchanged) == sorted(t.name for t in topics)
    assert second.lines() == ["all 2 topics up to date; nothing changed"]


def test_sync_repairs_drift(kafka_settings: Settings, unique_name: str) -> None:
    admin = AdminClient(admin_config(kafka_settings))
    sync_topics(admin, [make_topic(unique_name)])
    changed = make_topic(unique_name, partitions=3, retention_ms=7_200_000)

    report = sync_topics(admin, [changed])
    assert report.reconfigured == {unique_name: {"retention.ms": ("3600000", "7200000")}}
    assert report.repartitioned == {unique_name: (2, 3)}
    assert f"updated {unique_name}: retention.ms 3600000 -> 7200000" in report.lines()
    assert retention(admin, unique_name) == "7200000"
    assert len(admin.list_topics(timeout=10).topics[unique_name].partitions) == 3

    shrink = sync_topics(admin, [make_topic(unique_name, retention_ms=7_200_000)])
    assert not shrink.changed
    assert any("cannot shrink" in w for w in shrink.warnings)


def test_message_counts(kafka_settings: Settings, unique_name: str) -> None:
    admin = AdminClient(admin_config(kafka_settings))
    sync_topics(admin, [make_topic(unique_name)])
    producer = Producer(base_config(kafka_settings))
    for i in range(5):
        producer.produce(unique_name, f"m{i}".encode(), partition=i % 2)
    assert producer.flush(10) == 0
    consumer = Consumer(consumer_config(kafka_settings, unique_name))
    try:
        counts = message_counts(consumer, [unique_name, f"{unique_name}.missing"])
    finally:
        consumer.close()
    assert counts == {unique_name: 5}


def test_brief_report_folds_a_first_start_into_one_line() -> None:
    report = SyncReport(created=[f"t{n}" for n in range(200)], warnings=["w"])
    assert report.lines(brief=True) == ["created 200 topics: t0, t1, t2, …", "warning: w"]
    assert len(report.lines()) == 201
