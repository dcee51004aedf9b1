"""Kafka clients that try our services' listener as any local process could: no login, or a
wrong one. Each returns what Kafka answered, for the test to assert."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

#: What librdkafka reports when a broker hangs up on a client that skipped SASL.
DISCONNECTED = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}


@dataclass
class Attempt:
    """What a client got: messages read (or delivery reports) and the errors it was told."""

    messages: list[Message] = field(default_factory=list)
    errors: list[KafkaError] = field(default_factory=list)
    #: The cluster answered a metadata request (the client got in).
    answered: bool = False

    @property
    def codes(self) -> set[int]:
        return {e.code() for e in self.errors}


def _quiet(config: dict[str, Any], attempt: Attempt) -> dict[str, Any]:
    return {**config, "error_cb": attempt.errors.append, "log_level": 0}


def read_attempt(config: dict[str, Any], topic: str, timeout: float = 20) -> Attempt:
    """Read ``topic`` from its start until a message arrives or Kafka refuses the client."""
    attempt = Attempt()
    consumer = Consumer(_quiet({**config, "group.id": f"intruder-{uuid.uuid4().hex}"}, attempt))
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + timeout
    try:
        while not attempt.messages and not attempt.errors:
            assert time.monotonic() < deadline, "Kafka neither answered nor refused"
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                attempt.messages.append(message)
    finally:
        consumer.close()
    return attempt


def produce_attempt(config: dict[str, Any], topic: str, value: bytes) -> Attempt:
    """Produce one message; ``errors`` holds the delivery failure (and others) if refused."""
    attempt = Attempt()
    producer = Producer(_quiet({**config, "message.timeout.ms": 5000}, attempt))

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is None:
            attempt.messages.append(message)
        else:
            attempt.errors.append(error)

    producer.produce(topic, value, on_delivery=delivered)
    assert producer.flush(30) == 0, "no delivery report within 30 s"
    return attempt


def login_attempt(config: dict[str, Any], timeout: float = 20) -> Attempt:
    """Ask for metadata until Kafka answers (``answered``) or refuses (``errors``)."""
    attempt = Attempt()
    admin = AdminClient(_quiet(config, attempt))
    deadline = time.monotonic() + timeout
    while not attempt.errors:
        assert time.monotonic() < deadline, "Kafka neither answered nor refused"
        try:
            attempt.answered = bool(admin.list_topics(timeout=1).brokers)
        except KafkaException:  # the refusal itself arrives through error_cb
            admin.poll(0.1)
        if attempt.answered:
            break
    return attempt
