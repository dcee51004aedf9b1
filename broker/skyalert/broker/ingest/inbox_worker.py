"""``skyalert worker ingest``: the Kafka inboxes through the ingest pipeline, and the re-publisher.

A consumer group over every ``<namespace>.inbox``: several workers share its partitions. Each
poll batch is archived (and its refusals recorded) in one transaction, then produced or
dead-lettered, and only then are its offsets committed: a crash re-reads the batch, and
de-duplication makes the second pass harmless. A message that breaks its contract (or even
the parser) is dead-lettered like any other refusal and never blocks the ones behind it. When
the database or Kafka is away, the batch is rewound and retried with back-off instead.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import timedelta

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest import rejections
from skyalert.broker.ingest.pipeline import Accepted, IngestPipeline, Prepared, Submission
from skyalert.broker.ingest.reasons import Rejected
from skyalert.broker.ingest.republish import republish_pending
from skyalert.broker.kafka.config import consumer_config
from skyalert.broker.kafka.inboxes import (
    CONTENT_TYPE_HEADER,
    IDEMPOTENCY_HEADER,
    TOPIC_HEADER,
    inbox_topics,
    namespace_of_inbox,
)
from skyalert.broker.kafka.producer import DeliveryFailed
from skyalert.schemas.catalog import Catalog

log = logging.getLogger(__name__)

BATCH = 200
REPUBLISH_EVERY = 5.0
LIVENESS_EVERY = 10.0
PRUNE_EVERY = 3600.0
MAX_BACKOFF = 30.0
#: Errors that say nothing about the message: retry it rather than dead-letter it.
TRANSIENT = (DBAPIError, KafkaException, SkyalertError)


@dataclass
class IngestStats:
    accepted: int = 0
    repeats: int = 0
    refused: int = 0
    #: Batches retried because the database or Kafka failed.
    retries: int = 0

    def __str__(self) -> str:
        return (
            f"{self.accepted} accepted, {self.repeats} repeats, {self.refused} refused, "
            f"{self.retries} retries"
        )


def message_headers(message: Message) -> dict[str, str]:
    """A message's headers by lower-cased name, decoded leniently (a repeated routing header
    refuses the message: :func:`repeated_routing_header`)."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    out: dict[str, str] = {}
    for name, value in pairs:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""
        out.setdefault(name.lower(), text)
    return out


#: Headers that route or identify a message: a second copy makes it ambiguous.
ROUTING_HEADERS = (TOPIC_HEADER, CONTENT_TYPE_HEADER, IDEMPOTENCY_HEADER)


def repeated_routing_header(message: Message) -> str | None:
    """The first routing header the message carries more than once, if any."""
    raw = message.headers() or []
    names = [name.lower() for name, _ in (raw.items() if isinstance(raw, dict) else raw)]
    return next((name for name in ROUTING_HEADERS if names.count(name) > 1), None)


def submission_of(message: Message) -> Submission:
    """The pipeline's view of an inbox message; its sender is the inbox's namespace.

    Kafka does not tell consumers who produced a message, and a header saying so could be
    forged by anyone allowed to write to the inbox; so the sender is ``kafka:<namespace>``.
    """
    namespace = namespace_of_inbox(message.topic() or "") or ""
    headers = message_headers(message)
    return Submission(
        topic=headers.get(TOPIC_HEADER, ""),
        payload=message.value() or b"",
        sender=f"kafka:{namespace}",
        source="kafka",
        content_type=headers.get(CONTENT_TYPE_HEADER),
        idempotency_key=headers.get(IDEMPOTENCY_HEADER),
        namespace=namespace,
    )


