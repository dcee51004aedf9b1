"""Kafka trusts our tokens: a stock confluent-kafka client with only the documented settings.

librdkafka's ``oidc`` method fetches a token from our token endpoint (HTTP Basic), the local
Apache Kafka validates it through our JWKS (KIP-768), and the StandardAuthorizer applies the
ACLs our code keeps in sync.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from skyalert.auth.context import AuthContext
from skyalert.auth.directory import Directory
from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.heartbeat import heartbeat_message
from skyalert.broker.kafka.admin import sync_topics
from skyalert.broker.kafka.config import admin_config, producer_config
from skyalert.broker.kafka.inboxes import topics_to_sync
from skyalert.broker.kafka.kafka_node import LocalKafka
from skyalert.schemas.catalog import load_catalog
from support.auth import bad_tokens, get_token, kafka_refusals, make_credential, make_user

#: What we write where others read too must look like what belongs there: the public topic is
#: the heartbeat, and the restricted one gets its catalog example flagged as a test alert.
PUBLIC = load_catalog().heartbeat.name
RESTRICTED = "igwn.early_warning.gwalert"
GUANO = "gcn.notices.swift.bat.guano"


@pytest.fixture(scope="module")
def topics(settings: Settings) -> None:
    """The catalog's topics and the inboxes, as ``skyalert topics sync`` makes them."""
    sync_topics(AdminClient(admin_config(settings)), topics_to_sync(load_catalog(), 1))


def client_config(kafka: LocalKafka, app_url: str, client_id: str, secret: str) -> dict[str, Any]:
    """Exactly the client settings ops/kafka/README.md documents."""
    return {
        "bootstrap.servers": kafka.listener_address("SASL"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": client_id,
        "sasl.oauthbearer.client.secret": secret,
        "sasl.oauthbearer.token.endpoint.url": f"{app_url}/oauth2/token",
    }


def publish(settings: Settings, topic: str) -> bytes:
    """Our own services write over the PLAINTEXT listener (super user)."""
    catalog = load_catalog()
    if topic == PUBLIC:
        body = heartbeat_message(catalog.heartbeat)
        headers: list[tuple[str, str | bytes | None]] = [("content-type", b"application/json")]
    else:
        examples = resources.files("skyalert.schemas").joinpath("json", "examples")
        body = examples.joinpath(f"{topic}.example.json").read_bytes()
        headers = [
            ("alert-id", new_alert_id().encode()),
            ("content-type", b"application/json"),
            ("schema", str(catalog.by_name[topic].schema_ref).encode()),
            ("sender", b"tests"),
            ("test", b"1"),
        ]
    producer = Producer(producer_config(settings))
    producer.produce(topic, body, headers=headers)
    assert producer.flush(10) == 0
    return body


def read_one(config: dict[str, Any], topic: str, group: str, timeout: float = 30) -> Any:
    """First message or the first error the consumer reports."""
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                return message.error()
            return message.value()
        raise AssertionError(f"nothing from {topic} in {timeout} s")
    finally:
        consumer.close()


def test_stock_consumer_reads_public_topic(
    settings: Settings, app_url: str, kafka: LocalKafka, topics: None
) -> None:
    publish(settings, PUBLIC)
    client_id, secret = make_credential(settings, make_user(settings), "all")
    config = client_config(kafka, app_url, client_id, secret)
    value = read_one(config, PUBLIC, f"{client_id}-demo")
    assert isinstance(value, bytes), value
    assert "alert_datetime" in json.loads(value)


def test_restricted_topic_refused_until_granted_and_again_after_deletion(
    settings: Settings, app_url: str, kafka: LocalKafka, topics: None, directory: Directory
) -> None:
    publish(settings, RESTRICTED)
    user = make_user(settings)
    client_id, secret = make_credential(settings, user, "all")
    config = client_config(kafka, app_url, client_id, secret)
    refused = read_one(config, RESTRICTED, f"{client_id}-lvk")
    assert isinstance(refused, KafkaError)
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    directory.grant(user.email, "restricted.lvk_early", actor="test")
    consumer = Consumer(
        {**config, "group.id": f"{client_id}-lvk2", "auto.offset.reset": "earliest"}
    )
    try:
        consumer.subscribe([RESTRICTED])
        first = poll_one(consumer)
        assert first.error() is None

        # Deleting the credential drops its ACLs: this running consumer, whose token is still
        # valid, is refused from its next fetch on, not at token expiry.
        bearer = {"Authorization": f"Bearer {get_token(app_url, client_id, secret)}"}
        gone = httpx.delete(f"{app_url}/api/v1/credentials/{client_id}", headers=bearer)
        assert gone.status_code == 204
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            publish(settings, RESTRICTED)
            message = consumer.poll(0.5)
            if message is not None and (error := message.error()) is not None:
                assert error.code() in {
                    KafkaError.TOPIC_AUTHORIZATION_FAILED,
                    KafkaError.GROUP_AUTHORIZATION_FAILED,
                }
                break
        else:
            pytest.fail("the deleted credential kept reading the restricted topic")
    finally:
        consumer.close()


def poll_one(consumer: Consumer, timeout: float = 30) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            return message
    raise AssertionError(f"no message within {timeout} s")


def test_cannot_produce_outside_its_namespace(
    settings: Settings, app_url: str, kafka: LocalKafka, topics: None
) -> None:
    client_id, secret = make_credential(settings, make_user(settings, groups=["producers.gcn"]))
    config = client_config(kafka, app_url, client_id, secret)

    def produce(topic: str) -> tuple[KafkaError | None, Message]:
        outcome: list[tuple[KafkaError | None, Message]] = []
        producer = Producer({**config, "message.timeout.ms": 15000})
        producer.produce(topic, b"{}", on_delivery=lambda err, msg: outcome.append((err, msg)))
        producer.flush(20)
        assert outcome, f"no delivery report for {topic}"
        return outcome[0]

    error, written = produce("gcn.inbox")
    assert error is None
    # Take it out again: the ingest worker's tests read this inbox from the beginning.
    admin = AdminClient(admin_config(settings))
    topic, partition, offset = written.topic(), written.partition(), written.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    gone = TopicPartition(topic, partition, offset + 1)
    for future in admin.delete_records([gone]).values():
        future.result()
    for elsewhere in ("igwn.inbox", GUANO):  # another namespace; a public topic directly
        error, _ = produce(elsewhere)
        assert error is not None
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_consumer_groups_are_namespaced_by_client_id(
    settings: Settings, app_url: str, kafka: LocalKafka, topics: None
) -> None:
    publish(settings, PUBLIC)
    client_id, secret = make_credential(settings, make_user(settings))
    config = client_config(kafka, app_url, client_id, secret)
    error = read_one(config, PUBLIC, "someone-elses-group")
    assert isinstance(error, KafkaError)
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


@pytest.mark.parametrize(
    "state", ["expired", "tampered", "wrong_audience", "wrong_issuer", "unknown_key"]
)
def test_kafka_refuses_bad_tokens(
    settings: Settings, app_url: str, kafka: LocalKafka, forged: dict[str, str], state: str
) -> None:
    refused = kafka_refusals(kafka.listener_address("SASL"), forged[state])
    assert refused
    assert "SASL authentication error" in refused[0].str()


@pytest.fixture(scope="module")
def forged(settings: Settings, app_url: str) -> dict[str, str]:
    return bad_tokens(settings, app_url)


@pytest.fixture
def directory(settings: Settings) -> Iterator[Directory]:
    engine = make_engine(settings)
    yield AuthContext.build(settings, make_sessionmaker(engine), load_catalog()).directory
    engine.dispose()
