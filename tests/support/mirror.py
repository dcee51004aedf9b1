"""Helpers for mirror tests: an upstream topic of its own, producing to it, a worker in a thread."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from skyalert.broker.core.settings import Mirror, Settings
from skyalert.broker.ingest.inbox_worker import IngestStats
from skyalert.broker.kafka.config import admin_config, producer_config, services_login
from skyalert.broker.mirror.worker import MirrorWorker
from skyalert.schemas.catalog import load_catalog
from support.ingest import in_thread


@contextmanager
def mirroring(settings: Settings, mirror: Mirror) -> Iterator[IngestStats]:
    """A mirror worker in a thread of the test, stopped (and checked to stop) on exit."""
    with in_thread(settings, lambda s: MirrorWorker(settings, s, load_catalog(), mirror)) as stats:
        yield stats


def own_cluster_mirror(settings: Settings, name: str, topics: dict[str, str]) -> Mirror:
    """A mirror of the test cluster itself, logged in with a username and password (as
    SCiMMA's SCRAM upstream): our own services' login."""
    return Mirror(
        name=name,
        bootstrap=str(settings.kafka_bootstrap),
        security_protocol="SASL_PLAINTEXT",
        config={k: v for k, v in services_login(settings).items() if k.startswith("sasl.")},
        topics=topics,
        start="earliest",
        group_id=f"test-{name}",
    )


def upstream_topic(settings: Settings, partitions: int = 1) -> str:
    """A topic of its own on the test cluster, standing in for GCN's."""
    name = f"upstream.{uuid.uuid4().hex[:10]}"
    admin = AdminClient(admin_config(settings))
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def produce(
    settings: Settings, topic: str, messages: list[tuple[bytes, str]], partition: int = -1
) -> None:
    """Each value with its ``alert-id`` header (into ``partition``, if given), flushed."""
    producer = Producer(producer_config(settings))
    for value, alert_id in messages:
        headers: list[tuple[str, str | bytes | None]] = [("alert-id", alert_id.encode())]
        producer.produce(topic, value, partition=partition, headers=headers)
    assert producer.flush(10) == 0
