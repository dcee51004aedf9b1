"""The client through SASL/OAUTHBEARER: real credentials, real tokens, Kafka's real ACLs.

The test Kafka trusts tokens whose issuer is the stack's public URL (the default
``http://127.0.0.1:8000``), while the app listens on a free port: as behind a proxy. The stub
hands out the app's own discovery document with the address it is really reachable at.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import serving
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port
from skyalert.client import (
    AuthenticationError,
    AuthorizationError,
    Consumer,
    Producer,
    fetch_discovery,
)
from support.auth import make_credential, make_user
from support.client import JsonStub, ensure_catalog_topics, produce_alerts, within

PUBLIC = "gcn.notices.dsa110.frb"
RESTRICTED = "igwn.early_warning.gwalert"


def rewrite(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {key: rewrite(item, old, new) for key, item in value.items()}
    return value


@pytest.fixture(scope="module")
def sasl_server(settings: Settings, kafka: LocalKafka) -> Iterator[str]:
    """A server whose discovery sends subscribers to the SASL listener; yields its URL."""
    ensure_catalog_topics(settings)
    sasl = settings.model_copy(
        update={
            "kafka_client_bootstrap": kafka.listener_address("SASL"),
            "kafka_client_security_protocol": "SASL_PLAINTEXT",
        }
    )
    with serving(sasl) as url, JsonStub() as stub:
        document = httpx.get(f"{url}/.well-known/skyalert", timeout=10).json()
        stub.routes["/.well-known/skyalert"] = rewrite(document, settings.base_url, url)
        yield stub.url


@pytest.fixture(scope="module")
def subscriber(settings: Settings, sasl_server: str) -> tuple[str, str]:
    """An ordinary account's credential: every scope it holds, i.e. read:public."""
    return make_credential(settings, make_user(settings), "all")


def test_discovery_says_sasl(sasl_server: str, kafka: LocalKafka) -> None:
    found = fetch_discovery(sasl_server)
    assert found.uses_sasl
    assert found.sasl_mechanism == "OAUTHBEARER"
    assert found.bootstrap_servers == kafka.listener_address("SASL")


def test_consumer_reads_through_oauthbearer(
    sasl_server: str, subscriber: tuple[str, str], settings: Settings
) -> None:
    client_id, secret = subscriber
    ids = produce_alerts(settings, PUBLIC, [{"n": uuid.uuid4().hex}])
    reader = Consumer(client_id=client_id, client_secret=secret, server=sasl_server)
    assert reader.group_id == client_id
    try:
        # The default stall watch reads the heartbeat topic too: read:public covers it.
        with within(60):
            alert = next(a for a in reader.alerts(PUBLIC) if a.id == ids[0])
    finally:
        reader.close()
    assert alert.topic == PUBLIC


def test_a_restricted_topic_names_the_missing_scope(
    sasl_server: str, subscriber: tuple[str, str]
) -> None:
    client_id, secret = subscriber
    reader = Consumer(client_id, secret, sasl_server, group_id=f"{client_id}.lvk")
    try:
        with pytest.raises(AuthorizationError) as caught, within(60):
            next(iter(reader.alerts(RESTRICTED, stall_timeout=None)))
    finally:
        reader.close()
    assert caught.value.scope == "read:restricted.lvk_early"
    assert caught.value.topic == RESTRICTED
    assert "membership of 'restricted.lvk_early'" in str(caught.value)


def test_granted_group_opens_the_restricted_topic(sasl_server: str, settings: Settings) -> None:
    user = make_user(settings, groups=["restricted.lvk_early"])
    client_id, secret = make_credential(settings, user, "all")
    ids = produce_alerts(settings, RESTRICTED, [{"n": uuid.uuid4().hex}])
    reader = Consumer(client_id, secret, sasl_server)
    try:
        with within(60):
            alerts = reader.alerts(RESTRICTED, stall_timeout=None)
            alert = next(a for a in alerts if a.id == ids[0])
    finally:
        reader.close()
    assert alert.topic == RESTRICTED


def test_a_wrong_secret_raises_instead_of_waiting(
    sasl_server: str, subscriber: tuple[str, str]
) -> None:
    reader = Consumer(subscriber[0], "not-the-secret", sasl_server)
    try:
        with pytest.raises(AuthenticationError, match="refused the credential"), within(60):
            next(iter(reader.alerts(PUBLIC)))
    finally:
        reader.close()


def test_producing_outside_ones_namespace_names_the_scope(
    sasl_server: str, settings: Settings
) -> None:
    igwn = make_credential(settings, make_user(settings, groups=["producers.igwn"]), "all")
    producer = Producer(*igwn, sasl_server, message_timeout_ms=10_000)
    producer.produce(PUBLIC, b"{}")  # a gcn topic
    with pytest.raises(AuthorizationError) as caught:
        producer.flush(15)
    assert caught.value.scope == "publish:gcn"
    assert caught.value.topic == PUBLIC


def test_a_subscriber_cannot_produce_at_all(sasl_server: str, subscriber: tuple[str, str]) -> None:
    producer = Producer(*subscriber, sasl_server, message_timeout_ms=10_000)
    producer.produce("gcn.inbox", b"{}")
    with pytest.raises(AuthorizationError, match="publish:"):
        producer.flush(15)


def test_producer_writes_to_its_inbox(sasl_server: str, settings: Settings) -> None:
    user = make_user(settings, groups=["producers.gcn"])
    client_id, secret = make_credential(settings, user, "all")
    producer = Producer(client_id, secret, sasl_server)
    producer.produce("gcn.inbox", b"{}", headers=[("content-type", b"application/json")])
    assert producer.flush(15) == 0


def test_an_unreachable_token_endpoint_raises_after_a_while(
    sasl_server: str, subscriber: tuple[str, str]
) -> None:
    document = fetch_discovery(sasl_server).document
    closed = f"http://127.0.0.1:{free_port()}/oauth2/token"
    with JsonStub() as stub:
        stub.routes["/.well-known/skyalert"] = {**document, "token_endpoint": closed}
        reader = Consumer(*subscriber, stub.url)
        try:
            with pytest.raises(AuthenticationError) as caught, within(60):
                next(iter(reader.alerts(PUBLIC, stall_timeout=3.0)))
        finally:
            reader.close()
    assert "no access token for" in str(caught.value)
    assert closed in str(caught.value)
