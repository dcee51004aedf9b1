"""Three Apache Kafka brokers, one killed with SIGKILL mid-burst: nothing acknowledged is lost."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigEntry, ConfigResource, PartitionMetadata
from sqlalchemy import select

from conftest import serving
from skyalert.auth.kafka_listener import oauth_listener
from skyalert.broker.archive.store import Alert
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import ServiceAccount, admin_config, consumer_config
from skyalert.broker.kafka.kafka_node import KafkaCluster
from skyalert.schemas.catalog import load_catalog
from support.ingest import GUANO_TOPIC, header, sync_catalog
from support.stream import guano, token

pytestmark = pytest.mark.slow

BURST = 1000
KILL_AFTER = 300
THREADS = 4


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, kafka_classpath_str: str, var_dir: Path
) -> Iterator[KafkaCluster]:
    sasl = oauth_listener(Settings(var_dir=var_dir))
    cluster = KafkaCluster(
        home=tmp_path_factory.mktemp("cluster"),
        classpath=kafka_classpath_str,
        services=ServiceAccount.of(Settings(var_dir=var_dir)),
        extra_listeners=sasl.listeners,
        extra_properties=sasl.properties,
        jvm_options=sasl.jvm_options,
    )
    cluster.start(timeout=180)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def cluster_settings(settings: Settings, cluster: KafkaCluster) -> Settings:
    on_cluster = settings.model_copy(update={"kafka_bootstrap": cluster.bootstrap})
    sync_catalog(on_cluster, load_catalog())
    return on_cluster


def test_catalog_topics_get_three_copies_two_in_sync(
    cluster: KafkaCluster, cluster_settings: Settings
) -> None:
    admin = AdminClient(admin_config(cluster_settings))
    assert {len(p.replicas) for p in _partitions(admin).values()} == {3}
    resource = ConfigResource(ConfigResource.Type.TOPIC, GUANO_TOPIC)
    assert _described(admin, resource)["min.insync.replicas"].value == "2"


def _partitions(admin: AdminClient) -> dict[int, PartitionMetadata]:
    """The topic's partitions, once the broker asked has learnt of the new topic."""
    deadline = time.monotonic() + 30
    while not (found := admin.list_topics(GUANO_TOPIC, timeout=10).topics[GUANO_TOPIC].partitions):
        assert time.monotonic() < deadline, f"{GUANO_TOPIC} has no partitions after 30 s"
        time.sleep(0.2)
    return dict(found)


def _described(admin: AdminClient, resource: ConfigResource) -> dict[str, ConfigEntry]:
    """The topic's configuration; the broker asked may not have learnt of a new topic yet
    (its metadata reaches the brokers one by one), so an unknown topic is asked again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return dict(admin.describe_configs([resource])[resource].result())
        except KafkaException as exc:
            unknown = exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            if not unknown or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _publish(url: str, bearer: str, marker: str, answers: list[tuple[int, str]]) -> None:
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {bearer}"}) as c:
        for n in range(BURST // THREADS):
            response = c.post(
                f"/api/v1/topics/{GUANO_TOPIC}/alerts", json=guano(f"{marker}-{n}-{uuid.uuid4()}")
            )
            ok = response.status_code == 201
            answers.append((response.status_code, response.json()["id"] if ok else response.text))


def _ids_on_topic(settings: Settings, wanted: set[str]) -> Counter[str]:
    consumer = Consumer(consumer_config(settings, uuid.uuid4().hex))
    partitions = consumer.list_topics(GUANO_TOPIC, timeout=10).topics[GUANO_TOPIC].partitions
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(GUANO_TOPIC, p))[1] for p in partitions
    }
    consumer.assign([TopicPartition(GUANO_TOPIC, p, OFFSET_BEGINNING) for p in partitions])
    seen: Counter[str] = Counter()
    done: set[int] = set()
    for _ in range(100_000):
        if len(done) == len(partitions):
            break
        message = consumer.poll(1.0)
        if message is None or message.error() is not None:
            continue
        alert_id = (header(message, "alert-id") or b"").decode()
        if alert_id in wanted:
            seen[alert_id] += 1
        partition, offset = message.partition(), message.offset()
        assert partition is not None
        assert offset is not None
        if offset + 1 >= ends[partition]:
            done.add(partition)
    consumer.close()
    return seen


def test_broker_killed_mid_burst_loses_and_duplicates_nothing(
    cluster: KafkaCluster, cluster_settings: Settings
) -> None:
    answers: list[tuple[int, str]] = []
    with serving(cluster_settings) as url:
        bearer = token(cluster_settings, url, groups=["producers.gcn"])
        marker = uuid.uuid4().hex[:8]
        threads = [
            threading.Thread(target=_publish, args=(url, bearer, f"{marker}{i}", answers))
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        while len(answers) < KILL_AFTER and any(t.is_alive() for t in threads):
            threads[0].join(0.05)
        victim = cluster.nodes[1]
        victim.kill()
        for thread in threads:
            thread.join(300)
    cluster.restart(1)
    accepted = {alert_id for status, alert_id in answers if status == 201}
    refused = Counter(status for status, _ in answers if status != 201)
    print(f"published {len(answers)}, acknowledged {len(accepted)}, refused {dict(refused)}")
    assert len(answers) == BURST
    assert set(refused) <= {503}, refused  # never a 500 or a hang
    seen = _ids_on_topic(cluster_settings, accepted)
    lost = accepted - set(seen)
    duplicated = {i: n for i, n in seen.items() if n > 1}
    print(f"lost {len(lost)}, duplicated {len(duplicated)}")
    assert not lost
    assert not duplicated
    engine = make_engine(cluster_settings)
    try:
        with make_sessionmaker(engine)() as session:
            archived = set(session.scalars(select(Alert.id).where(Alert.id.in_(accepted))))
    finally:
        engine.dispose()
    assert archived == accepted
