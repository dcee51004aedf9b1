"""Archived alert -> Kafka message on its public topic, ``published_at`` marks, and the
re-publisher for crash leftovers.

Ingest archives first and produces second. An alert whose produce never got acknowledged (the
process died in between, or Kafka was down) keeps ``published_at`` empty, and so does one whose
acknowledgement came but whose mark died with the process. The ingest workers'
:func:`republish_pending` looks for each on its topic first (by its key, from its arrival on)
and sends only those Kafka does not hold; the rows stay locked meanwhile, so two workers never
send the same one. A copy reaches Kafka twice only if the original produce is still in flight
(``SKYALERT_INGEST_REPUBLISH_AFTER`` seconds after it started); the ``alert-id`` header lets
every consumer drop such a repeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, wait
from datetime import datetime, timedelta

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.store import Alert
from skyalert.broker.core.periodic import Periodic
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import consumer_config
from skyalert.broker.kafka.producer import DeliveryFailed, Headers, KafkaSender

log = logging.getLogger(__name__)

#: Never commits: it only reads topics back by assignment.
REPUBLISH_GROUP = "skyalert-republisher"
#: Read from this long before the oldest pending alert's arrival: its produce came later, but
#: another host's clock may run behind.
CLOCK_SLACK = timedelta(minutes=1)
#: Answers to ``offsets_for_times`` worth asking again (a new topic, a broker restarting).
LEADER_MOVING = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)


def kafka_headers(alert: Alert) -> Headers:
    """The headers of an alert on its public topic (the names are a contract with clients)."""
    headers = [
        ("alert-id", alert.id.encode()),
        ("content-type", alert.content_type.encode()),
        ("schema", (alert.schema_id or "").encode()),
        ("sender", alert.sender.encode()),
        ("test", b"1" if alert.test else b"0"),
    ]
    if alert.idempotency_key is not None:
        headers.append(("idempotency-key", alert.idempotency_key.encode()))
    return headers


def send_alert(sender: KafkaSender, alert: Alert) -> Future[Message]:
    """Produce the alert as published (original bytes) to its public topic."""
    return sender.send(
        alert.topic, alert.original, key=alert.id.encode(), headers=kafka_headers(alert)
    )


def acknowledged(futures: dict[str, Future[Message]], timeout: float) -> list[str]:
    """Ids whose produce Kafka acknowledged within ``timeout`` seconds."""
    wait(list(futures.values()), timeout=timeout)
    done = []
    for alert_id, future in futures.items():
        if future.done() and future.exception() is None:
            done.append(alert_id)
        elif future.done():
            log.warning("alert %s not delivered yet: %s", alert_id, future.exception())
    return done


def republish_pending(
    settings: Settings,
    sessions: sessionmaker[Session],
    sender: KafkaSender,
    older_than: timedelta,
    batch: int = 100,
) -> int:
    """Mark published the alerts left unpublished for longer than ``older_than``: those Kafka
    holds already as they are, the others once re-sent and acknowledged; returns how many."""
    timeout = settings.kafka_timeout * 2
    with sessions.begin() as session:  # the rows stay locked until they are marked
        pending = archive.unpublished(session, older_than, batch, lock=True)
        if not pending:
            return 0
        held = on_kafka(settings, pending, timeout)
        futures = {a.id: send_alert(sender, a) for a in pending if a.id not in held}
        done = acknowledged(futures, timeout)
        archive.mark_published(session, [*held, *done])
    if held:
        log.info("found %d unmarked alert(s) on Kafka already: marked, not re-sent", len(held))
    if done:
        log.info("re-published %d alert(s) that Kafka had not acknowledged", len(done))
    return len(held) + len(done)


def on_kafka(settings: Settings, alerts: list[Alert], timeout: float) -> set[str]:
    """Ids of these alerts that their topics hold (keyed by alert id)."""
    since: dict[str, datetime] = {}
    for alert in alerts:
        since[alert.topic] = min(since.get(alert.topic, alert.received_at), alert.received_at)
    wanted = {alert.id.encode() for alert in alerts}
    consumer = Consumer(consumer_config(settings, REPUBLISH_GROUP))
    try:
        found: set[bytes] = set()
        for topic, start in since.items():
            found |= _keys_on(consumer, topic, start - CLOCK_SLACK, wanted, timeout)
    finally:
        consumer.close()
    return {key.decode() for key in found}


def _keys_on(
    consumer: Consumer, topic: str, since: datetime, wanted: set[bytes], timeout: float
) -> set[bytes]:
    """The keys in ``wanted`` among the messages ``topic`` got from ``since`` to now."""
    partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
    if not partitions:  # no such topic yet: nothing of ours is on it
        return set()
    stamp = int(since.timestamp() * 1000)
    starts = _offsets_for_times(
        consumer, [TopicPartition(topic, p, stamp) for p in partitions], timeout
    )
    ends: dict[int, int] = {}
    for start in starts:
        _low, high = consumer.get_watermark_offsets(start, timeout=timeout)
        if 0 <= start.offset < high:  # -1: nothing that recent in this partition
            ends[start.partition] = high
    consumer.assign([s for s in starts if s.partition in ends])
    found: set[bytes] = set()
    deadline = time.monotonic() + timeout
    while ends:
        if time.monotonic() > deadline:
            raise DeliveryFailed(f"could not read {topic} back to check for unmarked alerts")
        for message in consumer.consume(500, timeout=0.5):
            partition, offset = message.partition() or 0, message.offset() or 0
            if message.error() is not None or partition not in ends:
                continue
            if message.key() in wanted:
                found.add(message.key() or b"")
            if offset + 1 >= ends[partition]:
                del ends[partition]
    consumer.unassign()
    return found


def _offsets_for_times(
    consumer: Consumer, partitions: list[TopicPartition], timeout: float
) -> list[TopicPartition]:
    """``offsets_for_times``, asked again while a partition's leader is still being elected."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return list(consumer.offsets_for_times(partitions, timeout=timeout))
        except KafkaException as exc:
            code = exc.args[0].code()
            if code not in LEADER_MOVING or time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # back-off: nothing to wait on


class PublishedMarks:
    """Acknowledged alerts marked published in batches by one thread, off the request path.

    A mark lost in a crash costs a second copy on Kafka (the re-publisher sends the alert
    again after ``SKYALERT_INGEST_REPUBLISH_AFTER``), never a missing one. ``close`` writes what
    is left.
    """

    def __init__(self, sessions: sessionmaker[Session], interval: float = 0.2) -> None:
        self.sessions = sessions
        self.interval = interval
        self._ids: list[str] = []
        #: Taken by the flush in progress, not yet committed.
        self._flushing: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._ticker = Periodic("published-marks", interval, self.flush)
        self._ticker.start()

    def add(self, alert_ids: Iterable[str]) -> None:
        with self._lock:
            self._ids.extend(alert_ids)

    def pending(self, alert_id: str) -> bool:
        """Acknowledged by Kafka, but not yet marked in the archive."""
        with self._lock:
            return alert_id in self._flushing or alert_id in self._ids

    def flush(self) -> None:
        """Mark what was added so far; on a database error keep it for the next round."""
        with self._lock:
            ids, self._ids = self._ids, []
            self._flushing = frozenset(ids)
        if not ids:
            return
        try:
            with self.sessions.begin() as session:
                archive.mark_published(session, ids)
        except SQLAlchemyError as exc:
            log.warning("could not mark %d alert(s) published yet: %s", len(ids), exc)
            self.add(ids)
        finally:
            with self._lock:
                self._flushing = frozenset()

    def close(self) -> None:
        self._ticker.stop()
        self.flush()
