"""Kafka admin helpers: wait for the cluster, sync the catalog's topics, count messages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from skyalert.broker.core.errors import KafkaUnavailable

# A single local node cannot hold more copies than itself; real clusters override this.
DEFAULT_REPLICATION = -1


class TopicSpec(Protocol):
    """What ``sync_topics`` needs of a topic: catalog entries and the ingest inboxes have it."""

    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...

    def kafka_config(self) -> dict[str, str]: ...


def wait_for_kafka(config: dict[str, Any], timeout: float) -> str:
    """Block until the cluster answers; return its cluster id, or raise KafkaUnavailable."""
    bootstrap = config["bootstrap.servers"]
    refused: list[KafkaError] = []
    # librdkafka would print every refused connection; we report once, below.
    options: dict[str, Any] = {**config, "log_level": 0, "error_cb": _keep_refusals(refused)}
    admin = AdminClient(options)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline and not refused:
        try:
            metadata = admin.list_topics(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
        except KafkaException as exc:
            last_error = exc
            admin.poll(0.1)  # serves error_cb: a refused login shows there
            continue
        if metadata.brokers:
            return str(metadata.cluster_id)
    if refused:
        raise KafkaUnavailable(
            f"Kafka at {bootstrap} refused our services' login as "
            f"User:{config.get('sasl.username')}: {refused[0].str()}. Check "
            "SKYALERT_KAFKA_USERNAME, SKYALERT_KAFKA_PASSWORD (unset: the local stack's, in "
            "<var folder>/kafka-services.secret) and SKYALERT_KAFKA_SASL_MECHANISM."
        )
    reason = f": {last_error.args[0]}" if last_error else ""
    raise KafkaUnavailable(
        f"Kafka at {bootstrap} did not answer within {timeout:g} s{reason}. "
        "Check SKYALERT_KAFKA_BOOTSTRAP, SKYALERT_KAFKA_SECURITY_PROTOCOL and that the "
        "cluster is running."
    )


def _keep_refusals(refused: list[KafkaError]) -> Callable[[KafkaError], None]:
    def on_error(error: KafkaError) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            refused.append(error)

    return on_error


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    reconfigured: dict[str, dict[str, tuple[str | None, str]]] = field(default_factory=dict)
    repartitioned: dict[str, tuple[int, int]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reconfigured or self.repartitioned)

    def lines(self, brief: bool = False) -> list[str]:
        """What changed, a line each; ``brief`` folds the topics created into one line."""
        out = [f"created {name}" for name in self.created]
        if brief and len(self.created) > 3:
            out = [f"created {len(self.created)} topics: {', '.join(self.created[:3])}, …"]
        for name, changes in self.reconfigured.items():
            for key, (old, new) in changes.items():
                out.append(f"updated {name}: {key} {old} -> {new}")
        for name, (old_n, new_n) in self.repartitioned.items():
            out.append(f"repartitioned {name}: {old_n} -> {new_n} partitions")
        out.extend(f"warning: {w}" for w in self.warnings)
        if not self.changed:
            out.append(f"all {len(self.unchanged)} topics up to date; nothing changed")
        return out


def sync_topics(
    admin: AdminClient,
    topics: Iterable[TopicSpec],
    *,
    replication_factor: int = DEFAULT_REPLICATION,
    timeout: float = 30.0,
    max_message_bytes: int | None = None,
) -> SyncReport:
    """Create missing topics, fix drifted configs, grow partitions; idempotent.
    ``max_message_bytes`` (:func:`~skyalert.broker.kafka.config.message_max_bytes`), when
    given, is kept on every topic so the largest alert ingest accepts always fits."""
    report = SyncReport()
    extra = {} if max_message_bytes is None else {"max.message.bytes": str(max_message_bytes)}
    wanted = {t.name: t for t in topics}
    existing = admin.list_topics(timeout=timeout).topics

    missing = [t for name, t in wanted.items() if name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    t.name,
                    num_partitions=t.partitions,
                    replication_factor=replication_factor,
                    config={**t.kafka_config(), **extra},
                )
                for t in missing
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, future in futures.items():
            future.result()
            report.created.append(name)

    present = [t for name, t in wanted.items() if name in existing]
    if present:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in present]
        described = admin.describe_configs(resources, request_timeout=timeout)
        alterations: list[ConfigResource] = []
        for resource, future in described.items():
            topic = wanted[resource.name]
            current = future.result()
            changes = {
                key: (current[key].value if key in current else None, value)
                for key, value in {**topic.kafka_config(), **extra}.items()
                if key not in current or current[key].value != value
            }
            if changes:
                report.reconfigured[topic.name] = changes
                alterations.append(
                    ConfigResource(
                        ConfigResource.Type.TOPIC,
                        topic.name,
                        incremental_configs=[
                            ConfigEntry(key, new, incremental_operation=AlterConfigOpType.SET)
                            for key, (_old, new) in changes.items()
                        ],
                    )
                )
        if alterations:
            for future in admin.incremental_alter_configs(alterations).values():
                future.result()

        grow: list[NewPartitions] = []
        for topic in present:
            have = len(existing[topic.name].partitions)
            if have < topic.partitions:
                report.repartitioned[topic.name] = (have, topic.partitions)
                grow.append(NewPartitions(topic.name, topic.partitions))
            elif have > topic.partitions:
                report.warnings.append(
                    f"{topic.name} has {have} partitions, the catalog asks for "
                    f"{topic.partitions}; Kafka cannot shrink a topic, left as is"
                )
        if grow:
            for future in admin.create_partitions(grow, request_timeout=timeout).values():
                future.result()

        changed = report.reconfigured.keys() | report.repartitioned.keys()
        report.unchanged = [t.name for t in present if t.name not in changed]
    return report


def message_counts(
    consumer: Consumer, topics: Iterable[str], timeout: float = 5.0
) -> dict[str, int]:
    """Messages currently retained per topic (high minus low watermark, over partitions).

    Topics missing from the cluster are left out of the result.
    """
    metadata = consumer.list_topics(timeout=timeout).topics
    counts: dict[str, int] = {}
    for name in topics:
        if name not in metadata or metadata[name].error is not None:
            continue
        total = 0
        for partition in metadata[name].partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(name, partition), timeout=timeout, cached=False
            )
            total += max(0, high - low)
        counts[name] = total
    return counts
