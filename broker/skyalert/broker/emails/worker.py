"""``skyalert worker email``: a Kafka consumer group that mails alerts to their subscribers.

One loop: refresh the active subscriptions (and the topics consumed), read a batch of alerts,
queue the rendered mails in the ledger and commit, only then commit the Kafka offsets; then
send what the ledger says is due. Run several workers: they share the consumer group, and the
ledger makes rebalances and duplicate deliveries harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from confluent_kafka import Consumer, KafkaException, Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.errors import DatabaseError, MailError
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.secrets import server_secret
from skyalert.broker.core.settings import Settings
from skyalert.broker.emails import ledger
from skyalert.broker.emails.matcher import Active, load_active, rows_for
from skyalert.broker.emails.render import MailContext
from skyalert.broker.emails.sender import Sender
from skyalert.broker.kafka.config import consumer_config
from skyalert.schemas.catalog import Catalog

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
BATCH = 500
POLL_SECONDS = 0.2
LIVENESS_SECONDS = 10.0
PURGE_SECONDS = 3600.0


def mail_context(settings: Settings) -> MailContext:
    return MailContext(settings.base_url, settings.mail_from, server_secret(settings))


@dataclass
class EmailWorker:
    settings: Settings
    sessions: sessionmaker[Session]
    catalog: Catalog
    liveness: Liveness | None = None
    active: list[Active] = field(default_factory=list)
    topics: frozenset[str] = frozenset()
    queued: int = 0
    sent: int = 0

    def __post_init__(self) -> None:
        self.ctx = mail_context(self.settings)
        self.sender = Sender(self.settings, self.sessions, self.ctx)
        self.consumer = Consumer(consumer_config(self.settings, self.settings.email_group))
        self._smtp_retry_at = 0.0
        self._smtp_failures = 0

    def refresh(self) -> None:
        with self.sessions() as session:
            self.active = load_active(session, self.catalog)
        topics = frozenset().union(*(a.topics for a in self.active)) & set(self.catalog.by_name)
        if topics != self.topics:
            self.topics = topics
            if topics:
                self.consumer.subscribe(sorted(topics))
            else:
                self.consumer.unsubscribe()
            log.info("consuming %s", ", ".join(sorted(topics)) or "nothing (no subscriptions)")

    def consume(self) -> int:
        """Read a batch, queue it in the ledger, then commit the offsets; returns rows queued."""
        if not self.topics:
            time.sleep(POLL_SECONDS)
            return 0
        messages = self.consumer.consume(BATCH, timeout=POLL_SECONDS)
        alerts: list[Message] = []
        for message in messages:
            error = message.error()
            if error is None:
                alerts.append(message)
            else:
                log.warning("Kafka: %s", error)
        if not alerts:
            return 0
        queued = self._queue(alerts)
        try:
            self.consumer.commit(asynchronous=False)  # only now: the ledger owns these alerts
        except KafkaException as exc:  # e.g. a rebalance: whoever reads them again adds nothing
            log.info("offsets not committed (%s); the ledger makes a re-read harmless", exc)
        log.info("%d alerts read, %d mails queued", len(alerts), queued)
        return queued

    def _queue(self, messages: list[Message]) -> int:
        for attempt in range(3):
            rows = rows_for(messages, self.active, self.catalog, self.ctx)
            try:
                with self.sessions.begin() as session:
                    return ledger.queue(session, rows)
            except IntegrityError:  # a subscription was deleted meanwhile: look again
                log.info("a subscription changed while queueing; retrying (%d)", attempt + 1)
                self.refresh()
        raise DatabaseError("subscriptions keep changing under the email worker; restart it")

    def send(self) -> None:
        if time.monotonic() < self._smtp_retry_at:
            return
        try:
            sent = self.sender.run_once()
        except MailError as exc:  # the server does not answer: mails wait in the ledger
            self._smtp_failures += 1
            delay = self.sender.backoff(self._smtp_failures - 1)
            self._smtp_retry_at = time.monotonic() + delay
            log.warning("%s; trying again in %.0f s", exc, delay)
        else:
            self._smtp_failures = 0
            if sent:
                self.sent += sent
                log.info("%d mails sent", sent)

    def run(self, stop: threading.Event) -> None:
        next_refresh = next_beat = next_purge = 0.0
        keep = timedelta(milliseconds=max(t.retention_ms for t in self.catalog.topics) * 2)
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_refresh:
                    self.refresh()
                    next_refresh = now + REFRESH_SECONDS
                self.queued += self.consume()
                self.send()
                if self.liveness is not None and now >= next_beat:
                    self.liveness.beat(f"{self.queued} queued, {self.sent} sent")
                    next_beat = now + LIVENESS_SECONDS
                if now >= next_purge:
                    with self.sessions.begin() as session:
                        ledger.forget_old(session, keep)
                    next_purge = now + PURGE_SECONDS
        finally:
            self.consumer.close()
            self.sender.close()
            if self.liveness is not None:
                self.liveness.gone()
