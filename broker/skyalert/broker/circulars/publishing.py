"""Circulars onto Kafka the way ingest sends alerts: archive first, produce second.

Each version is archived as an alert on ``gcn.circulars`` (and on ``gcn.circulars.<kind>`` when
the catalog has a sub-topic for its event's kind) in the same transaction that accepts it; the
produce follows the commit. A version whose produce Kafka never acknowledged is sent again by
the ingest worker's re-publisher (:mod:`skyalert.broker.ingest.republish`), so the archive,
the WebSocket live feed and the mail worker see circulars exactly like alerts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.archive.store import Alert
from skyalert.broker.circulars.events import event_of
from skyalert.broker.circulars.forms import gcn_json
from skyalert.broker.circulars.models import Circular, CircularVersion
from skyalert.broker.core.db import utcnow
from skyalert.broker.ingest.pipeline import IngestPipeline
from skyalert.broker.ingest.republish import send_alert
from skyalert.schemas.catalog import Topic
from skyalert.schemas.formats import ContentType

TOPIC = "gcn.circulars"


@dataclass(frozen=True)
class Published:
    number: int
    version: int
    #: Kafka acknowledged every message of this version (else the re-publisher sends it).
    acknowledged: bool


def topics_for(pipeline: IngestPipeline, circular: Circular) -> list[Topic]:
    """``gcn.circulars`` and, if the catalog has one, the sub-topic of the event's kind."""
    event = event_of(circular.subject)
    names = [TOPIC] + ([f"{TOPIC}.{event.kind}"] if event else [])
    return [t for t in (pipeline.catalog.get(n) for n in names) if t is not None]


def archive_version(
    session: Session, pipeline: IngestPipeline, circular: Circular, version: CircularVersion
) -> list[Alert]:
    """Archive this version's Kafka messages (unpublished) in the caller's transaction."""
    document = gcn_json(circular, circular.submitted_how)
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    digest = hashlib.sha256(payload).hexdigest()
    key = hashlib.sha256(f"circular:{circular.number}:{circular.version}".encode()).hexdigest()
    alerts = []
    for topic in topics_for(pipeline, circular):
        schema_id = pipeline.registry.resolve(topic.schema_ref or "")  # GCN's circulars schema
        violations = pipeline.registry.violations(schema_id, document)
        if violations:  # our own form breaking our own schema is a bug, never the author's
            raise AssertionError(f"circular {circular.number} breaks its schema: {violations}")
        alert = Alert(
            id=new_alert_id(),
            topic=topic.name,
            content_type=ContentType.JSON.value,
            schema_id=schema_id,
            sender=circular.sub or "skyalert.circulars",
            source=circular.submitted_how,
            received_at=utcnow(),
            event_time=version.edited_at or circular.created_at,
            test=False,
            ivorn=None,
            dedupe_key=f"key:{key}",
            idempotency_key=None,
            content_sha256=digest,
            ra=None,
            dec=None,
            ra_dec_error=None,
            document=document,
            original=payload,
            published_at=None,
        )
        archive.store(session, alert, ())
        alerts.append(alert)
    version.alert_id = alerts[0].id if alerts else None
    return alerts


def send(pipeline: IngestPipeline, alerts: list[Alert]) -> bool:
    """Produce committed messages and wait for Kafka; False leaves them to the re-publisher."""
    if not alerts:
        return True
    futures = {alert.id: send_alert(pipeline.sender, alert) for alert in alerts}
    return len(pipeline.confirm(futures)) == len(alerts)
