"""Archived alert -> Kafka message on its public topic, ``published_at`` marks, and the
re-publisher for crash leftovers.

Ingest archives first and produces second. An alert whose produce never got acknowledged (the
process died in between, or Kafka was down) keeps ``published_at`` empty; the ingest worker's
:func:`republish_pending` sends it again. A copy can therefore reach Kafka twice in rare
crashes, never zero times; the ``alert-id`` header lets every consumer drop the repeat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, wait
from datetime import timedelta

from confluent_kafka import Message
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.store import Alert
from skyalert.broker.core.periodic import Periodic
from skyalert.broker.kafka.producer import Headers, KafkaSender

log = logging.getLogger(__name__)


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
    sessions: sessionmaker[Session],
    sender: KafkaSender,
    older_than: timedelta,
    timeout: float,
    batch: int = 100,
) -> int:
    """Send alerts left unpublished for longer than ``older_than``; returns how many went out."""
    with sessions() as session:
        pending = archive.unpublished(session, older_than, batch)
    if not pending:
        return 0
    futures = {alert.id: send_alert(sender, alert) for alert in pending}
    done = acknowledged(futures, timeout)
    with sessions.begin() as session:
        archive.mark_published(session, done)
    if done:
        log.info("re-published %d alert(s) that Kafka had not acknowledged", len(done))
    return len(done)


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
