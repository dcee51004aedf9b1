"""The ingest pipeline, shared by HTTP publishing and the Kafka inboxes.

size limit -> route (topic exists, takes alerts, sender may write there) -> parse and validate
(the topic's data contract) -> normalise -> de-duplicate (idempotency key, else VOEvent IVORN,
else content) -> assign a time-ordered id -> archive (JSON form and original bytes) -> produce
to the public topic. Anything refused is recorded for its publishers and sent to the dead-letter
topic with the reason, so nothing is lost.

Archive first, produce second: the archive row is the durable record, and ``published_at`` is
set once Kafka acknowledged the message. If the process dies in between, the ingest worker's
re-publisher sends the alert later (see :mod:`skyalert.broker.ingest.republish`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import cast

from confluent_kafka import Message
from sqlalchemy import Table
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.archive.store import Alert, AlertCitation
from skyalert.broker.core.db import make_sessionmaker, unflushed_engine, utcnow
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest import dead_letters as deadletter
from skyalert.broker.ingest import rejections
from skyalert.broker.ingest.contract import CheckedAlert, check_alert
from skyalert.broker.ingest.reasons import Rejected
from skyalert.broker.ingest.rejections import RefusedMessage
from skyalert.broker.ingest.republish import PublishedMarks, acknowledged, send_alert
from skyalert.broker.ingest.schema_release import contract_registry
from skyalert.broker.kafka.config import producer_config
from skyalert.broker.kafka.producer import KafkaSender
from skyalert.schemas.catalog import Catalog, Role, Topic
from skyalert.schemas.validation import SchemaRegistry

log = logging.getLogger(__name__)

#: The archive's table, for inserts of plain rows (an ORM class maps it as a FromClause).
ALERTS = cast(Table, Alert.__table__)
COLUMNS = tuple(ALERTS.columns)
#: Printable ASCII, as for HTTP header values; long enough for a UUID or a hash.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass(frozen=True)
class Submission:
    """One message offered for publication, and who offered it."""

    topic: str
    payload: bytes
    #: The authenticated sender: a token's subject, or ``kafka:<namespace>`` for an inbox.
    sender: str
    source: str
    content_type: str | None = None
    idempotency_key: str | None = None
    #: For inboxes: the only namespace this message may publish to.
    namespace: str | None = None
    received_at: datetime = field(default_factory=utcnow)
    #: The full size when ``payload`` is only its first bytes (an over-long HTTP body).
    size: int | None = None

    @property
    def total_size(self) -> int:
        return self.size if self.size is not None else len(self.payload)


@dataclass(frozen=True)
class Accepted:
    alert_id: str
    topic: str
    #: False when this was a repeat of an alert already archived (nothing new was stored).
    created: bool
    #: The produce to the public topic; None for a repeat.
    delivery: Future[Message] | None = None
    #: Kafka acknowledged the alert (for a repeat: the original).
    published: bool = False


@dataclass(frozen=True)
class Refused:
    rejected: Rejected
    #: The dead letter's produce.
    dead_letter: Future[Message]


@dataclass(frozen=True)
class Prepared:
    """A submission that passed every check, as the archive row it becomes."""

    submission: Submission
    checked: CheckedAlert
    alert: Alert
    citations: list[tuple[str, str]]


class IngestPipeline:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        catalog: Catalog,
        sender: KafkaSender,
        *,
        registry: SchemaRegistry | None = None,
        marks: PublishedMarks | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.catalog = catalog
        self.sender = sender
        self.registry = registry or contract_registry(settings)
        #: Acknowledged alerts marked published in batches (see :meth:`acknowledged`).
        self.marks = marks or PublishedMarks(sessions)

    @classmethod
    def build(
        cls, settings: Settings, sessions: sessionmaker[Session], catalog: Catalog
    ) -> IngestPipeline:
        """A pipeline with its own producer (idempotent, ``acks=all``); ``close`` it after use."""
        # A lost mark costs a repeat on Kafka, never a loss: no need to wait for the disk.
        marks = PublishedMarks(make_sessionmaker(unflushed_engine(sessions.kw["bind"])))
        # No linger: a lone alert goes out at once; the sends of one archive batch (and those
        # queued while a request is in flight) share Kafka batches anyway.
        sender = KafkaSender(producer_config(settings, linger_ms=0))
        return cls(settings, sessions, catalog, sender, marks=marks)

    def close(self) -> None:
        self.marks.close()
        self.sender.close()
        marks_engine = self.marks.sessions.kw["bind"]
        if marks_engine is not self.sessions.kw["bind"]:
            marks_engine.dispose()

    def acknowledged(self, deliveries: dict[str, Future[Message]]) -> list[str]:
        """Wait for these produces; the acknowledged ones are marked published soon after."""
        done = acknowledged(deliveries, timeout=self.settings.kafka_timeout * 2)
        self.marks.add(done)
        return done

    def submit(self, submission: Submission) -> Accepted | Refused:
        """Run the pipeline up to the produce; do not wait for Kafka's acknowledgement."""
        try:
            prepared = self.prepare(submission)
            with self.sessions.begin() as session:
                [outcome] = self.store(session, [prepared])
            if isinstance(outcome, Rejected):
                raise outcome
        except Rejected as rejected:
            return self.refuse(submission, rejected)
        return self.sent(outcome, prepared)

    def sent(self, outcome: Accepted, prepared: Prepared) -> Accepted:
        """``outcome`` with its produce started, if it is a new alert."""
        if not outcome.created:
            return outcome
        return replace(outcome, delivery=send_alert(self.sender, prepared.alert))

    def publish(self, submission: Submission) -> Accepted | Refused:
        """Run the pipeline and wait for Kafka's acknowledgement (``Accepted.published``).

        An alert Kafka did not acknowledge in time stays archived and is re-published later.
        """
        outcome = self.submit(submission)
        if not isinstance(outcome, Accepted) or outcome.delivery is None:
            return outcome
        published = self.confirm({outcome.alert_id: outcome.delivery})
        return replace(outcome, published=bool(published))

    def confirm(self, deliveries: dict[str, Future[Message]]) -> list[str]:
        """Wait for these produces and mark the acknowledged alerts published."""
        done = acknowledged(deliveries, timeout=self.settings.kafka_timeout * 2)
        if done:
            with self.sessions.begin() as session:
                archive.mark_published(session, done)
        return done

    def prepare(self, submission: Submission) -> Prepared:
        """Check a submission and build its archive row (CPU only); raise Rejected."""
        topic, checked = self._check(submission)
        alert = Alert(
            id=new_alert_id(),
            topic=topic.name,
            content_type=checked.content_type.value,
            schema_id=checked.schema_id,
            sender=submission.sender,
            source=submission.source,
            received_at=submission.received_at,
            event_time=checked.event_time,
            test=checked.test,
            ivorn=checked.ivorn,
            dedupe_key=_dedupe_key(submission, checked),
            idempotency_key=submission.idempotency_key,
            content_sha256=checked.content_sha256,
            ra=checked.ra,
            dec=checked.dec,
            ra_dec_error=checked.ra_dec_error,
            document=checked.document,
            original=submission.payload,
            published_at=None,
        )
        citations = [(c["ivorn"], c["cite"]) for c in checked.citations]
        return Prepared(submission, checked, alert, citations)

    def store(self, session: Session, batch: list[Prepared]) -> list[Accepted | Rejected]:
        """Archive a batch in the caller's transaction: one insert for all of it, skipping
        repeats (the unique ``(topic, dedupe_key)``), which are answered with the original."""
        created = archive_batch(session, batch)
        repeats = [item.alert for item in batch if item.alert.id not in created]
        originals = archive.find_by_dedupe_keys(session, ((a.topic, a.dedupe_key) for a in repeats))
        outcomes: list[Accepted | Rejected] = []
        for item in batch:
            alert = item.alert
            if alert.id in created:
                outcomes.append(Accepted(alert.id, alert.topic, created=True))
                continue
            existing = originals.get((alert.topic, alert.dedupe_key))
            if existing is None:  # the original's transaction rolled back meanwhile: retry
                raise IntegrityError("a repeat whose original vanished", None, ValueError(alert.id))
            try:
                outcomes.append(self._repeat(item.submission, item.checked, existing))
            except Rejected as rejected:
                outcomes.append(rejected)
        return outcomes

    def _check(self, submission: Submission) -> tuple[Topic, CheckedAlert]:
        limit = self.settings.ingest_max_bytes
        if submission.total_size > limit:
            raise Rejected(
                "too_large",
                f"the alert has {submission.total_size} bytes or more; the limit is {limit}",
            )
        topic = self._route(submission)
        key = submission.idempotency_key
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise Rejected(
                "bad_idempotency_key",
                "an idempotency key is 1 to 200 printable ASCII characters without spaces",
            )
        try:
            checked = check_alert(topic, submission.payload, submission.content_type, self.registry)
        except Rejected:
            raise
        except Exception as exc:  # a parser bug must not stop the messages behind this one
            log.exception("could not check a message for %s", topic.name)
            raise Rejected(
                "unprocessable",
                f"the message could not be processed ({type(exc).__name__}); "
                "the operators have the original in the dead-letter topic",
            ) from exc
        return topic, checked

    def _route(self, submission: Submission) -> Topic:
        topic = self.catalog.get(submission.topic)
        if topic is None:
            raise Rejected(
                "unknown_topic", f"there is no topic {submission.topic!r}; see /api/v1/topics"
            )
        if topic.role is not Role.ALERTS:
            raise Rejected("not_publishable", f"{topic.name} is written by skyalert itself")
        if submission.namespace is not None and topic.namespace != submission.namespace:
            raise Rejected(
                "forbidden_topic",
                f"the {submission.namespace}.inbox may only publish to {submission.namespace}.* "
                f"topics, not to {topic.name}",
            )
        return topic

    def _repeat(self, submission: Submission, checked: CheckedAlert, existing: Alert) -> Accepted:
        if (
            submission.idempotency_key is not None
            and existing.content_sha256 != checked.content_sha256
        ):
            raise Rejected(
                "idempotency_conflict",
                f"the idempotency key was already used for alert {existing.id} with different "
                "content; use a new key for a new alert",
            )
        published = existing.published_at is not None or self.marks.pending(existing.id)
        return Accepted(existing.id, existing.topic, created=False, published=published)

    def refuse(self, submission: Submission, rejected: Rejected) -> Refused:
        """Record a refusal for the publishers and dead-letter the message."""
        with self.sessions.begin() as session:
            refused = self.record_refusal(session, submission, rejected)
        return self.dead_letter(submission, refused, rejected)

    def record_refusal(
        self, session: Session, submission: Submission, rejected: Rejected
    ) -> RefusedMessage:
        """Record a refusal for the publishers in the caller's transaction."""
        topic = self.catalog.get(submission.topic)
        refused = RefusedMessage(
            namespace=submission.namespace or submission.topic.split(".", 1)[0],
            topic=submission.topic,
            sender=submission.sender,
            source=submission.source,
            content_type=submission.content_type
            or (topic.content_type.value if topic is not None else ""),
            size=submission.total_size,
            content_sha256=hashlib.sha256(submission.payload).hexdigest(),
            received_at=submission.received_at,
            idempotency_key=submission.idempotency_key,
        )
        rejections.record(session, refused, rejected)
        return refused

    def dead_letter(
        self, submission: Submission, refused: RefusedMessage, rejected: Rejected
    ) -> Refused:
        """Send a recorded refusal, with the original bytes, to the dead-letter topic."""
        dead_letters = self.catalog.dead_letter
        value = deadletter.envelope(
            dead_letters.schema_ref or "",
            refused,
            rejected,
            submission.payload,
            max_original=self.settings.ingest_max_bytes,
        )
        future = self.sender.send(
            dead_letters.name, value, headers=deadletter.headers(refused, rejected)
        )
        log.info(
            "refused a message for %s from %s: %s",
            submission.topic,
            submission.sender,
            rejected.detail,
        )
        return Refused(rejected, future)


