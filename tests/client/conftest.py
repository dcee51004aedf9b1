"""Fixtures of the client tests: a server whose discovery says PLAINTEXT."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import serving
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port
from support.client import ensure_catalog_topics
from support.kafka_acls import OPEN


@pytest.fixture(scope="session")
def client_settings(settings: Settings, kafka: LocalKafka) -> Settings:
    """The test stack as a local deployment: subscribers use the PLAINTEXT listener."""
    port = free_port()
    return settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{port}",
            "port": port,
            "kafka_client_bootstrap": kafka.listener_address(OPEN),
            "kafka_client_security_protocol": "PLAINTEXT",
        }
    )


@pytest.fixture(scope="session")
def server_url(client_settings: Settings) -> Iterator[str]:
    """The real app, served where its public URL says, with the catalog's topics in Kafka."""
    ensure_catalog_topics(client_settings)
    with serving(client_settings, client_settings.port) as url:
        yield url