class InboxWorker:
    """Topics read by a consumer group, each message through the pipeline, then committed.

    By default the inboxes of our own cluster; :class:`~skyalert.broker.mirror.worker` reads
    an upstream broker's topics with the same loop."""

    #: The re-publisher and the pruning of old refusals: once per deployment's ingest workers.
    chores = True

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        catalog: Catalog,
        group_id: str | None = None,
        *,
        consumer: Consumer | None = None,
        topics: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.catalog = catalog
        self.pipeline = IngestPipeline.build(settings, sessions, catalog)
        self.sender = self.pipeline.sender
        self.consumer = consumer or Consumer(
            consumer_config(settings, group_id or settings.ingest_group)
        )
        self.topics = topics or [t.name for t in inbox_topics(catalog, settings.inbox_partitions)]
        self.stats = IngestStats()

    def submission(self, message: Message) -> Submission:
        return submission_of(message)

    def ambiguity(self, message: Message) -> str | None:
        return repeated_routing_header(message)

    def run(self, stop: threading.Event, liveness: Liveness | None = None) -> IngestStats:
        self.consumer.subscribe(self.topics)
        log.info("%s reading %s", type(self).__name__, ", ".join(self.topics))
        backoff = 0.0
        next_chores = next_beat = 0.0
        next_prune = time.monotonic() + 60.0
        try:
            while not stop.is_set():
                messages = self.consumer.consume(BATCH, timeout=0.25)
                try:
                    if messages:
                        self.handle(messages)
                    backoff = 0.0
                except TRANSIENT as exc:
                    self.stats.retries += 1
                    backoff = min(MAX_BACKOFF, max(0.5, backoff * 2))
                    log.warning("ingest paused %.1f s, will retry the batch: %s", backoff, exc)
                    self.rewind(messages)
                    stop.wait(backoff)
                    continue
                now = time.monotonic()
                try:
                    if self.chores and now >= next_chores:
                        next_chores = now + REPUBLISH_EVERY
                        self.republish()
                    if self.chores and now >= next_prune:
                        next_prune = now + PRUNE_EVERY
                        self.prune()
                    if liveness is not None and now >= next_beat:
                        next_beat = now + LIVENESS_EVERY
                        liveness.beat(str(self.stats))
                except TRANSIENT as exc:
                    log.warning("ingest chores failed, will retry: %s", exc)
        finally:
            self.consumer.close()
            self.pipeline.close()
            if liveness is not None:
                liveness.gone()
        return self.stats

    def handle(self, messages: list[Message]) -> None:
        """Check every message, archive the batch and record its refusals in one transaction,
        then produce (or dead-letter) and only then commit the offsets."""
        prepared: list[Prepared] = []
        refusals: list[tuple[Submission, Rejected]] = []
        offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                log.warning("inbox read error: %s", error)
                continue
            submission = self.submission(message)
            try:
                prepared.append(self._prepare(submission, self.ambiguity(message)))
            except Rejected as rejected:
                refusals.append((submission, rejected))
            key = (message.topic() or "", message.partition() or 0)
            offsets[key] = max(offsets.get(key, -1), message.offset() or 0)
        pipeline = self.pipeline
        with self.sessions.begin() as session:
            outcomes = pipeline.store(session, prepared)
            accepted = []
            for item, outcome in zip(prepared, outcomes, strict=True):
                if isinstance(outcome, Rejected):
                    refusals.append((item.submission, outcome))
                else:
                    accepted.append((item, outcome))
            recorded = [(s, pipeline.record_refusal(session, s, r), r) for s, r in refusals]
        deliveries = self._send(accepted)
        dead_letters = [pipeline.dead_letter(*refusal).dead_letter for refusal in recorded]
        self.stats.refused += len(recorded)
        # Unacknowledged alerts are safe in the archive: the re-publisher sends them later.
        pipeline.acknowledged(deliveries)
        wait(dead_letters, timeout=self.settings.kafka_timeout * 2)
        for future in dead_letters:
            if not future.done():
                raise DeliveryFailed("a dead letter was not acknowledged in time")
            failure = future.exception()
            if failure is not None:
                raise failure
        if offsets:
            self.consumer.commit(
                offsets=[TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()],
                asynchronous=False,
            )

    def _send(self, accepted: list[tuple[Prepared, Accepted]]) -> dict[str, Future[Message]]:
        """Start the produces of the batch's new alerts (after its commit: archive first)."""
        deliveries: dict[str, Future[Message]] = {}
        for item, outcome in accepted:
            sent = self.pipeline.sent(outcome, item)
            if sent.delivery is not None:
                deliveries[sent.alert_id] = sent.delivery
                self.stats.accepted += 1
            else:
                self.stats.repeats += 1
        return deliveries

    def _prepare(self, submission: Submission, repeated: str | None) -> Prepared:
        if repeated is not None:
            raise Rejected(
                "ambiguous_headers",
                f"the message carries the `{repeated}` header more than once; "
                "send it once, so there is no doubt where and how it goes",
            )
        if not submission.topic:
            raise Rejected(
                "unknown_topic",
                f"inbox messages need a `{TOPIC_HEADER}` header naming the destination topic",
            )
        return self.pipeline.prepare(submission)

    def rewind(self, messages: list[Message]) -> None:
        """Seek back to the first message of the failed batch in each partition."""
        first: dict[tuple[str, int], int] = {}
        for message in messages:
            if message.error() is None:
                key = (message.topic() or "", message.partition() or 0)
                first[key] = min(first.get(key, message.offset() or 0), message.offset() or 0)
        for (topic, partition), offset in first.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # revoked meanwhile: its new owner re-reads it
                log.info("could not rewind %s[%d]: %s", topic, partition, exc)

    def republish(self) -> None:
        republish_pending(
            self.settings,
            self.sessions,
            self.sender,
            timedelta(seconds=self.settings.ingest_republish_after),
        )

    def prune(self) -> None:
        keep = timedelta(milliseconds=self.catalog.dead_letter.retention_ms)
        with self.sessions.begin() as session:
            gone = rejections.forget_older_than(session, keep)
        if gone:
            log.info("forgot %d rejection(s) older than %s", gone, keep)