def archive_batch(session: Session, batch: list[Prepared]) -> set[str]:
    """Insert the batch's alerts and their citations with one statement each, skipping those
    whose ``(topic, dedupe_key)`` is archived already; returns the ids inserted."""
    if not batch:
        return set()
    rows = []
    for item in batch:
        alert = item.alert
        alert.sky_cell = archive.cell_of(alert.ra, alert.dec)
        alert.sky_tier = archive.tier_of(alert.sky_cell, alert.ra_dec_error)
        rows.append({column.key: getattr(alert, column.key) for column in COLUMNS})
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # On the table, not the class: the rows are plain values, and the ORM's bulk path cost
    # about 0.2 ms of CPU per transaction on top.
    statement = (
        insert(ALERTS)
        .on_conflict_do_nothing(index_elements=["topic", "dedupe_key"])
        .returning(ALERTS.c.id)
    )
    # The rows as parameters, not in the statement: it compiles once and stays cached, and
    # SQLAlchemy sends them as multi-row INSERTs ("insertmanyvalues") all the same.
    created = set(session.execute(statement, rows).scalars())
    citations = [
        {"alert_id": item.alert.id, "ivorn": ivorn, "cite": cite}
        for item in batch
        if item.alert.id in created
        for ivorn, cite in item.citations
    ]
    if citations:
        session.execute(sa_insert(AlertCitation), citations)
    return created


def _dedupe_key(submission: Submission, checked: CheckedAlert) -> str:
    if submission.idempotency_key is not None:
        kind, value = "key", submission.idempotency_key
    elif checked.ivorn is not None:
        kind, value = "ivorn", checked.ivorn
    else:
        return "sha256:" + checked.content_sha256
    return f"{kind}:" + hashlib.sha256(value.encode()).hexdigest()
