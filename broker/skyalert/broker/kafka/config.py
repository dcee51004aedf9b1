"""librdkafka configuration for every server-side Kafka client, built in one place.

Defaults follow gcn-kafka's spirit (fill what a user would otherwise forget) and every option
stays open: ``SKYALERT_KAFKA_CONFIG`` and keyword overrides win over the defaults. Every client
logs in as our services' principal (``SKYALERT_KAFKA_USERNAME``): no listener trusts anonymous
connections.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.secrets import kafka_services_password
from skyalert.broker.core.settings import Settings
from skyalert.client.config import dotted

KafkaConfig = dict[str, Any]
#: Room above twice the ingest limit: headers, record-batch framing, a dead letter's violations.
MESSAGE_HEADROOM = 64 * 1024


def message_max_bytes(settings: Settings) -> int:
    """The largest message skyalert writes to Kafka; our producers and every topic ``topics
    sync`` keeps allow it. Twice the ingest limit, because a dead letter carries the refused
    bytes in base64 (4/3 of them) in a JSON envelope; an accepted alert adds only headers."""
    return 2 * settings.ingest_max_bytes + MESSAGE_HEADROOM


def base_config(settings: Settings, **overrides: Any) -> KafkaConfig:
    """Options shared by producers, consumers and admin clients."""
    if not settings.kafka_bootstrap:
        raise ConfigError(
            "SKYALERT_KAFKA_BOOTSTRAP is not set: name your Kafka cluster (host:port), "
            "or run `skyalert up`, which starts a local one"
        )
    config: KafkaConfig = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": f"skyalert-{socket.gethostname()}-{os.getpid()}",
        "socket.keepalive.enable": True,
        "reconnect.backoff.max.ms": 10_000,
        **services_login(settings),
    }
    config.update(settings.kafka_config)
    config.update(dotted(overrides))
    return config


@dataclass(frozen=True)
class ServiceAccount:
    """Our services' Kafka principal (``User:<name>``) and its password."""

    name: str
    password: str = field(repr=False)

    @classmethod
    def of(cls, settings: Settings) -> ServiceAccount:
        return cls(settings.kafka_username, kafka_services_password(settings))

    def login(self, protocol: str = "SASL_PLAINTEXT", mechanism: str = "PLAIN") -> KafkaConfig:
        return {
            "security.protocol": protocol,
            "sasl.mechanisms": mechanism,
            "sasl.username": self.name,
            "sasl.password": self.password,
        }


def services_login(settings: Settings) -> KafkaConfig:
    """How our services authenticate: SASL as ``SKYALERT_KAFKA_USERNAME``, or only the
    protocol (SSL: certificates come in ``SKYALERT_KAFKA_CONFIG``)."""
    protocol = settings.kafka_security_protocol
    if not protocol.startswith("SASL"):
        return {"security.protocol": protocol}
    return ServiceAccount.of(settings).login(protocol, settings.kafka_sasl_mechanism)


def producer_config(settings: Settings, **overrides: Any) -> KafkaConfig:
    """Idempotent, fully acknowledged writes: an accepted alert is never lost or doubled."""
    defaults = {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "zstd",
        "message.timeout.ms": 30_000,
        "message.max.bytes": message_max_bytes(settings),
    }
    return {**defaults, **base_config(settings, **overrides)}


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> KafkaConfig:
    """Start at the oldest retained alert for a new group; commit only what was handled."""
    defaults = {
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }
    return {**defaults, **base_config(settings, **overrides)}


def admin_config(settings: Settings, **overrides: Any) -> KafkaConfig:
    return base_config(settings, **overrides)
